"""The embedded state store: one SQLite file beside the config (`cadence-state.sqlite`).

WAL journal, `synchronous=FULL` (a committed `created` must survive a power cut, or the
next run could create a task twice), explicit `BEGIN IMMEDIATE` for every write, and
schema migrations as small numbered functions applied in order.

SQLite only works reliably on a local disk; on a network file system use PostgreSQL.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sequences.records import CloseTask, Contact, CreateTask, Enrollment, Owner, TaskState, TaskStatus

from .store import (
    CLOSED,
    PENDING,
    UNKNOWN,
    LedgerRow,
    RunRecord,
    StateFileError,
    contact_from_json,
    enrollment_from_json,
    from_ts,
    record_json,
    stamp,
    ts,
)

log = logging.getLogger(__name__)

STATE_FILE = "cadence-state.sqlite"
MAX_ATTEMPTS = 10  # retryable create failures before a task is parked as `failed`

# ---------------------------------------------------------------------------- migrations

MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {}


def migration(version: int) -> Callable[[Callable[[sqlite3.Connection], None]], Callable[[sqlite3.Connection], None]]:
    """Register a schema change; they run in version order, each in the same transaction as the version bump."""

    def register(fn: Callable[[sqlite3.Connection], None]) -> Callable[[sqlite3.Connection], None]:
        if version in MIGRATIONS:
            raise ValueError(f"migration {version} is defined twice")
        MIGRATIONS[version] = fn
        return fn

    return register


def _run_script(db: sqlite3.Connection, script: str) -> None:
    """Execute statements one by one (executescript would commit the open transaction)."""
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


@migration(1)
def _initial_schema(db: sqlite3.Connection) -> None:
    _run_script(
        db,
        """
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
    )


@migration(2)
def _v2_cached_records(db: sqlite3.Connection) -> None:
    """Small records kept between runs (the CRM's owners), with when they were read."""
    _run_script(
        db,
        """
        CREATE TABLE cached (
            account TEXT NOT NULL, name TEXT NOT NULL, data TEXT NOT NULL, updated_at TEXT NOT NULL,
            PRIMARY KEY (account, name)
        );
        """
    )


@migration(3)
def _v3_pacing(db: sqlite3.Connection) -> None:
    """Pacing and the horizon: when an enrollment whose next task waits in state wakes, and
    the enrollment queue (position and the owner whose capacity it waits for)."""
    _run_script(
        db,
        """
        ALTER TABLE enrollments ADD COLUMN wake_at TEXT;
        ALTER TABLE enrollments ADD COLUMN queue_key TEXT NOT NULL DEFAULT '';
        ALTER TABLE enrollments ADD COLUMN queue_owner TEXT NOT NULL DEFAULT '';
        CREATE INDEX enrollments_queue ON enrollments (account, status, queue_owner, queue_key);
        """
    )


def migrate(db: sqlite3.Connection) -> int:
    """Bring the schema up to date; return the version. Each step commits with its version bump."""
    db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = db.execute("SELECT max(version) FROM schema_version").fetchone()
    current = row[0] or 0
    latest = max(MIGRATIONS)
    if current > latest:
        raise StateFileError(f"the state file has schema version {current}, newer than this crm-cadence ({latest}): "
                             "upgrade crm-cadence, or point `state:` at another file")
    for version in sorted(v for v in MIGRATIONS if v > current):
        db.execute("BEGIN IMMEDIATE")
        try:
            if (db.execute("SELECT max(version) FROM schema_version").fetchone()[0] or 0) < version:
                MIGRATIONS[version](db)
                db.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    return latest


# ----------------------------------------------------------------------------- helpers


def _chunks(items: Iterable[str], size: int = 500) -> Iterator[list[str]]:
    batch: list[str] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _marks(n: int) -> str:
    return ",".join("?" * n)


_LEDGER_COLUMNS = (
    "key, contact_id, owner_id, status, crm_id, attempts, last_error, payload, due_at, sent_at, "
    "crm_status, completed_at, outcome, note, close_reason, created_at, updated_at"
)


def _ledger_row(r: sqlite3.Row) -> LedgerRow:
    return LedgerRow(
        key=r["key"], contact_id=r["contact_id"], owner_id=r["owner_id"], status=r["status"],
        crm_id=r["crm_id"], attempts=r["attempts"], last_error=r["last_error"], payload=r["payload"],
        due_at=from_ts(r["due_at"]), sent_at=from_ts(r["sent_at"]), crm_status=r["crm_status"],
        completed_at=from_ts(r["completed_at"]), outcome=r["outcome"], note=r["note"],
        close_reason=r["close_reason"], created_at=from_ts(r["created_at"]), updated_at=from_ts(r["updated_at"]),
    )


# ------------------------------------------------------------------------------- store


class SQLiteStore:
    """`connector.store.Store` on one SQLite file (or an in-memory copy of one)."""

    _BEGIN = "BEGIN IMMEDIATE"  # takes the write lock at once: no deadlock upgrading a reader

    def __init__(self, db: sqlite3.Connection, account: str, *, label: str = ":memory:"):
        self.db = db
        self.account = account
        self.label = label
        self._depth = 0
        self.read_only = False  # a snapshot: writes reach only the in-memory copy
        self.path: Path | None = None  # the state file (None: in memory)
        self._locked = False  # this store holds the account's run lock
        self._held: Any = None  # the run lock taken by open(exclusive=True), released by close()
        db.row_factory = sqlite3.Row
        self.schema_version = migrate(db)

    # -- opening
    @classmethod
    def open(cls, path: str | Path, account: str, *, exclusive: bool = False) -> SQLiteStore:
        """Open (creating if needed) the state file for writing. `exclusive`: take the account's run
        lock first (before the file is touched) and hold it until close(); LockHeld if another run has it."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = cls._run_lock(path, account) if exclusive else None
        try:
            store = cls._open_file(path, account)
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        store._held, store._locked = lock, lock is not None
        return store

    @staticmethod
    def _run_lock(path: Path, account: str) -> Any:
        from .runlock import RunLock

        lock = RunLock.for_state(path, account)
        lock.acquire(account)
        return lock

    @classmethod
    def _open_file(cls, path: Path, account: str) -> SQLiteStore:
        db = sqlite3.connect(path, isolation_level=None, timeout=10.0, check_same_thread=False)
        db.execute("PRAGMA busy_timeout = 10000")
        mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            log.warning("state file %s: WAL mode unavailable (%s); is it on a network file system?", path, mode)
        db.execute("PRAGMA synchronous = FULL")
        db.execute("PRAGMA foreign_keys = ON")
        store = cls(db, account, label=str(path))
        store.path = path
        return store

    @classmethod
    def snapshot(cls, path: str | Path, account: str) -> SQLiteStore:
        """A private in-memory copy of the state file: read and 'write' freely, nothing reaches the file.

        Used by `cadence plan` and `cadence status`. A missing file gives an empty state
        (and is not created).
        """
        memory = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        path = Path(path)
        if path.exists():
            source = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, timeout=10.0)
            try:
                source.backup(memory)
            finally:
                source.close()
        store = cls(memory, account, label=f"{path} (read-only copy)")
        store.read_only = True
        return store

    def close(self) -> None:
        self.db.close()
        if self._held is not None:
            self._held.release()
            self._held, self._locked = None, False

    @contextlib.contextmanager
    def exclusive_run(self) -> Iterator[None]:
        """The account's single-runner lock: an OS file lock beside the state file, held for the
        block (released by the OS if the process dies). Raises LockHeld when another run holds it."""
        if self._held is not None:  # opened exclusive: held until close()
            yield
            return
        if self.path is None:
            raise StateFileError("a run lock needs a state file (this store is an in-memory copy)")
        lock = self._run_lock(self.path, self.account)
        self._locked = True
        try:
            yield
        finally:
            self._locked = False
            lock.release()

    # -- transactions
    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN ... COMMIT (ROLLBACK on error); nested calls join the outer one."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self.db.execute(self._BEGIN)
        self._depth = 1
        try:
            yield
        except BaseException:
            self._depth = 0
            self.db.execute("ROLLBACK")
            raise
        self._depth = 0
        self.db.execute("COMMIT")

    def _q(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self.db.execute(sql, params)

    # -- contacts cache
    def upsert_contacts(self, contacts: Sequence[Contact], now: datetime) -> list[str]:
        changed: list[str] = []
        with self.transaction():
            existing: dict[str, str] = {}
            for ids in _chunks([c.id for c in contacts]):
                for r in self._q(f"SELECT id, data FROM contacts WHERE account=? AND id IN ({_marks(len(ids))})", [self.account, *ids]):
                    existing[r["id"]] = r["data"]
            seen = ts(now)
            for contact in contacts:
                data = record_json(contact)
                if existing.get(contact.id) == data:
                    self._q("UPDATE contacts SET seen_at=? WHERE account=? AND id=?", (seen, self.account, contact.id))
                    continue
                changed.append(contact.id)
                self._q(
                    "INSERT INTO contacts (account, id, data, referred_by, needs_plan, seen_at) VALUES (?,?,?,?,1,?) "
                    "ON CONFLICT (account, id) DO UPDATE SET data=excluded.data, referred_by=excluded.referred_by, "
                    "needs_plan=1, seen_at=excluded.seen_at",
                    (self.account, contact.id, data, contact.referred_by, seen),
                )
        return changed

    def contacts(self, ids: Iterable[str]) -> dict[str, Contact]:
        found: dict[str, Contact] = {}
        for chunk in _chunks(ids):
            for r in self._q(f"SELECT id, data FROM contacts WHERE account=? AND id IN ({_marks(len(chunk))})", [self.account, *chunk]):
                found[r["id"]] = contact_from_json(r["data"])
        return found

    def referrals_of(self, ids: Iterable[str]) -> dict[str, list[Contact]]:
        found: dict[str, list[Contact]] = {}
        for chunk in _chunks(ids):
            rows = self._q(
                f"SELECT referred_by, data FROM contacts WHERE account=? AND referred_by IN ({_marks(len(chunk))}) ORDER BY id",
                [self.account, *chunk],
            )
            for r in rows:
                found.setdefault(r["referred_by"], []).append(contact_from_json(r["data"]))
        return found

    def mark_needs_plan(self, ids: Iterable[str]) -> None:
        with self.transaction():
            for chunk in _chunks(ids):
                self._q(f"UPDATE contacts SET needs_plan=1 WHERE account=? AND id IN ({_marks(len(chunk))})", [self.account, *chunk])

    def needs_plan(self, after: str = "", limit: int = 500) -> list[str]:
        rows = self._q(
            "SELECT id FROM contacts WHERE account=? AND needs_plan=1 AND id>? ORDER BY id LIMIT ?",
            (self.account, after, limit),
        )
        return [r["id"] for r in rows]

    def clear_needs_plan(self, ids: Iterable[str]) -> None:
        with self.transaction():
            for chunk in _chunks(ids):
                self._q(f"UPDATE contacts SET needs_plan=0 WHERE account=? AND id IN ({_marks(len(chunk))})", [self.account, *chunk])

    # -- enrollments
    def enrollments(self, ids: Iterable[str]) -> dict[str, tuple[Enrollment, ...]]:
        found: dict[str, list[Enrollment]] = {}
        for chunk in _chunks(ids):
            rows = self._q(
                f"SELECT contact_id, data FROM enrollments WHERE account=? AND contact_id IN ({_marks(len(chunk))}) ORDER BY contact_id, seq",
                [self.account, *chunk],
            )
            for r in rows:
                found.setdefault(r["contact_id"], []).append(enrollment_from_json(r["data"]))
        return {k: tuple(v) for k, v in found.items()}

    def all_enrollments(self) -> Iterator[Enrollment]:
        """Every enrollment of the account, in (contact, seq) order: for reports."""
        for r in self._q("SELECT data FROM enrollments WHERE account=? ORDER BY contact_id, seq", (self.account,)):
            yield enrollment_from_json(r["data"])

    def put_enrollments(self, contact_id: str, enrollments: Sequence[Enrollment], now: datetime) -> None:
        with self.transaction():
            self._q("DELETE FROM enrollments WHERE account=? AND contact_id=?", (self.account, contact_id))
            for e in enrollments:
                self._q(
                    "INSERT INTO enrollments (account, contact_id, seq, cadence_id, version, status, step_index, "
                    "open_task_key, snoozed_until, reason, data, updated_at, wake_at, queue_key, queue_owner) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (self.account, contact_id, e.seq, e.cadence_id, e.version, e.status.value, e.step_index,
                     e.open_task_key, ts(e.snoozed_until), e.reason, record_json(e), ts(now), ts(e.wake_at),
                     e.queue_key, e.owner_id),
                )

    def mark_due(self, now: datetime) -> int:
        with self.transaction():
            cur = self._q(
                "UPDATE contacts SET needs_plan=1 WHERE account=? AND needs_plan=0 AND id IN ("
                " SELECT contact_id FROM enrollments WHERE account=? AND ("
                "  (status='snoozed' AND snoozed_until<=?) OR "
                "  (status='active' AND open_task_key='' AND (wake_at IS NULL OR wake_at<=?))))",
                (self.account, self.account, ts(now), ts(now)),
            )
            return cur.rowcount

    def enrollment_summary(self) -> list[dict[str, Any]]:
        rows = self._q(
            "SELECT cadence_id, version, step_index, status, "
            " CASE WHEN status IN ('exited','finished') THEN reason ELSE '' END AS reason, count(*) AS n "
            "FROM enrollments WHERE account=? GROUP BY 1,2,3,4,5 ORDER BY 1,2,4,3,5",
            (self.account,),
        )
        return [dict(r) for r in rows]

    # -- ledger
    def add_intent(self, task: CreateTask, now: datetime) -> bool:
        with self.transaction():
            cur = self._q(
                "INSERT INTO tasks (account, key, contact_id, owner_id, status, payload, due_at, created_at, updated_at) "
                "VALUES (?,?,?,?,'pending',?,?,?,?) ON CONFLICT (account, key) DO NOTHING",
                (self.account, task.key, task.contact_id, task.owner_id, record_json(task), ts(task.due_at), ts(now), ts(now)),
            )
            return cur.rowcount == 1

    def request_close(self, close: CloseTask, now: datetime) -> bool:
        with self.transaction():
            cur = self._q(
                "UPDATE tasks SET close_reason=?, updated_at=? WHERE account=? AND key=? AND status!='closed'",
                (close.reason or "closed", ts(now), self.account, close.key),
            )
            return cur.rowcount == 1

    def tasks_of(self, contact_ids: Iterable[str]) -> dict[str, list[LedgerRow]]:
        found: dict[str, list[LedgerRow]] = {}
        for chunk in _chunks(contact_ids):
            rows = self._q(
                f"SELECT {_LEDGER_COLUMNS} FROM tasks WHERE account=? AND contact_id IN ({_marks(len(chunk))}) ORDER BY contact_id, created_at, key",
                [self.account, *chunk],
            )
            for r in rows:
                found.setdefault(r["contact_id"], []).append(_ledger_row(r))
        return found

    def ledger(self, statuses: Sequence[str], *, limit: int | None = None, after: str = "") -> list[LedgerRow]:
        sql = f"SELECT {_LEDGER_COLUMNS} FROM tasks WHERE account=? AND status IN ({_marks(len(statuses))}) AND key>? ORDER BY key"
        params: list[Any] = [self.account, *statuses, after]
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [_ledger_row(r) for r in self._q(sql, params)]

    def get(self, key: str) -> LedgerRow | None:
        r = self._q(f"SELECT {_LEDGER_COLUMNS} FROM tasks WHERE account=? AND key=?", (self.account, key)).fetchone()
        return _ledger_row(r) if r else None

    def closes_due(self, *, limit: int, after: str = "") -> list[LedgerRow]:
        rows = self._q(
            f"SELECT {_LEDGER_COLUMNS} FROM tasks WHERE account=? AND close_reason!='' AND status!='closed' AND key>? ORDER BY key LIMIT ?",
            (self.account, after, limit),
        )
        return [_ledger_row(r) for r in rows]

    def mark_sending(self, keys: Sequence[str], now: datetime) -> None:
        with self.transaction():
            for chunk in _chunks(keys):
                self._q(
                    f"UPDATE tasks SET status='unknown', sent_at=?, updated_at=? WHERE account=? AND key IN ({_marks(len(chunk))})",
                    [ts(now), ts(now), self.account, *chunk],
                )

    def record_creates(self, results: Sequence[Any], now: datetime) -> None:
        with self.transaction():
            for res in results:
                if res.ok:
                    self._q(
                        "UPDATE tasks SET status='created', crm_id=?, crm_status=CASE WHEN crm_status='' THEN 'open' ELSE crm_status END, "
                        "last_error='', updated_at=? WHERE account=? AND key=?",
                        (res.crm_id, ts(now), self.account, res.key),
                    )
                elif res.unknown:
                    self._q(
                        "UPDATE tasks SET status='unknown', last_error=?, updated_at=? WHERE account=? AND key=?",
                        (res.error, ts(now), self.account, res.key),
                    )
                else:  # a retryable failure is retried up to MAX_ATTEMPTS times, then parked as failed
                    self._q(
                        "UPDATE tasks SET status=CASE WHEN ?=1 AND attempts+1<? THEN 'pending' ELSE 'failed' END, "
                        "attempts=attempts+1, last_error=?, updated_at=? WHERE account=? AND key=?",
                        (int(res.retryable), MAX_ATTEMPTS, res.error, ts(now), self.account, res.key),
                    )

    def record_closes(self, results: Sequence[Any], now: datetime) -> None:
        with self.transaction():
            for res in results:
                if res.ok:
                    self._q(
                        "UPDATE tasks SET status='closed', crm_status=CASE WHEN crm_status='completed' THEN 'completed' ELSE 'deleted' END, "
                        "last_error='', updated_at=? WHERE account=? AND key=?",
                        (ts(now), self.account, res.key),
                    )
                elif res.retryable or res.unknown:
                    self._q(
                        "UPDATE tasks SET attempts=attempts+1, last_error=?, updated_at=? WHERE account=? AND key=?",
                        (res.error, ts(now), self.account, res.key),
                    )
                else:
                    self._q(
                        "UPDATE tasks SET close_reason='', last_error=?, updated_at=? WHERE account=? AND key=?",
                        (f"close failed: {res.error}", ts(now), self.account, res.key),
                    )

    def resolve(self, found: Mapping[str, str], missing: Iterable[str], now: datetime) -> None:
        with self.transaction():
            for key, crm_id in found.items():
                self._q(
                    "UPDATE tasks SET status='created', crm_id=?, crm_status=CASE WHEN crm_status='' THEN 'open' ELSE crm_status END, "
                    "updated_at=? WHERE account=? AND key=? AND status='unknown'",
                    (crm_id, ts(now), self.account, key),
                )
            for chunk in _chunks(missing):
                self._q(
                    f"UPDATE tasks SET status='pending', updated_at=? WHERE account=? AND status='unknown' AND key IN ({_marks(len(chunk))})",
                    [ts(now), self.account, *chunk],
                )

    def close_unsent(self, keys: Iterable[str], now: datetime) -> None:
        with self.transaction():
            for chunk in _chunks(keys):
                self._q(
                    f"UPDATE tasks SET status='closed', crm_status='deleted', updated_at=? WHERE account=? AND status='pending' AND key IN ({_marks(len(chunk))})",
                    [ts(now), self.account, *chunk],
                )

    def live_contact_ids(self) -> list[str]:
        rows = self._q("SELECT DISTINCT contact_id FROM enrollments WHERE account=? AND status IN ('active','snoozed') "
                       "ORDER BY contact_id", (self.account,))
        return [r["contact_id"] for r in rows]

    def open_task_ids(self) -> dict[str, str]:
        rows = self._q("SELECT key, crm_id FROM tasks WHERE account=? AND status='created' AND crm_status='open'", (self.account,))
        return {r["key"]: r["crm_id"] for r in rows}

    def apply_task_states(self, states: Iterable[TaskState], now: datetime) -> set[str]:
        changed: set[str] = set()
        with self.transaction():
            for state in states:
                r = self._q(
                    "SELECT contact_id, status, crm_id, crm_status, completed_at, outcome, note FROM tasks WHERE account=? AND key=?",
                    (self.account, state.key),
                ).fetchone()
                if r is None:
                    continue  # not crm-cadence's task (or not this account's)
                completed = state.completed_at if state.status is TaskStatus.COMPLETED else None
                if r["completed_at"] and completed is not None:
                    completed = min(completed, stamp(r["completed_at"]))  # first seen wins
                new = (state.status.value, ts(completed), state.outcome.value if state.outcome else "", state.note)
                old = (r["crm_status"], r["completed_at"], r["outcome"], r["note"])
                adopt = r["status"] in (PENDING, UNKNOWN) and state.crm_id
                if new == old and not adopt:
                    continue
                if r["status"] != CLOSED:  # a closed task's later states are the echo of our own close
                    changed.add(r["contact_id"])
                self._q(
                    "UPDATE tasks SET crm_status=?, completed_at=?, outcome=?, note=?, updated_at=?, "
                    "status=CASE WHEN status IN ('pending','unknown') THEN 'created' ELSE status END, "
                    "crm_id=CASE WHEN crm_id='' THEN ? ELSE crm_id END WHERE account=? AND key=?",
                    (*new, ts(now), state.crm_id, self.account, state.key),
                )
        return changed

    def task_load(self, since: datetime) -> Iterator[tuple[str, datetime]]:
        rows = self._q(
            "SELECT owner_id, due_at FROM tasks WHERE account=? AND due_at>=? AND ("
            " crm_status='completed' OR (close_reason='' AND "
            "  (status IN ('pending','unknown') OR (status='created' AND crm_status='open'))))",
            (self.account, ts(since)),
        )
        for r in rows:
            yield r["owner_id"], stamp(r["due_at"])

    def queued_contacts(self, per_owner: int) -> list[str]:
        rows = self._q(
            "SELECT contact_id FROM (SELECT contact_id, queue_key, ROW_NUMBER() OVER "
            " (PARTITION BY queue_owner ORDER BY queue_key) AS n FROM enrollments WHERE account=? AND status='queued') AS queue "
            "WHERE n<=? ORDER BY queue_key",
            (self.account, per_owner),
        )
        return list(dict.fromkeys(r["contact_id"] for r in rows))

    def pacing_summary(self) -> dict[str, Any]:
        row = self._q(
            "SELECT sum(CASE WHEN status='queued' THEN 1 ELSE 0 END) AS queued, "
            " sum(CASE WHEN status='active' AND open_task_key='' AND wake_at IS NOT NULL THEN 1 ELSE 0 END) AS planned, "
            " min(CASE WHEN status='active' AND open_task_key='' THEN wake_at END) AS next_wake, "
            " sum(CASE WHEN reason LIKE 'unreachable:%' THEN 1 ELSE 0 END) AS unreachable "
            "FROM enrollments WHERE account=?",
            (self.account,),
        ).fetchone()
        by_owner = self._q(
            "SELECT queue_owner, count(*) AS n FROM enrollments WHERE account=? AND status='queued' GROUP BY 1 ORDER BY 1",
            (self.account,),
        )
        return {"queued": row["queued"] or 0, "planned": row["planned"] or 0, "next_wake": from_ts(row["next_wake"]),
                "unreachable": row["unreachable"] or 0, "queued_by_owner": {r["queue_owner"]: r["n"] for r in by_owner}}

    def task_summary(self, now: datetime) -> list[dict[str, Any]]:
        rows = self._q(
            "SELECT owner_id, "
            " sum(CASE WHEN status='created' AND crm_status='open' THEN 1 ELSE 0 END) AS open, "
            " sum(CASE WHEN status='created' AND crm_status='open' AND due_at<? THEN 1 ELSE 0 END) AS overdue, "
            " sum(CASE WHEN status IN ('pending','unknown') THEN 1 ELSE 0 END) AS unsent, "
            " sum(CASE WHEN status='failed' THEN 1 ELSE 0 END) AS failed, "
            " sum(CASE WHEN crm_status='completed' THEN 1 ELSE 0 END) AS done "
            "FROM tasks WHERE account=? GROUP BY owner_id ORDER BY owner_id",
            (ts(now), self.account),
        )
        return [dict(r) for r in rows]

    # -- cursors and runs
    def cached_owners(self, max_age: timedelta, now: datetime) -> list[Owner] | None:
        r = self._q("SELECT data, updated_at FROM cached WHERE account=? AND name='owners'", (self.account,)).fetchone()
        if r is None or now - stamp(r["updated_at"]) > max_age or stamp(r["updated_at"]) > now:
            return None
        return [Owner(**{**item, "days_off": frozenset(date.fromisoformat(d) for d in item["days_off"])})
                for item in json.loads(r["data"])]

    def cache_owners(self, owners: Sequence[Owner], now: datetime) -> None:
        with self.transaction():
            self._q(
                "INSERT INTO cached (account, name, data, updated_at) VALUES (?, 'owners', ?, ?) "
                "ON CONFLICT (account, name) DO UPDATE SET data=excluded.data, updated_at=excluded.updated_at",
                (self.account, json.dumps([{"id": o.id, "first_name": o.first_name, "last_name": o.last_name,
                                             "email": o.email, "timezone": o.timezone,
                                             "days_off": sorted(d.isoformat() for d in o.days_off)} for o in owners]),
                 ts(now)),
            )

    def cursor(self, name: str) -> datetime | None:
        r = self._q("SELECT value FROM cursors WHERE account=? AND name=?", (self.account, name)).fetchone()
        return from_ts(r["value"]) if r else None

    def set_cursor(self, name: str, value: datetime, now: datetime) -> None:
        with self.transaction():
            self._q(
                "INSERT INTO cursors (account, name, value, updated_at) VALUES (?,?,?,?) "
                "ON CONFLICT (account, name) DO UPDATE SET value=excluded.value, updated_at=excluded.updated_at",
                (self.account, name, ts(value), ts(now)),
            )

    def start_run(self, now: datetime, *, plan_only: bool = False) -> int:
        """Log a run's start. Runs still 'running' are marked 'crashed' (left by a killed process) only
        while this store holds the account's run lock: then no other run can be going."""
        with self.transaction():
            if not plan_only and self._locked:
                self._q("UPDATE runs SET status='crashed' WHERE account=? AND status='running' AND plan_only=0", (self.account,))
            cur = self._q(
                "INSERT INTO runs (account, started_at, status, plan_only) VALUES (?,?,'running',?)",
                (self.account, ts(now), int(plan_only)),
            )
            assert cur.lastrowid is not None  # an INSERT always sets it
            return cur.lastrowid

    def finish_run(self, run_id: int, ended: datetime, status: str, counts: Mapping[str, Any], error: str = "") -> None:
        with self.transaction():
            self._q(
                "UPDATE runs SET ended_at=?, status=?, counts=?, error=? WHERE id=?",
                (ts(ended), status, json.dumps(dict(counts), sort_keys=True), error, run_id),
            )

    def runs(self, limit: int = 10) -> list[RunRecord]:
        rows = self._q(
            "SELECT id, started_at, ended_at, status, counts, error FROM runs WHERE account=? AND plan_only=0 ORDER BY id DESC LIMIT ?",
            (self.account, limit),
        )
        return [
            RunRecord(r["id"], stamp(r["started_at"]), from_ts(r["ended_at"]), r["status"], json.loads(r["counts"] or "{}"), r["error"])
            for r in rows
        ]


def state_path(loaded_config: Any) -> Path:
    """Where a config's state lives: `state:` (relative to the config) or cadence-state.sqlite beside it."""
    directory = Path(loaded_config.directory)
    named = loaded_config.config.state
    if named:
        return Path(named) if Path(named).is_absolute() else directory / named
    return directory / STATE_FILE
