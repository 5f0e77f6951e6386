"""The SQLite state file's schema versions: a fresh file, and the upgrades of older files.

A fresh file gets today's tables at once, from the one schema definition both stores share
(connector/schema.py), and records every version. A file written by an older crm-cadence
is brought up to date by the numbered upgrades below, applied in order, each in the same
transaction as its version bump. A new column or table goes into connector/schema.py AND
gets an upgrade here (tests/test_store.py checks that an upgraded old file and a fresh one
have the same tables, columns and indexes).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from . import schema
from .store import StateFileError

Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: dict[int, Migration] = {}


def migration(version: int) -> Callable[[Migration], Migration]:
    """Register a schema change; they run in version order, each in the same transaction as the version bump."""

    def register(fn: Migration) -> Migration:
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
def create_schema(db: sqlite3.Connection) -> None:
    """Version 1, the first tables. A file is never at version 0 except when fresh, and a fresh
    file gets the whole current schema from connector/schema.py (migrate() then records every version)."""
    for statement in schema.ddl("sqlite"):
        db.execute(statement)


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


@migration(4)
def _v4_closes_due_index(db: sqlite3.Connection) -> None:
    """The closes still to send, found through a partial index instead of a walk of the whole ledger
    (`closes_due` runs once per planned chunk: without it a first sync is quadratic in tasks)."""
    db.execute(schema.index_ddl("sqlite", "tasks_closes_due"))


def _version(db: sqlite3.Connection) -> int:
    return int(db.execute("SELECT max(version) FROM schema_version").fetchone()[0] or 0)


def migrate(db: sqlite3.Connection) -> int:
    """Bring the schema up to date; return the version. Each step commits with its version bump."""
    db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    current = _version(db)
    latest = max(MIGRATIONS)
    if current > latest:
        raise StateFileError(f"the state file has schema version {current}, newer than this crm-cadence ({latest}): "
                             "upgrade crm-cadence, or point `state:` at another file")
    if current == 0:
        _in_transaction(db, lambda: _create_fresh(db))
        return latest
    for version in sorted(v for v in MIGRATIONS if v > current):
        _in_transaction(db, lambda version=version: _upgrade(db, version))  # type: ignore[misc]
    return latest


def _create_fresh(db: sqlite3.Connection) -> None:
    if _version(db) == 0:  # another process may have created it meanwhile
        create_schema(db)
        db.executemany("INSERT INTO schema_version (version) VALUES (?)", [(v,) for v in sorted(MIGRATIONS)])


def _upgrade(db: sqlite3.Connection, version: int) -> None:
    if _version(db) < version:
        MIGRATIONS[version](db)
        db.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))


def _in_transaction(db: sqlite3.Connection, work: Callable[[], None]) -> None:
    db.execute("BEGIN IMMEDIATE")
    try:
        work()
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
