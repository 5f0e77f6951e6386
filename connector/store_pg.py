"""The shared state store: PostgreSQL, for a fleet of workers on several machines.

The tables come from connector/schema.py (the same definitions as the SQLite file's).
The queries are the SQLite store's own: they are written in the SQL both engines speak
(`ON CONFLICT ... DO UPDATE`, `CASE`, text timestamps), and only the placeholders are
translated (`?` -> `%s`). What differs is said here: how a connection is opened, what a
transaction is, how the schema is created and migrated (under an advisory lock, so two
workers starting together migrate once), the per-account run lock (a session-level
advisory lock, released by the server when the session dies), the plan's rolled-back
mode, and how a run's id comes back.

Driver: psycopg 3 (binary wheel). A password in the URL never appears in an error or a
log line: `safe_url` masks it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg.rows import dict_row

from . import schema
from .store import StateFileError, ts
from .store_sqlite import SQLiteStore

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2  # PostgreSQL schema versions (its own line: it starts at the SQLite file's latest tables)
# the upgrades of an older PostgreSQL state, by the version they bring it to (a fresh one gets today's
# schema from connector/schema.py at once); each runs in the migration's transaction, under its lock
UPGRADES: dict[int, tuple[str, ...]] = {
    2: (schema.index_ddl("postgresql", "tasks_closes_due"),),  # closes_due without a walk of the ledger
}
_LOCK_SPACE = 0x43414443  # 'CADC': the first key of every advisory lock crm-cadence takes
_MIGRATION_LOCK = 1


class StateUnavailable(StateFileError):
    """The PostgreSQL server named by `state:` cannot be reached or refuses the connection."""


def safe_url(url: str) -> str:
    """The URL with any password replaced by ***."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "postgresql://***"
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    user = parts.username or ""
    return urlunsplit((parts.scheme, f"{user}:***@{host}", parts.path, parts.query, parts.fragment))


def _account_key(account: str) -> int:
    """A stable signed 32-bit key for an account's advisory lock."""
    return int.from_bytes(hashlib.sha256(account.encode()).digest()[:4], "big", signed=True)


_PLACEHOLDER = re.compile(r"\?")


class _Translated(dict[str, str]):
    def __missing__(self, sql: str) -> str:
        value = _PLACEHOLDER.sub("%s", sql.replace("%", "%%"))
        self[sql] = value
        return value


_SQL = _Translated()


def connect(url: str) -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(url, autocommit=True, row_factory=dict_row, connect_timeout=10,
                               application_name="crm-cadence")
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StateUnavailable(f"cannot open the PostgreSQL state at {safe_url(url)}: {reason.replace(url, safe_url(url))}") from None


def migrate(db: psycopg.Connection[Any]) -> int:
    """Create or update the schema under a transaction-level advisory lock: workers that start
    together wait for the first one, then find the schema current and do nothing."""
    with db.transaction():
        db.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_LOCK_SPACE, _MIGRATION_LOCK))
        db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = db.execute("SELECT max(version) AS v FROM schema_version").fetchone()
        current = (row or {}).get("v") or 0
        if current > SCHEMA_VERSION:
            raise StateFileError(f"the PostgreSQL state has schema version {current}, newer than this crm-cadence "
                                 f"({SCHEMA_VERSION}): upgrade crm-cadence, or point `state:` at another database")
        if current == 0:
            for statement in schema.ddl("postgresql"):
                db.execute(statement)
            db.execute("INSERT INTO schema_version (version) VALUES (%s)", (SCHEMA_VERSION,))
            log.info("PostgreSQL state: schema created", extra={"version": SCHEMA_VERSION})
            return SCHEMA_VERSION
        for version in sorted(v for v in UPGRADES if v > current):
            for statement in UPGRADES[version]:
                db.execute(statement)
            db.execute("INSERT INTO schema_version (version) VALUES (%s)", (version,))
            log.info("PostgreSQL state: schema upgraded", extra={"version": version})
    return SCHEMA_VERSION


class PostgresStore(SQLiteStore):
    """`connector.store.Store` on PostgreSQL: the SQLite store's queries on a psycopg connection."""

    _BEGIN = "BEGIN"  # the transaction (nesting, rollback) is the SQLite store's

    def __init__(self, db: psycopg.Connection[Any], account: str, *, label: str, read_only: bool = False):
        self.db = db  # type: ignore[assignment]  # a psycopg connection where the parent holds sqlite3's
        self.account = account
        self.label = label
        self.read_only = read_only
        self._depth = 0
        self._locked = False
        self._held = False  # opened exclusive: the lock lives as long as the connection
        self.schema_version = migrate(db)
        if read_only:  # plan and status: everything in one transaction, rolled back at close
            db.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            self._depth = 1

    @classmethod
    def connect(cls, url: str, account: str, *, read_only: bool = False, exclusive: bool = False) -> PostgresStore:
        """Open the state; `exclusive`: take the account's run lock too, held until close()."""
        db = connect(url)
        try:
            store = cls(db, account, label=safe_url(url), read_only=read_only)
            if exclusive:
                store._acquire()
                store._held = True
            return store
        except BaseException:
            db.close()
            raise

    def close(self) -> None:
        with contextlib.suppress(psycopg.Error):
            if self.read_only:
                self.db.execute("ROLLBACK")
        self.db.close()  # ends the session: the server drops its advisory locks
        self._held = self._locked = False

    def _q(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.db.execute(_SQL[sql], params)

    def _qmany(self, sql: str, seq_of_params: Iterable[Sequence[Any]]) -> int:
        """`sql` once per parameter row in one psycopg `executemany`, which pipelines them (one round
        trip for the batch, not one per row); the rows changed in all (psycopg sums the rowcounts)."""
        rows = list(seq_of_params)
        if not rows:
            return 0
        db: psycopg.Connection[Any] = self.db  # type: ignore[assignment]  # see __init__
        with db.cursor() as cur:
            cur.executemany(_SQL[sql], rows)
            return cur.rowcount

    @contextlib.contextmanager
    def exclusive_run(self) -> Iterator[None]:
        """The account's single-runner lock: a session-level advisory lock, across every machine;
        the server drops it when this session ends, however the process died."""
        if self._held:
            yield
            return
        key = self._acquire()
        try:
            yield
        finally:
            self._locked = False
            with contextlib.suppress(psycopg.Error):
                self.db.execute("SELECT pg_advisory_unlock(%s, %s)", (_LOCK_SPACE, key))

    def _acquire(self) -> int:
        from .runlock import LockHeld

        key = _account_key(self.account)
        row = self.db.execute("SELECT pg_try_advisory_lock(%s, %s) AS ok", (_LOCK_SPACE, key)).fetchone()
        if not (row and row["ok"]):
            holder = self.db.execute(
                "SELECT a.pid, a.client_addr, a.backend_start FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.classid = %s AND l.objid = %s AND l.granted LIMIT 1",
                (_LOCK_SPACE & 0xFFFFFFFF, key & 0xFFFFFFFF),
            ).fetchone()
            who = f"PostgreSQL session {holder['pid']} from {holder['client_addr'] or 'a local socket'}" if holder else "another session"
            raise LockHeld(f"another sync for account {self.account!r} is running ({who}); state {self.label}")
        self._locked = True
        return key

    def start_run(self, now: datetime, *, plan_only: bool = False) -> int:
        """Log a run's start. Runs still 'running' are marked 'crashed' only while this session holds
        the account's lock: then no other live session can be running one."""
        with self.transaction():
            if not plan_only and self._locked:
                self._q("UPDATE runs SET status='crashed' WHERE account=? AND status='running' AND plan_only=0", (self.account,))
            row = self._q(
                "INSERT INTO runs (account, started_at, status, plan_only) VALUES (?,?,'running',?) RETURNING id",
                (self.account, ts(now), int(plan_only)),
            ).fetchone()
            return int(row["id"])
