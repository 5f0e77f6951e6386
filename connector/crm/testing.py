"""The conformance suite every CRM plugin must pass, shipped in the package so a plugin in
another distribution can import it (as meltano's SDK ships its tap tests).

Use it by subclassing `CRMConformance` in a test module whose class name starts with `Test`
(pytest must be installed), and providing the hooks:

    from connector.crm.testing import CRMConformance, SEED_CONTACTS

    class TestMyCRMConformance(CRMConformance):
        def make_crm(self, tmp_path):            # a fresh CRM holding SEED_CONTACTS
            ...
        def make_recruiter(self, crm, tmp_path): # a driver acting like a person in the CRM
            ...
        # optional:
        def make_crm_with_bad_record(self, tmp_path):  # SEED_CONTACTS plus one unusable record
        def wait_for_search(self, crm):          # let writes show up in find_tasks
        def custom_property(self):               # the raw name of a custom contact field
        def inject_write_fault(self, kind):      # "lost" / "refused": the next write is lost or refused

The CRM must hold (at least) the contacts in SEED_CONTACTS, with these ids or with ids the
adapter maps them to (override `contact_ids`). The recruiter driver implements
`RecruiterDriver`: complete a task (optionally with an outcome), change a contact, set a raw
property, delete a task, delete a contact.

What the suite pins, beyond each method's docstring in `connector.crm.base`:
- a task key whose task is gone from the CRM is reported DELETED by `check_tasks` (a CRM
  that sweeps) or by `read_task_changes` (a CRM that sees deletions in its change reads);
- an optional behaviour exists exactly when the adapter satisfies its Protocol
  (`isinstance(crm, VerifiesContacts)` ...), and then it behaves as the Protocol says;
- a write whose answer was lost is reported ok (the adapter settled it) or unknown, never a
  definite failure; a refused write is ok or retryable; `find_tasks` then finds each ok key.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

import pytest

from connector.crm.base import (
    CRM,
    Capabilities,
    ChecksTasks,
    ContactBatch,
    FindsTasksByContact,
    ListsAllTasks,
    ListsDeletions,
    ReadContext,
    RestoresMissingTasks,
    SetupReport,
    VerifiesContacts,
    WriteResult,
)
from connector.cursors import OVERLAP  # what the sync subtracts from a cursor
from sequences.keys import task_key
from sequences.records import Channel, CloseTask, CreateTask, Outcome, TaskStatus

__all__ = ["SEED_CONTACTS", "SEED_OWNERS", "CRMConformance", "RecruiterDriver", "make_task"]

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
    """What a person does in the CRM, as the tests need it."""

    def complete_task(self, key: str, *, outcome: str = "", completed_at: datetime | None = None, note: str = "") -> None:
        """Mark crm-cadence's task `key` done (with an outcome when the CRM supports them)."""
        ...

    def update_contact(self, contact_id: str, **changes: str) -> None:
        """Change fields of a contact (e.g. lead_status) as a recruiter would."""
        ...

    def set_property(self, contact_id: str, name: str, value: str) -> None:
        """Set a raw (custom) contact property, by the CRM's own name for it."""
        ...

    def delete_task(self, key: str) -> None:
        """Delete crm-cadence's task `key` in the CRM."""
        ...

    def delete_contact(self, contact_id: str) -> None:
        """Delete a contact in the CRM."""
        ...


def make_task(contact_id: str, n: int = 0, *, owner_id: str = "o1", run: str = "") -> CreateTask:
    """A CreateTask with a unique key (unique per test run, so real CRMs don't collide)."""
    run = run or uuid.uuid4().hex[:8]
    due = datetime(2026, 3, 3, 14, 0, tzinfo=timezone.utc) + timedelta(days=n)
    return CreateTask(
        key=f"conf-{run}-{contact_id}-{n}", contact_id=contact_id, owner_id=owner_id, cadence_id="conformance",
        version=1, seq=1, step_index=n, step_id=f"step-{n}", channel=Channel.CALL, task_type="call",
        priority="medium", due_at=due, due_local=due.astimezone().isoformat(), timezone="America/New_York",
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

    def custom_property(self) -> str | None:
        """The CRM's raw name of a custom contact field the recruiter can set; None to skip."""
        return None

    def inject_write_fault(self, kind: str) -> bool:
        """Make the CRM lose the answer to ("lost": applied, answer lost) or refuse ("refused":
        not applied, worth retrying) the next task writes; False when the CRM cannot."""
        return False

    # --------------------------------------------------------------- fixtures
    @pytest.fixture
    def crm(self, tmp_path: Any) -> Any:
        crm = self.make_crm(tmp_path)
        yield crm
        crm.close()

    @pytest.fixture
    def recruiter(self, crm: CRM, tmp_path: Any) -> RecruiterDriver:
        return self.make_recruiter(crm, tmp_path)

    def _read_all(self, crm: CRM, since: datetime | None = None, properties: Sequence[str] = ()) -> list[ContactBatch]:
        ctx = ReadContext(since=since, properties=tuple(properties), started_at=datetime.now(timezone.utc))
        return list(crm.read_contacts(ctx))

    def _create(self, crm: CRM, tasks: Sequence[CreateTask]) -> list[WriteResult]:
        results = crm.create_tasks(tasks)
        assert all(r.ok for r in results), results
        return results

    def _states(self, crm: CRM, keys: dict[str, str], since: datetime | None = None) -> dict[str, Any]:
        return {s.key: s for s in crm.read_task_changes(since, keys) if s.key in keys}

    # ------------------------------------------------------------------ tests
    def test_declares_capabilities(self, crm: CRM) -> None:
        """The adapter states what it can do: a Capabilities record with a positive batch size."""
        assert isinstance(crm.capabilities, Capabilities)
        assert crm.capabilities.max_batch >= 1
        assert crm.capabilities.search_lag_seconds >= 0
        assert crm.capabilities.sweep_every is None or crm.capabilities.sweep_every >= timedelta(0)
        assert isinstance(crm, CRM)

    def test_account_id_is_stable(self, crm: CRM) -> None:
        """The account id (part of every task key) is non-empty and the same on every call."""
        assert crm.account_id()
        assert crm.account_id() == crm.account_id()

    def test_setup_reports_what_it_did(self, crm: CRM) -> None:
        """setup() is part of the contract: it answers a SetupReport (the test CRM is ready: nothing missing)."""
        report = crm.setup()
        assert isinstance(report, SetupReport)
        assert report.ok, report.missing
        assert report.done and all(isinstance(line, str) and line for line in report.done)

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

    def test_custom_properties_reach_the_engine(self, crm: CRM, recruiter: RecruiterDriver) -> None:
        """A raw property a config rule names (ReadContext.properties) comes back on the contact, by its raw name."""
        name = self.custom_property()
        if name is None:
            pytest.skip("the adapter provides no custom property")
        target = self.contact_ids()[0]
        recruiter.set_property(target, name, "gold")
        self.wait_for_search(crm)
        contacts = {c.id: c for b in self._read_all(crm, properties=[name]) for c in b.contacts}
        assert contacts[target].prop(name) == "gold"

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
        if isinstance(crm, FindsTasksByContact):
            by_contact = crm.find_tasks_for_contacts({t.key: t.contact_id for t in tasks} | {"conf-none": tasks[0].contact_id})
            assert by_contact == {r.key: r.crm_id for r in results}

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
        closes = [CloseTask(t.key, t.contact_id, r.crm_id, "conformance: enrollment ended")
                  for t, r in zip(tasks, results, strict=True)]
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

    def test_task_changes_since_a_cursor(self, crm: CRM, recruiter: RecruiterDriver) -> None:
        """A task completed after a cursor comes back in `read_task_changes(cursor - overlap)`, COMPLETED."""
        tasks = [make_task(cid, n) for n, cid in enumerate(self.contact_ids()[:2])]
        results = self._create(crm, tasks)
        cursor = datetime.now(timezone.utc)
        recruiter.complete_task(tasks[0].key)
        self.wait_for_search(crm)
        keys = {r.key: r.crm_id for r in results}
        states = self._states(crm, keys, since=cursor - OVERLAP)
        assert states[tasks[0].key].status is TaskStatus.COMPLETED

    def test_deleted_task_keys(self, crm: CRM, recruiter: RecruiterDriver) -> None:
        """A task a recruiter removes is reported DELETED, by the change read or (for a CRM that sweeps) by
        check_tasks; or, for a CRM where a task can go missing without being deleted (RestoresMissingTasks),
        listed by missing_tasks() and never reported DELETED. A live task is never reported DELETED."""
        tasks = [make_task(cid, n) for n, cid in enumerate(self.contact_ids()[:2])]
        results = self._create(crm, tasks)
        keys = {r.key: r.crm_id for r in results}
        recruiter.delete_task(tasks[0].key)
        self.wait_for_search(crm)
        seen = list(crm.read_task_changes(None, keys))
        if isinstance(crm, ChecksTasks):
            seen += list(crm.check_tasks(keys))
        deleted = {s.key for s in seen if s.status is TaskStatus.DELETED}
        if isinstance(crm, RestoresMissingTasks):
            assert tasks[0].key in crm.missing_tasks() and not deleted
        else:
            assert tasks[0].key in deleted
        assert tasks[1].key not in deleted

    def test_the_sweep(self, crm: CRM, recruiter: RecruiterDriver) -> None:
        """A CRM that sweeps: verify_contacts reports a deleted contact (and nothing for live ones);
        check_tasks answers every open task by key."""
        if not isinstance(crm, (VerifiesContacts, ChecksTasks)):
            pytest.skip("the adapter does not sweep")
        ids = self.contact_ids()
        self._read_all(crm)
        if isinstance(crm, ChecksTasks):
            task = make_task(ids[0])
            result = self._create(crm, [task])[0]
            states = {s.key: s for s in crm.check_tasks({task.key: result.crm_id})}
            assert states[task.key].status is TaskStatus.OPEN and states[task.key].crm_id == result.crm_id
        if isinstance(crm, VerifiesContacts):
            assert list(crm.verify_contacts(ids)) == []
            recruiter.delete_contact(ids[2])
            self.wait_for_search(crm)
            self._read_all(crm)
            gone = {c.id: c for c in crm.verify_contacts(ids)}
            assert set(gone) == {ids[2]} and (gone[ids[2]].deleted or gone[ids[2]].merged_into)

    def test_lists_its_deletions(self, crm: CRM, recruiter: RecruiterDriver) -> None:
        """A CRM that lists its deletions (ListsDeletions): a deleted contact and a deleted task are
        listed, among the ids asked about only; live ones never are."""
        if not isinstance(crm, ListsDeletions):
            pytest.skip("the adapter does not list its deletions")
        ids = self.contact_ids()
        self._read_all(crm)
        tasks = [make_task(cid, n) for n, cid in enumerate(ids[:2])]
        keys = {r.key: r.crm_id for r in self._create(crm, tasks)}
        assert list(crm.deleted_contacts(ids)) == [] and list(crm.deleted_tasks(keys)) == []
        recruiter.delete_contact(ids[2])
        recruiter.delete_task(tasks[0].key)
        self.wait_for_search(crm)
        gone = list(crm.deleted_contacts(ids))
        assert [c.id for c in gone] == [ids[2]] and gone[0].deleted
        assert list(crm.deleted_contacts([ids[0]])) == []  # only the ids asked about
        states = list(crm.deleted_tasks(keys))
        assert [(s.key, s.status) for s in states] == [(tasks[0].key, TaskStatus.DELETED)]
        assert list(crm.deleted_tasks({tasks[1].key: keys[tasks[1].key]})) == []

    def test_lost_write_is_ok_or_unknown_never_failed(self, crm: CRM) -> None:
        """A create whose answer is lost (applied, then the connection dropped) is reported ok (the adapter settled it)
        or unknown (the sync reconciles it), never a definite failure; each ok key is then found."""
        if not self.inject_write_fault("lost"):
            pytest.skip("the adapter's CRM cannot lose an answer in tests")
        tasks = [make_task(cid, n) for n, cid in enumerate(self.contact_ids())]
        results = crm.create_tasks(tasks)
        assert [r.key for r in results] == [t.key for t in tasks]
        assert all(r.ok or r.unknown for r in results), results
        self.wait_for_search(crm)
        found = crm.find_tasks([t.key for t in tasks])
        assert set(found) == {t.key for t in tasks}  # it was applied: every key exists, once
        assert all(found[r.key] == r.crm_id for r in results if r.ok and r.crm_id)

    def test_refused_write_is_ok_or_retryable(self, crm: CRM) -> None:
        """A create refused by a transient fault (not applied) is reported ok (retried in the adapter) or retryable or
        unknown, never a definite failure; ok keys exist."""
        if not self.inject_write_fault("refused"):
            pytest.skip("the adapter's CRM cannot refuse a write in tests")
        tasks = [make_task(cid, n) for n, cid in enumerate(self.contact_ids())]
        results = crm.create_tasks(tasks)
        assert all(r.ok or r.retryable or r.unknown for r in results), results
        assert all(not (r.ok and (r.retryable or r.unknown)) for r in results)
        self.wait_for_search(crm)
        found = crm.find_tasks([t.key for t in tasks])
        assert {r.key for r in results if r.ok} <= set(found)

    def test_task_changes_include_only_crm_cadence_tasks_with_keys(self, crm: CRM) -> None:
        """Every task state read back carries a key (crm-cadence's own tasks only)."""
        task = make_task(self.contact_ids()[0])
        self._create(crm, [task])
        self.wait_for_search(crm)
        states = list(crm.read_task_changes(None, {}))
        assert states and all(s.key for s in states)
        assert task.key in {s.key for s in states}

    def test_lists_every_task_with_its_enrollment(self, crm: CRM, recruiter: RecruiterDriver) -> None:
        """`ListsAllTasks` (optional): every task written comes back, done or open, with the enrollment it
        was written with (what a lost state is rebuilt from, `connector/rebuild.py`)."""
        from dataclasses import replace

        from connector.crm import taskmeta

        if not isinstance(crm, ListsAllTasks):
            pytest.skip("the CRM does not list its tasks (a lost state is not rebuilt from it)")
        account = f"conformance-{uuid.uuid4().hex[:8]}"
        enrolled = datetime(2026, 3, 2, 14, 0, tzinfo=timezone.utc)
        tasks = []
        for n, contact in enumerate(self.contact_ids()[:2]):
            base = make_task(contact, n)
            tasks.append(replace(base, key=task_key(account, contact, "conformance", 1, 2, base.step_id), seq=2,
                                 enrolled_at=enrolled, baseline_lead_status="NEW", account=account))
        self._create(crm, tasks)
        recruiter.complete_task(tasks[0].key)
        found = {t.state.key: t for t in crm.all_tasks()}
        for task in tasks:
            assert task.key in found, task.key
            record = taskmeta.parse(found[task.key].enrollment, found[task.key].state)
            assert record is not None, found[task.key]
            assert (record.account, record.task.contact_id, record.cadence_id, record.version, record.seq,
                    record.step_index, record.step_id, record.enrolled_at, record.baseline_lead_status) == \
                   (account, task.contact_id, "conformance", 1, 2, task.step_index, task.step_id, enrolled, "NEW")
        assert found[tasks[0].key].state.status is TaskStatus.COMPLETED
        assert found[tasks[0].key].state.completed_at is not None
        assert found[tasks[1].key].state.status is TaskStatus.OPEN
