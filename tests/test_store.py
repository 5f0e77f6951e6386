"""The state stores: durable settings, migrations, the ledger's state machine, the contacts cache, snapshots.

The contract tests (`store` fixture) run on both SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from support.conformance import make_task

from connector.crm.base import WriteResult
from connector.store import LedgerRow, Store
from connector.store_factory import StateLocation, open_store
from connector.store_migrations import MIGRATIONS, migrate
from connector.store_sqlite import SQLiteStore
from sequences.records import CloseTask, Contact, Enrollment, EnrollmentStatus, Outcome, TaskState, TaskStatus

NOW = datetime(2026, 3, 2, 14, 0, tzinfo=timezone.utc)


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> StateLocation:
    """Where a store's state lives: a SQLite file, or a fresh schema on the test PostgreSQL."""
    if request.param == "sqlite":
        return StateLocation("sqlite", path=tmp_path / "state.sqlite")
    return StateLocation("postgresql", url=request.getfixturevalue("pg_url"))


@pytest.fixture
def store(location: StateLocation) -> Iterator[Store]:
    s = open_store(location, "acct")
    yield s
    s.close()


def test_store_satisfies_the_protocol(store: Store) -> None:
    """Both stores implement every Store method."""
    missing = [name for name in dir(Store) if not name.startswith("_") and not hasattr(store, name)]
    assert missing == []


def test_sqlite_uses_durable_settings(tmp_path: Path) -> None:
    """The SQLite store runs in WAL mode with synchronous=FULL."""
    store = SQLiteStore.open(tmp_path / "state.sqlite", "acct")
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_migrations_are_applied_once_in_order(tmp_path: Path) -> None:
    """Reopening a state file applies no migration twice and records the schema version."""
    path = tmp_path / "s.sqlite"
    SQLiteStore.open(path, "a").close()
    s = SQLiteStore.open(path, "a")
    versions = [r[0] for r in s.db.execute("SELECT version FROM schema_version")]
    assert versions == sorted(MIGRATIONS) and s.schema_version == max(MIGRATIONS)
    s.close()


# the tables of a state file written by crm-cadence at schema version 1 (before owners were cached
# and before pacing): kept here as a fixture, to check that the migrations still upgrade such a file
SCHEMA_V1 = """
CREATE TABLE schema_version (version INTEGER NOT NULL);
INSERT INTO schema_version VALUES (1);
CREATE TABLE enrollments (
    account TEXT NOT NULL, contact_id TEXT NOT NULL, seq INTEGER NOT NULL,
    cadence_id TEXT NOT NULL, version INTEGER NOT NULL, status TEXT NOT NULL,
    step_index INTEGER NOT NULL, open_task_key TEXT NOT NULL DEFAULT '',
    snoozed_until TEXT, reason TEXT NOT NULL DEFAULT '', data TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (account, contact_id, seq)
);
CREATE INDEX enrollments_by_status ON enrollments (account, status, snoozed_until);
CREATE TABLE tasks (
    account TEXT NOT NULL, key TEXT NOT NULL, contact_id TEXT NOT NULL,
    owner_id TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL CHECK (status IN ('pending','created','unknown','closed','failed')),
    crm_id TEXT NOT NULL DEFAULT '', attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '', payload TEXT NOT NULL, due_at TEXT,
    sent_at TEXT, crm_status TEXT NOT NULL DEFAULT '', completed_at TEXT,
    outcome TEXT NOT NULL DEFAULT '', note TEXT NOT NULL DEFAULT '',
    close_reason TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    PRIMARY KEY (account, key)
);
CREATE INDEX tasks_by_contact ON tasks (account, contact_id);
CREATE INDEX tasks_by_status ON tasks (account, status, key);
CREATE TABLE contacts (
    account TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL,
    referred_by TEXT NOT NULL DEFAULT '', needs_plan INTEGER NOT NULL DEFAULT 0,
    seen_at TEXT NOT NULL,
    PRIMARY KEY (account, id)
);
CREATE INDEX contacts_by_referrer ON contacts (account, referred_by);
CREATE INDEX contacts_needing_plan ON contacts (account, id) WHERE needs_plan = 1;
CREATE TABLE cursors (
    account TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL, updated_at TEXT NOT NULL,
    PRIMARY KEY (account, name)
);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, account TEXT NOT NULL,
    started_at TEXT NOT NULL, ended_at TEXT, status TEXT NOT NULL,
    plan_only INTEGER NOT NULL DEFAULT 0, counts TEXT NOT NULL DEFAULT '{}',
    error TEXT NOT NULL DEFAULT ''
);
"""


def _shape(db: sqlite3.Connection) -> dict[str, object]:
    """Tables -> sorted (column, type, not null, default, primary key position); indexes -> columns and partial clause."""
    shape: dict[str, object] = {}
    for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"):
        columns = db.execute(f"PRAGMA table_info({table})").fetchall()
        # an INTEGER PRIMARY KEY is the rowid: never NULL, whether or not NOT NULL is spelled out
        shape[table] = sorted((name, kind, bool(notnull or pk), str(default).strip("'") if default is not None else None, pk)
                              for _, name, kind, notnull, default, pk in columns)
    for name, sql in db.execute("SELECT name, sql FROM sqlite_master WHERE type='index' AND sql IS NOT NULL"):
        shape[f"index {name}"] = (tuple(r[2] for r in db.execute(f"PRAGMA index_info({name})")),
                                  sql.partition(" WHERE ")[2].strip())
    return shape


def test_an_old_state_file_is_upgraded_to_the_fresh_schema(tmp_path: Path) -> None:
    """A state file at schema version 1, upgraded by the migrations, has the same tables, columns and indexes as a
    fresh file built from connector/schema.py, and both record every schema version."""
    old = sqlite3.connect(tmp_path / "old.sqlite", isolation_level=None)
    old.executescript(SCHEMA_V1)
    fresh = sqlite3.connect(tmp_path / "fresh.sqlite", isolation_level=None)
    assert migrate(old) == migrate(fresh) == max(MIGRATIONS)
    assert _shape(old) == _shape(fresh)
    for db in (old, fresh):
        assert [v for (v,) in db.execute("SELECT version FROM schema_version ORDER BY version")] == sorted(MIGRATIONS)


def test_an_older_postgresql_schema_is_upgraded(pg_url: str) -> None:
    """A PostgreSQL state at schema version 1 (before the closes-due index) gets the index and version 2 when a
    worker of this version opens it; the next worker finds it current."""
    import psycopg

    from connector.store_pg import SCHEMA_VERSION, PostgresStore

    PostgresStore.connect(pg_url, "acct").close()
    with psycopg.connect(pg_url, autocommit=True) as db:
        db.execute("DROP INDEX tasks_closes_due")
        db.execute("DELETE FROM schema_version")
        db.execute("INSERT INTO schema_version (version) VALUES (1)")
    for _ in range(2):
        PostgresStore.connect(pg_url, "acct").close()
    with psycopg.connect(pg_url, autocommit=True) as db:
        assert [v for (v,) in db.execute("SELECT version FROM schema_version ORDER BY version")] == [1, SCHEMA_VERSION] == [1, 2]
        [(definition,)] = db.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'tasks_closes_due' "
                                   "AND schemaname = current_schema()").fetchall()
    assert "WHERE ((close_reason <> ''::text) AND (status <> 'closed'::text))" in definition


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    """A state file written by a newer crm-cadence is not touched by an older one."""
    db = sqlite3.connect(tmp_path / "s.sqlite", isolation_level=None)
    migrate(db)
    db.execute("INSERT INTO schema_version VALUES (999)")
    with pytest.raises(RuntimeError, match="newer than this crm-cadence"):
        migrate(db)


def test_an_intent_is_recorded_once_per_key(store: Store) -> None:
    """add_intent records a pending row the first time and ignores the same key afterwards."""
    task = make_task("c1")
    assert store.add_intent(task, NOW)
    assert not store.add_intent(task, NOW + timedelta(days=1))
    [row] = store.ledger(["pending"])
    assert row.key == task.key and row.task == task and row.status == "pending"


def test_intents_and_closes_are_recorded_in_batches(store: Store) -> None:
    """add_intents counts only the keys it newly recorded (a known key, or one twice in the batch, counts once);
    request_closes counts the closes that found a task not yet closed; the single-row methods agree."""
    a, b, c = (make_task("c1", n, run="r") for n in range(3))
    assert store.add_intent(a, NOW)
    assert store.add_intents([a, b, c, b], NOW) == 2
    assert store.add_intents([], NOW) == 0
    assert [r.key for r in store.ledger(["pending"])] == sorted([a.key, b.key, c.key])
    assert store.get(b.key).task == b
    store.mark_sending([c.key], NOW)
    store.record_closes([WriteResult(c.key, True)], NOW)  # c is closed: no new close intent for it
    closes = [CloseTask(a.key, "c1", "", "replied"), CloseTask(c.key, "c1", "", "late"), CloseTask("nobody", "c9", "", "x")]
    assert store.request_closes(closes, NOW) == 1
    assert store.request_closes([], NOW) == 0
    assert [(r.key, r.close_reason) for r in store.closes_due(limit=10)] == [(a.key, "replied")]
    assert store.request_close(CloseTask(b.key, "c1", "", ""), NOW)
    assert {r.key: r.close_reason for r in store.closes_due(limit=10)} == {a.key: "replied", b.key: "closed"}


def test_write_results_are_recorded_in_batches(store: Store) -> None:
    """A close batch's results: ok -> closed; retryable or unknown -> tried again; refused -> the intent is dropped."""
    tasks = [make_task("c1", n, run="r") for n in range(3)]
    store.add_intents(tasks, NOW)
    store.mark_sending([t.key for t in tasks], NOW)
    store.record_creates([WriteResult(t.key, True, crm_id=f"T{n}") for n, t in enumerate(tasks)], NOW)
    assert store.request_closes([CloseTask(t.key, "c1", f"T{n}", "exited") for n, t in enumerate(tasks)], NOW) == 3
    store.record_closes([
        WriteResult(tasks[0].key, True), WriteResult(tasks[1].key, False, error="503", retryable=True),
        WriteResult(tasks[2].key, False, error="403 no"),
    ], NOW)
    rows = {t.key: store.get(t.key) for t in tasks}
    assert (rows[tasks[0].key].status, rows[tasks[0].key].crm_status) == ("closed", "deleted")
    assert (rows[tasks[1].key].attempts, rows[tasks[1].key].close_reason) == (1, "exited")
    assert (rows[tasks[2].key].close_reason, rows[tasks[2].key].last_error) == ("", "close failed: 403 no")
    assert [r.key for r in store.closes_due(limit=10)] == [tasks[1].key]


def test_ledger_follows_the_write_results(store: Store) -> None:
    """unknown before sending; then ok -> created, retryable -> pending (+1 attempt), failed -> failed, unknown stays unknown."""
    tasks = [make_task("c1", n, run="r") for n in range(4)]
    for t in tasks:
        store.add_intent(t, NOW)
    store.mark_sending([t.key for t in tasks], NOW)
    assert {r.status for r in store.ledger(["unknown"])} == {"unknown"}
    store.record_creates([
        WriteResult(tasks[0].key, True, crm_id="T0"),
        WriteResult(tasks[1].key, False, error="503", retryable=True),
        WriteResult(tasks[2].key, False, error="400 bad owner"),
        WriteResult(tasks[3].key, False, error="timeout", unknown=True),
    ], NOW)
    rows = {r.key: r for r in store.ledger(["pending", "created", "unknown", "failed"])}
    assert (rows[tasks[0].key].status, rows[tasks[0].key].crm_id, rows[tasks[0].key].crm_status) == ("created", "T0", "open")
    assert (rows[tasks[1].key].status, rows[tasks[1].key].attempts) == ("pending", 1)
    assert (rows[tasks[2].key].status, rows[tasks[2].key].last_error) == ("failed", "400 bad owner")
    assert rows[tasks[3].key].status == "unknown" and rows[tasks[3].key].sent_at == NOW


def test_the_ledger_pages_through_several_statuses_in_key_order(store: Store) -> None:
    """ledger(statuses, limit, after) over several statuses: every row once, in key order, page by page."""
    tasks = [make_task(f"c{n}", n, run="r") for n in range(7)]
    store.add_intents(tasks, NOW)
    store.mark_sending([t.key for t in tasks[::2]], NOW)
    store.record_creates([WriteResult(t.key, False, error="400") for t in tasks[::2]], NOW)  # failed
    store.mark_sending([tasks[1].key], NOW)  # unknown: not asked for
    pages, after = [], ""
    while rows := store.ledger(["pending", "failed", "pending"], limit=2, after=after):
        pages.append([r.key for r in rows])
        after = rows[-1].key
    wanted = sorted(t.key for n, t in enumerate(tasks) if n != 1)
    assert [k for page in pages for k in page] == wanted and [len(p) for p in pages] == [2, 2, 2]
    assert [r.key for r in store.ledger(["failed", "pending"])] == wanted
    assert [r.key for r in store.ledger(["unknown", "failed"], limit=1)] == [min(t.key for t in [*tasks[::2], tasks[1]])]
    assert store.ledger([]) == []


def test_reconciliation_resolves_unknown_rows(store: Store) -> None:
    """Found unknown rows become created with the CRM id; missing ones go back to pending."""
    a, b = make_task("c1", 0, run="r"), make_task("c1", 1, run="r")
    for t in (a, b):
        store.add_intent(t, NOW)
    store.mark_sending([a.key, b.key], NOW)
    store.resolve({a.key: "T1"}, [b.key], NOW)
    assert store.get(a.key).status == "created" and store.get(a.key).crm_id == "T1"
    assert store.get(b.key).status == "pending"


def test_closes_are_intents_too(store: Store) -> None:
    """request_close marks the row; a confirmed close sets it closed; a close of an unsent create needs no CRM call."""
    a, b = make_task("c1", 0, run="r"), make_task("c2", 1, run="r")
    for t in (a, b):
        store.add_intent(t, NOW)
    store.mark_sending([a.key], NOW)
    store.record_creates([WriteResult(a.key, True, crm_id="T1")], NOW)
    assert store.request_close(CloseTask(a.key, "c1", "T1", "replied"), NOW)
    assert store.request_close(CloseTask(b.key, "c2", "", "exited"), NOW)
    assert [r.key for r in store.closes_due(limit=10)] == sorted([a.key, b.key])
    store.record_closes([WriteResult(a.key, True, crm_id="T1")], NOW)
    store.close_unsent([b.key], NOW)
    assert store.get(a.key).status == "closed" and store.get(b.key).status == "closed"
    assert store.closes_due(limit=10) == []
    assert not store.request_close(CloseTask(a.key, "c1", "T1", "again"), NOW)


def test_task_states_from_the_crm_update_the_ledger(store: Store) -> None:
    """A completion read from the CRM is stored (first completion time wins) and names the contact that changed."""
    a = make_task("c1", 0, run="r")
    store.add_intent(a, NOW)
    store.mark_sending([a.key], NOW)
    store.record_creates([WriteResult(a.key, True, crm_id="T1")], NOW)
    assert store.open_task_ids() == {a.key: "T1"}
    done = TaskState(a.key, "c1", TaskStatus.COMPLETED, "T1", completed_at=NOW, outcome=Outcome.NOT_NOW)
    assert store.apply_task_states([done], NOW) == {"c1"}
    assert store.apply_task_states([done], NOW) == set()  # no change, no re-plan
    later = TaskState(a.key, "c1", TaskStatus.COMPLETED, "T1", completed_at=NOW + timedelta(hours=5), outcome=Outcome.NOT_NOW)
    store.apply_task_states([later], NOW)
    row = store.get(a.key)
    assert row.completed_at == NOW and row.outcome == "not_now"
    assert row.state().status is TaskStatus.COMPLETED and store.open_task_ids() == {}
    assert store.apply_task_states([TaskState("someone-elses", "c9", TaskStatus.OPEN)], NOW) == set()


def test_unsent_and_unconfirmed_tasks_count_as_open_for_the_engine(store: Store) -> None:
    """Pending, unknown and failed creates show the engine an OPEN task, so nothing is stacked on top."""
    a = make_task("c1", 0, run="r")
    store.add_intent(a, NOW)
    assert store.get(a.key).state().status is TaskStatus.OPEN
    store.mark_sending([a.key], NOW)
    assert store.get(a.key).state().status is TaskStatus.OPEN
    assert list(store.task_load(NOW - timedelta(days=1))) == [("o1", a.due_at)]


def test_contacts_cache_marks_only_new_or_changed_contacts(store: Store) -> None:
    """upsert_contacts returns (and marks for planning) only contacts whose data changed."""
    ada = Contact("c1", "Ada", email="ada@example.com", opted_out=frozenset({"email"}), last_reply_at=NOW, properties={"x": "1"})
    kay = Contact("c2", "Kay", referred_by="c1")
    assert store.upsert_contacts([ada, kay], NOW) == ["c1", "c2"]
    store.clear_needs_plan(["c1", "c2"])
    assert store.upsert_contacts([ada, kay], NOW) == []
    assert store.needs_plan() == []
    assert store.upsert_contacts([Contact("c1", "Ada", lead_status="BAD_TIMING")], NOW) == ["c1"]
    assert store.needs_plan() == ["c1"]
    assert store.contacts(["c2"])["c2"] == kay
    assert store.referrals_of(["c1"]) == {"c1": [kay]}


def test_contacts_round_trip_exactly(store: Store) -> None:
    """A cached contact comes back equal to what was stored (sets, times, properties)."""
    ada = Contact("c1", "Ada", opted_out=frozenset({"email", "call"}), last_meeting_at=NOW, modified_at=NOW, properties={"role": "x"})
    store.upsert_contacts([ada], NOW)
    assert store.contacts(["c1"])["c1"] == ada


def test_enrollments_are_replaced_and_due_ones_found(store: Store) -> None:
    """put_enrollments replaces a contact's list; mark_due finds snoozes that are over."""
    store.upsert_contacts([Contact("c1"), Contact("c2")], NOW)
    store.clear_needs_plan(["c1", "c2"])
    snoozed = Enrollment("c1", "a", 1, 1, EnrollmentStatus.SNOOZED, NOW, snoozed_until=NOW + timedelta(days=90))
    active = Enrollment("c2", "a", 1, 1, EnrollmentStatus.ACTIVE, NOW, step_index=0, open_task_key="k")
    store.put_enrollments("c1", [snoozed], NOW)
    store.put_enrollments("c2", [active], NOW)
    assert store.enrollments(["c1", "c2"]) == {"c1": (snoozed,), "c2": (active,)}
    assert store.mark_due(NOW + timedelta(days=89)) == 0
    assert store.mark_due(NOW + timedelta(days=90)) == 1
    assert store.needs_plan() == ["c1"]
    store.put_enrollments("c1", [], NOW)
    assert store.enrollments(["c1"]) == {}


def test_enrollments_of_many_contacts_are_replaced_at_once(store: Store) -> None:
    """put_enrollments_many replaces every named contact's list (an empty list deletes) and leaves the others."""
    def enrollment(cid: str, seq: int, status: EnrollmentStatus = EnrollmentStatus.ACTIVE) -> Enrollment:
        return Enrollment(cid, "a", 1, seq, status, NOW, step_index=0)

    store.put_enrollments_many({"c1": [enrollment("c1", 1)], "c2": [enrollment("c2", 1)], "c3": [enrollment("c3", 1)]}, NOW)
    two = (enrollment("c1", 1, EnrollmentStatus.EXITED), enrollment("c1", 2))
    store.put_enrollments_many({"c1": two, "c2": []}, NOW)
    store.put_enrollments_many({}, NOW)
    assert store.enrollments(["c1", "c2", "c3"]) == {"c1": two, "c3": (enrollment("c3", 1),)}


def test_a_batch_of_contacts_updates_only_what_changed(store: Store) -> None:
    """upsert_contacts over a batch mixing new, changed and unchanged contacts: only the first two are marked;
    the referrals of a contact come back in id order."""
    first = [Contact(f"c{n}", f"N{n}", referred_by="r" if n % 2 else "") for n in range(6)]
    assert store.upsert_contacts(first, NOW) == [c.id for c in first]
    store.clear_needs_plan([c.id for c in first])
    again = [*first[:3], Contact("c3", "changed", referred_by="r"), *first[4:], Contact("c9", "new", referred_by="r")]
    assert store.upsert_contacts(list(reversed(again)), NOW + timedelta(hours=1)) == ["c9", "c3"]
    assert store.needs_plan() == ["c3", "c9"]
    assert [c.id for c in store.referrals_of(["r"])["r"]] == ["c1", "c3", "c5", "c9"]


def test_a_transaction_is_all_or_nothing(store: Store) -> None:
    """An error inside transaction() rolls back every write made in it, nested calls included."""
    with pytest.raises(RuntimeError), store.transaction():
        store.add_intent(make_task("c1", 0, run="r"), NOW)
        store.set_cursor("contacts", NOW, NOW)
        raise RuntimeError("crash")
    assert store.ledger(["pending"]) == [] and store.cursor("contacts") is None


def test_cursors_and_runs(store: Store) -> None:
    """Cursors round-trip; runs are logged with counts and listed newest first."""
    store.set_cursor("contacts", NOW, NOW)
    assert store.cursor("contacts") == NOW
    first = store.start_run(NOW)
    store.finish_run(first, NOW, "ok", {"created": 3})
    second = store.start_run(NOW + timedelta(hours=1))
    store.finish_run(second, NOW, "failed", {}, "boom")
    runs = store.runs()
    assert [r.id for r in runs] == [second, first]
    assert runs[1].counts == {"created": 3} and runs[0].error == "boom"


def test_rows_are_scoped_by_account(location: StateLocation) -> None:
    """Two accounts sharing a state never see each other's rows."""
    a = open_store(location, "portal-a")
    b = open_store(location, "portal-b")
    a.add_intent(make_task("c1", run="r"), NOW)
    a.set_cursor("contacts", NOW, NOW)
    assert b.ledger(["pending"]) == [] and b.cursor("contacts") is None
    a.close()
    b.close()


def test_a_snapshot_never_writes_to_the_file(tmp_path: Path) -> None:
    """snapshot() reads the state into memory: writes to it vanish and a missing file is not created."""
    path = tmp_path / "s.sqlite"
    snap = SQLiteStore.snapshot(path, "a")
    snap.add_intent(make_task("c1", run="r"), NOW)
    snap.close()
    assert not path.exists()
    real = SQLiteStore.open(path, "a")
    real.set_cursor("contacts", NOW, NOW)
    snap = SQLiteStore.snapshot(path, "a")
    assert snap.cursor("contacts") == NOW
    snap.set_cursor("contacts", NOW + timedelta(days=1), NOW)
    snap.close()
    assert real.cursor("contacts") == NOW
    real.close()


def test_ledger_row_payload_round_trips(store: Store) -> None:
    """The recorded payload rebuilds the exact CreateTask that was planned."""
    task = make_task("c1", 3, run="r")
    store.add_intent(task, NOW)
    row = store.get(task.key)
    assert isinstance(row, LedgerRow) and row.task == task and row.due_at == task.due_at


def test_retryable_failures_stay_pending_and_refusals_are_failed(store: Store) -> None:
    """A create that keeps failing retryably stays pending however often it fails (it is sent again after a
    back-off, never parked for good); one the CRM refuses is `failed`, with its error kept for the report."""
    task, refused = make_task("c1", run="r"), make_task("c2", run="r")
    store.add_intent(task, NOW)
    store.add_intent(refused, NOW)
    for _ in range(25):
        store.mark_sending([task.key], NOW)
        store.record_creates([WriteResult(task.key, False, error="503", retryable=True)], NOW)
    row = store.get(task.key)
    assert (row.status, row.attempts, row.last_error) == ("pending", 25, "503")
    store.mark_sending([refused.key], NOW)
    store.record_creates([WriteResult(refused.key, False, error="owner 7 does not exist")], NOW)
    row = store.get(refused.key)
    assert (row.status, row.attempts, row.last_error) == ("failed", 1, "owner 7 does not exist")


def test_a_run_left_running_by_a_killed_process_is_marked_crashed(store: Store) -> None:
    """The next run's start, holding the account's lock, marks an unfinished earlier run as crashed."""
    first = store.start_run(NOW)
    with store.exclusive_run():
        store.start_run(NOW + timedelta(hours=1))
    assert {r.id: r.status for r in store.runs()}[first] == "crashed"


def test_a_run_started_without_the_lock_marks_no_run_crashed(store: Store) -> None:
    """Without the account's lock another run may be alive: its run is left as it is."""
    first = store.start_run(NOW)
    store.start_run(NOW + timedelta(hours=1))
    assert {r.id: r.status for r in store.runs()}[first] == "running"


def test_one_run_per_account_at_a_time(location: StateLocation) -> None:
    """exclusive_run() is held by one store of an account at a time, whatever process; other accounts are free."""
    from connector.sync import LockHeld

    a1, a2, b = open_store(location, "portal-a"), open_store(location, "portal-a"), open_store(location, "portal-b")
    try:
        with a1.exclusive_run():
            with pytest.raises(LockHeld, match="another sync for account 'portal-a' is running"), a2.exclusive_run():
                pass
            with b.exclusive_run():
                pass
        with a2.exclusive_run():  # released at the end of the block
            pass
    finally:
        for s in (a1, a2, b):
            s.close()


def test_a_read_only_store_discards_every_write(location: StateLocation) -> None:
    """A store opened read-only (plan, status) sees the state and writes nothing to it."""
    real = open_store(location, "a")
    real.set_cursor("contacts", NOW, NOW)
    view = open_store(location, "a", read_only=True)
    assert view.read_only and view.cursor("contacts") == NOW
    view.set_cursor("contacts", NOW + timedelta(days=1), NOW)
    view.add_intent(make_task("c1", run="r"), NOW)
    run = view.start_run(NOW, plan_only=True)
    view.finish_run(run, NOW, "planned", {})
    view.close()
    assert real.cursor("contacts") == NOW and real.ledger(["pending"]) == []
    real.close()


def test_owners_are_cached_for_an_hour(store: Store) -> None:
    """Owners cached by a run come back (days off included) until they are an hour old, then not."""
    from datetime import date

    from sequences.records import Owner

    now = datetime(2026, 3, 2, 14, tzinfo=timezone.utc)
    owners = [Owner("o1", "Dana", "W", "dana@example.com", "Europe/London", frozenset({date(2026, 3, 6)}))]
    assert store.cached_owners(timedelta(hours=1), now) is None
    store.cache_owners(owners, now)
    assert store.cached_owners(timedelta(hours=1), now + timedelta(minutes=59)) == owners
    assert store.cached_owners(timedelta(hours=1), now + timedelta(minutes=61)) is None
