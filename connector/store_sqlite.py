"""The embedded state store: one SQLite file beside the config (`cadence-state.sqlite`).

WAL journal, `synchronous=FULL` (a committed `created` must survive a power cut, or the
next run could create a task twice), explicit `BEGIN IMMEDIATE` for every write.

This module opens the file (and its run lock), runs transactions and keeps cursors, runs and
cached records; the queries are grouped by concern in connector/store_sql.py (contacts,
enrollments) and connector/store_ledger.py (the task ledger); the schema's versions are in
connector/store_migrations.py (a fresh file is built from connector/schema.py).

SQLite only works reliably on a local disk; on a network file system use PostgreSQL.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sequences.records import Owner

from .runlock import RunLock
from .statefile import check_state_file, damaged, readable_copy, unwritable_folder
from .store import BadStateFile, RunRecord, StateFileError, from_ts, stamp, ts
from .store_ledger import LedgerQueries
from .store_migrations import migrate
from .store_sql import ContactQueries, read_cached, write_cached

log = logging.getLogger(__name__)

STATE_FILE = "cadence-state.sqlite"


def _copy_into(path: Path, memory: sqlite3.Connection) -> None:
    source = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, timeout=10.0)
    try:
        source.backup(memory)
    finally:
        source.close()


class SQLiteStore(ContactQueries, LedgerQueries):
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
        check_state_file(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            lock = cls._run_lock(path, account) if exclusive else None
        except (PermissionError, FileNotFoundError, NotADirectoryError) as exc:
            raise unwritable_folder(path, exc) from None
        except OSError as exc:
            if exc.errno != errno.EROFS:
                raise
            raise unwritable_folder(path, exc) from None
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
        lock = RunLock.for_state(path, account)
        lock.acquire(account)
        return lock

    @classmethod
    def _open_file(cls, path: Path, account: str) -> SQLiteStore:
        try:
            return cls._connect_file(path, account)
        except sqlite3.OperationalError as exc:
            if "readonly" in str(exc) or "unable to open" in str(exc):
                raise unwritable_folder(path, OSError(str(exc))) from None
            raise
        except sqlite3.DatabaseError as exc:  # passed the header check, and still not readable
            raise damaged(path, exc) from None
        except BadStateFile:
            raise
        except StateFileError as exc:  # e.g. written by a newer crm-cadence
            raise BadStateFile(f"{path}: {exc}") from None

    @classmethod
    def _connect_file(cls, path: Path, account: str) -> SQLiteStore:
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
        check_state_file(path)
        try:
            if path.exists() and path.stat().st_size:
                try:
                    _copy_into(path, memory)
                except sqlite3.OperationalError:  # a read-only folder: SQLite cannot make the WAL's -shm there
                    with readable_copy(path) as copy:
                        _copy_into(copy, memory)
            store = cls(memory, account, label=f"{path} (read-only copy)")
        except sqlite3.DatabaseError as exc:
            raise damaged(path, exc) from None
        except BadStateFile:
            raise
        except StateFileError as exc:  # e.g. written by a newer crm-cadence
            raise BadStateFile(f"{path}: {exc}") from None
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

    def _qmany(self, sql: str, seq_of_params: Iterable[Sequence[Any]]) -> int:
        """`sql` once per parameter row, in sqlite3's own loop; the rows changed in all."""
        rows = list(seq_of_params)
        if not rows:
            return 0
        return self.db.executemany(sql, rows).rowcount

    # -- cursors and runs
    def cached_owners(self, max_age: timedelta, now: datetime) -> list[Owner] | None:
        r = read_cached(self, "owners")
        if r is None or now - stamp(r["updated_at"]) > max_age or stamp(r["updated_at"]) > now:
            return None
        return [Owner(**{**item, "days_off": frozenset(date.fromisoformat(d) for d in item["days_off"])})
                for item in json.loads(r["data"])]

    def cache_owners(self, owners: Sequence[Owner], now: datetime) -> None:
        write_cached(self, "owners", [{"id": o.id, "first_name": o.first_name, "last_name": o.last_name,
                                        "email": o.email, "timezone": o.timezone,
                                        "days_off": sorted(d.isoformat() for d in o.days_off)} for o in owners], now)

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
