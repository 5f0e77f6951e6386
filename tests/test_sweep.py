"""Which open tasks the change-driven sweep checks by id (connector/reconcile.py), on a real
store (SQLite, and PostgreSQL when a server answers): tasks long overdue, each once, a bounded
number a sweep; a sample that tells a token for another portal from a few deletions."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from support.conformance import make_task

from connector.crm.base import Capabilities, WriteResult
from connector.massexit import MassExitHeld, MassExitLimit, Vanished, check
from connector.reconcile import STALE_AFTER, sample_tasks, stale_tasks, sweep
from connector.store import Store
from connector.store_factory import StateLocation, open_store
from connector.sync_report import SyncReport
from sequences.records import Contact, TaskState, TaskStatus

NOW = datetime(2026, 3, 20, 14, 0, tzinfo=timezone.utc)
DUE = datetime(2026, 3, 2, 14, 0, tzinfo=timezone.utc)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        location = StateLocation("sqlite", path=tmp_path / "state.sqlite")
    else:
        location = StateLocation("postgresql", url=request.getfixturevalue("pg_url"))
    opened = open_store(location, "acct")
    try:
        yield opened
    finally:
        opened.close()


def _open_tasks(store: Store, dues: list[datetime]) -> list[str]:
    """Created, open tasks due at `dues` (one contact each); their keys, in due order."""
    tasks = [replace(make_task(f"c{n:04d}", run="s"), due_at=due) for n, due in enumerate(dues)]
    store.add_intents(tasks, NOW)
    store.record_creates([WriteResult(t.key, True, crm_id=f"T{n}") for n, t in enumerate(tasks)], NOW)
    return [t.key for t in sorted(tasks, key=lambda t: (t.due_at, t.key))]


def test_long_overdue_tasks_are_checked_once_each_and_a_bounded_number_a_sweep(store: Store) -> None:
    """Ten tasks stale, two not yet: a sweep takes at most `limit`, the next ones the rest, in due
    order (tasks due at the same time in key order); none twice; the recent ones later."""
    dues = [DUE + timedelta(hours=n // 2) for n in range(10)] + [NOW - timedelta(days=1)] * 2  # pairs due together
    keys = _open_tasks(store, dues)

    first = stale_tasks(store, NOW, set(), limit=3)
    second = stale_tasks(store, NOW, set(), limit=3)
    rest = [stale_tasks(store, NOW, set(), limit=3) for _ in range(3)]

    assert list(first) == keys[:3]  # the 3rd and 4th are due together: cut between them
    assert list(second) == keys[3:6]
    assert [list(r) for r in rest] == [keys[6:9], keys[9:10], []]
    assert list(stale_tasks(store, NOW + timedelta(days=1) + STALE_AFTER, set(), limit=3)) == keys[10:]


def test_a_task_listed_as_deleted_is_not_checked_again(store: Store) -> None:
    keys = _open_tasks(store, [DUE, DUE + timedelta(hours=1)])
    assert list(stale_tasks(store, NOW, {keys[0]})) == [keys[1]]


def test_the_sample_is_bounded_and_drawn_anew_each_day(store: Store) -> None:
    _open_tasks(store, [DUE + timedelta(minutes=n) for n in range(300)])
    open_tasks = store.open_task_ids()
    today, again, tomorrow = (sample_tasks(open_tasks, set(), when) for when in (NOW, NOW, NOW + timedelta(days=1)))
    assert len(today) == 100 and today == again and today != tomorrow
    assert set(today) <= set(open_tasks) and all(today[k] == open_tasks[k] for k in today)
    assert not set(sample_tasks(open_tasks, set(today), NOW)) & set(today)  # tasks already checked are skipped


def test_a_sample_that_finds_our_tasks_gone_holds_the_run_however_big_the_account() -> None:
    """A token for another portal: its recycle bin lists none of our records, but a sample of our open
    tasks is all gone there; scaled to 70,000 active enrollments that is a mass change, held. A few
    real deletions in the sample are not."""
    limit = MassExitLimit()
    wrong = Vanished(active=70_000, tasks=[f"c{n}" for n in range(100)], sampled=100, sampled_gone=100)
    with pytest.raises(Exception, match="100 of 100 open tasks checked as a sample are gone"):
        check(wrong, limit)
    check(Vanished(active=70_000, tasks=["c1", "c2"], sampled=100, sampled_gone=2), limit)
    check(Vanished(active=70_000, tasks=["c1"], sampled=5, sampled_gone=5), limit)  # too small to say anything


class _ForeignPortal:
    """A CRM (our own contract, not a client library) where none of our tasks exists: what a
    token for another portal looks like to the sweep."""

    capabilities = Capabilities(incremental_contacts=True, incremental_tasks=True, max_batch=100)

    def deleted_contacts(self, ids: Sequence[str]) -> Iterator[Contact]:
        return iter(())

    def deleted_tasks(self, ids: Mapping[str, str]) -> Iterator[TaskState]:
        return iter(())

    def check_tasks(self, ids: Mapping[str, str]) -> Iterator[TaskState]:
        for key, crm_id in ids.items():
            yield TaskState(key=key, contact_id="", status=TaskStatus.DELETED, crm_id=crm_id)


def test_a_held_sweep_changes_nothing_and_checks_the_same_tasks_next_time(store: Store) -> None:
    """The valve holds a sweep whose checked tasks are all gone; its overdue-check place did not
    move (one transaction), so the next sweep checks the same tasks."""
    _open_tasks(store, [DUE + timedelta(minutes=n) for n in range(30)])
    before = dict(store.open_task_ids())
    report = SyncReport(account="acct", started_at=NOW)

    with pytest.raises(MassExitHeld):
        sweep(_ForeignPortal(), store, report, NOW, MassExitLimit(), NOW - timedelta(days=1))  # type: ignore[arg-type]

    assert store.open_task_ids() == before
    assert len(store.next_stale_tasks(NOW - STALE_AFTER, 1000, NOW)) == 30  # not one skipped
