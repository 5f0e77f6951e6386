"""The state's tables, defined once for every backend (SQLAlchemy Core metadata).

Each backend's DDL is generated from these definitions: SQLite for the embedded state
file, PostgreSQL for the shared state of a fleet. SQLAlchemy is used only to describe
tables and compile their DDL; the stores run their queries on their own driver
(sqlite3, psycopg), so the sync's hot path does not go through an ORM or an engine.

Timestamps are fixed-width UTC text (connector.store.ts) in both backends, so the
queries compare and sort them the same way.
"""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, Index, Integer, MetaData, Table, Text, and_, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.schema import CreateIndex, CreateTable

metadata = MetaData()


def _text(name: str, *, default: str | None = "", nullable: bool = False) -> Column[str]:
    """A text column; NOT NULL with a '' default unless said otherwise."""
    if default is None:
        return Column(name, Text, nullable=nullable)
    return Column(name, Text, nullable=nullable, server_default=text(f"'{default}'"))


enrollments = Table(
    "enrollments", metadata,
    Column("account", Text, primary_key=True), Column("contact_id", Text, primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("cadence_id", Text, nullable=False), Column("version", Integer, nullable=False),
    Column("status", Text, nullable=False), Column("step_index", Integer, nullable=False),
    _text("open_task_key"), _text("snoozed_until", default=None, nullable=True), _text("reason"),
    _text("data", default=None), _text("updated_at", default=None),
    # pacing and the horizon: when an enrollment whose next task waits in state wakes, and the
    # enrollment queue (position, and the owner whose capacity it waits for)
    _text("wake_at", default=None, nullable=True), _text("queue_key"), _text("queue_owner"),
)
Index("enrollments_by_status", enrollments.c.account, enrollments.c.status, enrollments.c.snoozed_until)
Index("enrollments_queue", enrollments.c.account, enrollments.c.status, enrollments.c.queue_owner, enrollments.c.queue_key)

tasks = Table(
    "tasks", metadata,
    Column("account", Text, primary_key=True), Column("key", Text, primary_key=True),
    Column("contact_id", Text, nullable=False), _text("owner_id"),
    Column("status", Text, nullable=False), _text("crm_id"),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    _text("last_error"), _text("payload", default=None), _text("due_at", default=None, nullable=True),
    _text("sent_at", default=None, nullable=True), _text("crm_status"),
    _text("completed_at", default=None, nullable=True), _text("outcome"), _text("note"), _text("close_reason"),
    _text("created_at", default=None), _text("updated_at", default=None),
    CheckConstraint("status IN ('pending','created','unknown','closed','failed')", name="tasks_status"),
)
Index("tasks_by_contact", tasks.c.account, tasks.c.contact_id)
Index("tasks_by_status", tasks.c.account, tasks.c.status, tasks.c.key)
# the closes still to send (`closes_due`, paged by key once per planned chunk): few rows, found without
# reading the ledger. The query repeats this WHERE word for word, so both engines can use the index.
_CLOSE_INTENDED = and_(tasks.c.close_reason != "", tasks.c.status != "closed")
Index("tasks_closes_due", tasks.c.account, tasks.c.key, sqlite_where=_CLOSE_INTENDED, postgresql_where=_CLOSE_INTENDED)

contacts = Table(
    "contacts", metadata,
    Column("account", Text, primary_key=True), Column("id", Text, primary_key=True),
    _text("data", default=None), _text("referred_by"),
    Column("needs_plan", Integer, nullable=False, server_default=text("0")),
    _text("seen_at", default=None),
)
Index("contacts_by_referrer", contacts.c.account, contacts.c.referred_by)
Index("contacts_needing_plan", contacts.c.account, contacts.c.id,
      sqlite_where=contacts.c.needs_plan == 1, postgresql_where=contacts.c.needs_plan == 1)

cursors = Table(
    "cursors", metadata,
    Column("account", Text, primary_key=True), Column("name", Text, primary_key=True),
    _text("value", default=None), _text("updated_at", default=None),
)

runs = Table(
    "runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account", Text, nullable=False),
    _text("started_at", default=None), _text("ended_at", default=None, nullable=True),
    Column("status", Text, nullable=False),
    Column("plan_only", Integer, nullable=False, server_default=text("0")),
    _text("counts", default="{}"), _text("error"),
    sqlite_autoincrement=True,
)

# small records kept between runs (the CRM's owners), with when they were read
cached = Table(
    "cached", metadata,
    Column("account", Text, primary_key=True), Column("name", Text, primary_key=True),
    _text("data", default=None), _text("updated_at", default=None),
)

DIALECTS: dict[str, Dialect] = {"sqlite": sqlite.dialect(), "postgresql": postgresql.dialect()}


def index_ddl(dialect: str, name: str) -> str:
    """The CREATE INDEX statement of one index of the schema (for the upgrades that add it)."""
    for table in metadata.sorted_tables:
        for index in table.indexes:
            if index.name == name:
                return str(CreateIndex(index).compile(dialect=DIALECTS[dialect])).strip()
    raise KeyError(name)


def ddl(dialect: str) -> list[str]:
    """CREATE TABLE and CREATE INDEX statements for the whole schema, in dependency order."""
    target = DIALECTS[dialect]
    statements: list[str] = []
    for table in metadata.sorted_tables:
        statements.append(str(CreateTable(table).compile(dialect=target)).strip())
        for index in sorted(table.indexes, key=lambda i: str(i.name)):
            statements.append(str(CreateIndex(index).compile(dialect=target)).strip())
    return statements
