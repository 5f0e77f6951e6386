"""The conformance suite every CRM adapter must pass.

Use it by subclassing `CRMConformance` in a test module whose class name starts with
`Test`, and providing three hooks:

    class TestMyCRMConformance(CRMConformance):
        def make_crm(self, tmp_path):            # a fresh CRM holding SEED_CONTACTS
            ...
        def make_recruiter(self, crm, tmp_path): # a driver acting like a person in the CRM
            ...
        # optional:
        def make_crm_with_bad_record(self, tmp_path):  # SEED_CONTACTS plus one unusable record
            ...
        def wait_for_search(self, crm):          # let writes show up in find_tasks
            ...

The CRM must hold (at least) the contacts in SEED_CONTACTS, with these ids or with ids the
adapter maps them to (override `contact_ids`). The recruiter driver implements
`RecruiterDriver`: complete a task (optionally with an outcome), and change a contact.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

import pytest

from connector.crm.base import CRM, Capabilities, ContactBatch, ReadContext, WriteResult
from sequences.records import Channel, CloseTask, CreateTask, Outcome, TaskStatus

SEED_CONTACTS: list[dict[str, str]] = [
    {"id": "c1", "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com", "phone": "+12125550100",
     "owner_id": "o1", "timezone": "America/New_York", "country": "US", "lifecycle_stage": "lead"},
    {"id": "c2", "first_name": "Grace", "last_name": "Hopper", "email": "grace@example.com", "phone": "+13125550101",
     "owner_id": "o1", "timezone": "America/Chicago", "country": "US", "lifecycle_stage": "lead"},
    {"id": "c3", "first_name": "Alan", "last_name": "Turing", "email": "alan@example.co.uk", "phone": "+442079460000",
     "owner_id": "o2", "timezone": "Europe/London", "country": "GB", "lifecycle_stage": "lead"},
]
SEED_OWNERS: list[dict[str, str]] = [
    {"id": "o1", "first_name": "Dana", "last_name": "Whitfield", "email": "dana@example.com", "timezone": "America/New_York"},
    {"id": "o2", "first_name": "Marcus", "last_name": "Lee", "email": "marcus@example.com", "timezone": "Europe/London"},
]


class RecruiterDriver(Protocol):
    """What a person does in the CRM, as the test needs it."""

    def complete_task(self, key: str, *, outcome: str = "", completed_at: datetime | None = None, note: str = "") -> None:
        """Mark crm-cadence's task `key` done (with an outcome when the CRM supports them)."""
        ...

    def update_contact(self, contact_id: str, **changes: str) -> None:
        """Change fields of a contact (e.g. lead_status) as a recruiter would."""
        ...


def make_task(contact_id: str, n: int = 0, *, owner_id: str = "o1", run: str = "") -> CreateTask:
    """A CreateTask with a unique key (unique per test run, so real CRMs don't collide)."""
    run = run or uuid.uuid4().hex[:8]
    due = datetime(2026, 3, 3, 14, 0, tzinfo=timezone.utc) + timedelta(days=n)
    return CreateTask(
        key=f"conf-{run}-{contact_id}-{n}", contact_id=contact_id, owner_id=owner_id, cadence_id="conformance",
        version=1, seq=1, step_index=n, step_id=f"step-{n}", channel=Channel.CALL, task_type="CALL",
        priority="MEDIUM", due_at=due, due_local=due.astimezone().isoformat(), timezone="America/New_York",
        subject=f"Conformance call {n}", body="Say hello.\nThen listen.", reason="conformance",
    )


class CRMConformance:
    """Behaviour the sync relies on, checked against a real adapter."""

    # ------------------------------------------------------------------ hooks
    def make_crm(self, tmp_path: Any) -> CRM:
        raise NotImplementedError

    def make_recruiter(self, crm: CRM, tmp_path: Any) -> RecruiterDriver:
        raise NotImplementedError

    def make_crm_with_bad_record(self, tmp_path: Any) -> CRM | None:
        """SEED_CONTACTS plus one record the adapter must report as BadRecord; None to skip."""
        return None

    def wait_for_search(self, crm: CRM) -> None:
        """Called after writes before find_tasks; an adapter with search lag waits or polls here."""

    def contact_ids(self) -> list[str]:
        return [c["id"] for c in SEED_CONTACTS]

    # --------------------------------------------------------------- fixtures
    @pytest.fixture
    def crm(self, tmp_path: Any) -> Any:
        crm = self.make_crm(tmp_path)
        yield crm
        crm.close()

    @pytest.fixture
    def recruiter(self, crm: CRM, tmp_path: Any) -> RecruiterDriver:
        return self.make_recruiter(crm, tmp_path)

    def _read_all(self, crm: CRM, since: datetime | None = None) -> list[ContactBatch]:
        return list(crm.read_contacts(ReadContext(since=since, started_at=datetime.now(timezone.utc))))

    def _create(self, crm: CRM, tasks: Sequence[CreateTask]) -> list[WriteResult]:
        results = crm.create_tasks(tasks)
        assert all(r.ok for r in results), results
        return results

    def _states(self, crm: CRM, keys: dict[str, str]) -> dict[str, Any]:
        return {s.key: s for s in crm.read_task_changes(None, keys) if s.key in keys}

    # ------------------------------------------------------------------ tests
    def test_declares_capabilities(self, crm: CRM) -> None:
        """The adapter states what it can do: a Capabilities record with a positive batch size."""
        assert isinstance(crm.capabilities, Capabilities)
        assert crm.capabilities.max_batch >= 1
        assert crm.capabilities.search_lag_seconds >= 0
        assert isinstance(crm, CRM)

    def test_account_id_is_stable(self, crm: CRM) -> None:
        """The account id (part of every task key) is non-empty and the same on every call."""
        assert crm.account_id()
        assert crm.account_id() == crm.account_id()

    def test_full_read_returns_every_contact(self, crm: CRM) -> None:
        """A read with no cursor returns every contact, each once, with the standard fields filled."""
        batches = self._read_all(crm)
        contacts = [c for b in batches for c in b.contacts]
        ids = [c.id for c in contacts]
        assert len(ids) == len(set(ids))
        assert set(self.contact_ids()) <= set(ids)
        by_id = {c.id: c for c in contacts}
        first = by_id[self.contact_ids()[0]]
        assert first.first_name == SEED_CONTACTS[0]["first_name"]
        assert first.email == SEED_CONTACTS[0]["email"]

    def test_incremental_read_returns_changed_contacts(self, crm: CRM, recruiter: RecruiterDriver) -> None:
        """A contact changed after the cursor comes back in a read since that cursor, with its new value."""
        cursor = datetime.now(timezone.utc) - timedelta(seconds=1)
        target = self.contact_ids()[1]
        recruiter.update_contact(target, lead_status="BAD_TIMING")
        self.wait_for_search(crm)
        contacts = [c for b in self._read_all(crm, since=cursor) for c in b.contacts]
        changed = {c.id: c for c in contacts}
        assert target in changed
        assert changed[target].lead_status == "BAD_TIMING"

    def test_bad_record_does_not_stop_the_rest(self, tmp_path: Any) -> None:
        """One unusable record is reported as a BadRecord naming where and which field, and the rest are read."""
        crm = self.make_crm_with_bad_record(tmp_path)
        if crm is None:
            pytest.skip("the adapter provides no bad-record fixture")
        try:
            batches = self._read_all(crm)
        finally:
            crm.close()
        bad = [b for batch in batches for b in batch.bad]
        ids = {c.id for batch in batches for c in batch.contacts}
        assert bad and all(b.source and b.field and b.message for b in bad)
        assert set(self.contact_ids()) <= ids

    def test_lists_owners(self, crm: CRM) -> None:
        """Owners come back with ids (and the seeded ones are there)."""
        owners = {o.id: o for o in crm.list_owners()}
        assert owners
        assert all(o.id for o in owners.values())

    def test_create_batch_gives_one_result_per_task_in_order(self, crm: CRM) -> None:
        """A batch create answers each task, in the order sent, with the CRM's id on success."""
        tasks = [make_task(cid, n) for n, cid in enumerate(self.contact_ids())]
        results = self._create(crm, tasks)
        assert [r.key for r in results] == [t.key for t in tasks]
        assert all(r.crm_id for r in results)
        assert len({r.crm_id for r in results}) == len(tasks)

    def test_batch_larger_than_max_batch_is_rejected(self, crm: CRM) -> None:
        """A batch over max_batch is refused outright (the caller must split it), never half-written."""
        size = crm.capabilities.max_batch + 1
        if size > 1000:
            pytest.skip("max_batch too large to exercise")
        tasks = [make_task(self.contact_ids()[0], n) for n in range(size)]
        with pytest.raises(ValueError):
            crm.create_tasks(tasks)
        self.wait_for_search(crm)
        assert crm.find_tasks([t.key for t in tasks]) == {}

    def test_created_tasks_are_found_by_key(self, crm: CRM) -> None:
        """find_tasks maps the keys of created tasks to their CRM ids and ignores unknown keys."""
        tasks = [make_task(cid, n) for n, cid in enumerate(self.contact_ids()[:2])]
        results = self._create(crm, tasks)
        self.wait_for_search(crm)
        found = crm.find_tasks([t.key for t in tasks] + ["conf-no-such-key"])
        assert found == {r.key: r.crm_id for r in results}

    def test_created_tasks_read_back_open(self, crm: CRM) -> None:
        """A new task reads back as OPEN, for the right contact, with its due time."""
        task = make_task(self.contact_ids()[0])
        result = self._create(crm, [task])[0]
        self.wait_for_search(crm)
        state = self._states(crm, {task.key: result.crm_id})[task.key]
        assert state.status is TaskStatus.OPEN
        assert state.crm_id == result.crm_id
        assert state.due_at is not None and abs(state.due_at - task.due_at) < timedelta(minutes=1)

    def test_close_tasks(self, crm: CRM) -> None:
        """Closing open tasks answers each in order, and they no longer read back as open."""
        tasks = [make_task(cid, n) for n, cid in enumerate(self.contact_ids()[:2])]
        results = self._create(crm, tasks)
        closes = [CloseTask(t.key, t.contact_id, r.crm_id, "conformance: enrollment ended") for t, r in zip(tasks, results, strict=True)]
        closed = crm.close_tasks(closes)
        assert [r.key for r in closed] == [t.key for t in tasks]
        assert all(r.ok for r in closed)
        self.wait_for_search(crm)
        states = self._states(crm, {r.key: r.crm_id for r in results})
        assert all(states[t.key].status is not TaskStatus.OPEN for t in tasks)

    def test_close_answers_every_item(self, crm: CRM) -> None:
        """A close batch mixing a real and an unknown task answers both, in order."""
        task = make_task(self.contact_ids()[0])
        result = self._create(crm, [task])[0]
        closes = [CloseTask(task.key, task.contact_id, result.crm_id, "done"), CloseTask("conf-missing", "c1", "", "done")]
        answers = crm.close_tasks(closes)
        assert [a.key for a in answers] == [task.key, "conf-missing"]
        assert answers[0].ok

    def test_completed_task_is_read_back(self, crm: CRM, recruiter: RecruiterDriver) -> None:
        """A task the recruiter completes reads back COMPLETED with a completion time (and the outcome, when supported)."""
        task = make_task(self.contact_ids()[0])
        result = self._create(crm, [task])[0]
        when = datetime(2026, 3, 3, 15, 30, tzinfo=timezone.utc)
        outcome = "not_now" if crm.capabilities.task_outcomes else ""
        recruiter.complete_task(task.key, outcome=outcome, completed_at=when, note="call back in spring")
        self.wait_for_search(crm)
        state = self._states(crm, {task.key: result.crm_id})[task.key]
        assert state.status is TaskStatus.COMPLETED
        assert state.completed_at is not None and abs(state.completed_at - when) < timedelta(minutes=1)
        if crm.capabilities.task_outcomes:
            assert state.outcome is Outcome.NOT_NOW

    def test_task_changes_include_only_crm_cadence_tasks_with_keys(self, crm: CRM) -> None:
        """Every task state read back carries a key (crm-cadence's own tasks only)."""
        task = make_task(self.contact_ids()[0])
        self._create(crm, [task])
        self.wait_for_search(crm)
        states = list(crm.read_task_changes(None, {}))
        assert states and all(s.key for s in states)
        assert task.key in {s.key for s in states}
