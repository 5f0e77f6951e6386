"""Every query a sync runs on the state finds its rows through an index: no full scan of tasks,
contacts or enrollments, and no walk of a whole account's rows for a query that runs per chunk,
page or batch (that is what made `referrals_of` and `closes_due` quadratic in the account's size).

The statements are not listed by hand: they are captured from real syncs (the local CRM on files,
two runs a day apart with replies, completions and a deleted task between them, small planning
chunks), each with the store method that ran it, then explained on the state those syncs left:
`EXPLAIN QUERY PLAN` on SQLite (whose planner, without ANALYZE, does not look at the rows), and
`EXPLAIN (FORMAT JSON)` on PostgreSQL after an old account's history is added and analysed (its planner
reads statistics: on a table of a few pages it rightly prefers a sequential scan to any index).

A query may read a whole account through its index (`account=?` and nothing narrower) only if it
runs a fixed number of times per run; those few are named in ONCE_PER_RUN with the reason (on
PostgreSQL they may also be a sequential scan: the planner's choice when the account is the table).
"""

from __future__ import annotations

import csv
import json
import re
import sqlite3
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from support.local import LocalRecruiter, read_csv

import connector.sync
from connector.configfile import load_config
from connector.store import Store
from connector.sync import run_sync

MONDAY = datetime(2026, 3, 2, 13, 0, tzinfo=timezone.utc)  # 08:00 in New York
CONTACTS = 300
BIG_TABLES = ("tasks", "contacts", "enrollments")

# store methods (or their callers) whose query reads all of an account's rows through the account's index,
# and why that is linear:
ONCE_PER_RUN = {
    "task_load": "the capacity guard's input, read once per planning pass",
    "all_enrollments": "reports; the sync asks it for one row (is the state new?) once per run",
    "mark_due": "once per run, after the task changes are read",
    "open_task_ids": "the task read and the sweep, once each per run (most of an old ledger is created tasks)",
    "state_is_new": "once per run: is there a ledger row at all (of any status, LIMIT 1)",
    "has_referrals": "once per run: does any contact name a referrer (LIMIT 1 on the referrer index)",
    "pacing_summary": "the report's figures, once per run",
    "enrollment_summary": "status and reports, never per chunk",
    "task_summary": "status and reports, never per chunk",
}

CONFIG = """
crm: {type: local, contacts: contacts.csv, tasks: tasks.csv, max_batch: 40}
calendar: {timezone: America/New_York, country: US}
guards: {daily_capacity: 12, min_gap: 0 days}
referral_thanks: false
cadences:
  - id: main
    name: Main
    enroll_when: {all: [{property: lifecycle_stage, equals: lead}]}
    referral_cadence: warm
    steps:
      - {id: call, channel: call, subject: "Call {{contact.first_name}}"}
      - {id: email, channel: email, wait: 1 business days, subject: "Email {{contact.first_name}}"}
      - {id: again, channel: call, wait: 1 business days, subject: "Call {{contact.first_name}} again"}
  - id: warm
    name: Warm
    steps:
      - {id: call, channel: call, subject: "Call {{contact.first_name}}, referred"}
"""


@dataclass
class Captured:
    """The distinct statements a store ran: SQL -> (store method, first parameters, how often)."""

    statements: dict[str, tuple[str, Sequence[Any], int]] = field(default_factory=dict)

    def seen(self, sql: str, params: Sequence[Any]) -> None:
        method = _store_method()
        first = self.statements.get(sql)
        self.statements[sql] = (first[0], first[1], first[2] + 1) if first else (method, tuple(params), 1)

    def record(self, store: Store) -> Store:
        """Wrap the store's two query entry points (`_q`, `_qmany`): every query of the store goes through them."""
        q, qmany = store._q, store._qmany  # type: ignore[attr-defined]

        def traced_q(sql: str, params: Sequence[Any] = ()) -> Any:
            self.seen(sql, params)
            return q(sql, params)

        def traced_qmany(sql: str, rows: Any) -> int:
            rows = list(rows)
            if rows:
                self.seen(sql, rows[0])
            return int(qmany(sql, rows))

        store._q, store._qmany = traced_q, traced_qmany  # type: ignore[attr-defined]
        return store


def _store_method() -> str:
    """Who ran the query: the Store method the sync called (the outermost one in connector/store*.py:
    `add_intent` for the `add_intents` it calls, never the helpers that build and run the SQL), after
    the function that called it (`state_is_new > ledger`)."""
    frame: Any = sys._getframe(2)
    name = "?"
    while frame is not None:
        if Path(frame.f_code.co_filename).name.startswith("store") and frame.f_code.co_name not in (
                "select_in", "update_in", "traced_q", "traced_qmany", "_q", "_qmany"):
            name = frame.f_code.co_name
        elif name != "?":
            return f"{frame.f_code.co_name} > {name}"
        frame = frame.f_back
    return name


def _once_per_run(method: str) -> bool:
    return any(part.strip() in ONCE_PER_RUN for part in method.split(">"))


def workspace(tmp_path: Path, state: str = "") -> Any:
    """300 leads of 3 owners; every tenth referred by the contact before it."""
    with open(tmp_path / "contacts.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "first_name", "email", "phone", "owner_id", "timezone", "lifecycle_stage", "referred_by",
                    "last_reply_at"])
        for i in range(CONTACTS):
            w.writerow([f"c{i:04d}", f"N{i}", f"c{i}@x.io", "+12125550100", f"o{i % 3}", "America/New_York", "lead",
                        f"c{i - 1:04d}" if i % 10 == 9 else "", ""])
    with open(tmp_path / "owners.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["id", "first_name", "timezone"], *([f"o{n}", f"R{n}", "America/New_York"] for n in range(3))])
    (tmp_path / "cadence.yaml").write_text(state + CONFIG, encoding="utf-8")
    return load_config(tmp_path / "cadence.yaml")


def capture_syncs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state: str = "") -> Captured:
    """Two syncs a day apart, planned 25 contacts a chunk; between them the recruiters complete 30 tasks (no
    response, replied, not now), three contacts reply and a task is deleted."""
    captured = Captured()
    opened = connector.sync.open_store
    monkeypatch.setattr(connector.sync, "open_store", lambda *a, **k: captured.record(opened(*a, **k)))
    monkeypatch.setattr(connector.sync, "PLAN_CHUNK", 25)
    monkeypatch.setattr(connector.sync, "PLAN_PAGE", 25)
    loaded = workspace(tmp_path, state)
    first = run_sync(loaded, now=MONDAY, wall=MONDAY)
    assert first.ok, first.errors
    recruiter = LocalRecruiter(tmp_path)
    tasks = read_csv(tmp_path / "tasks.csv")
    assert len(tasks) >= 30
    for n, task in enumerate(tasks[:30]):
        recruiter.complete_task(task["key"], outcome=["no_response", "replied", "not_now"][n % 3],
                                completed_at=MONDAY + timedelta(hours=2))
    recruiter.delete_task(tasks[30]["key"])
    for contact in ("c0100", "c0101", tasks[31]["contact_id"]):
        recruiter.update_contact(contact, last_reply_at=(MONDAY + timedelta(hours=3)).isoformat())
    second = run_sync(loaded, now=MONDAY + timedelta(days=1), wall=MONDAY + timedelta(days=1))
    assert second.ok, second.errors
    assert second.counts["closed"] >= 1 and second.counts["created"] >= 1
    return captured


# -------------------------------------------------------------------------------- reading plans


def _narrow(constraints: str) -> bool:
    """Whether an index search's constraints pick rows by more than the account (an equality on another column)."""
    return any(term.split("=")[0].strip() != "account" for term in re.split(r" AND ", constraints.strip("()"))
               if re.fullmatch(r"\s*\w+=\?\s*", term) or " IN " in term)


def sqlite_findings(db: sqlite3.Connection, captured: Captured) -> list[str]:
    partial = {name for name, sql in db.execute("SELECT name, sql FROM sqlite_master WHERE type='index' AND sql IS NOT NULL")
               if " WHERE " in sql}
    found: list[str] = []
    for sql, (method, params, count) in captured.statements.items():
        plan = [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql, params)]
        for line in plan:
            m = re.match(r"(SCAN|SEARCH) (\w+)(?: AS \w+)?(?: USING (?:COVERING )?INDEX (\w+)| USING PRIMARY KEY)?(.*)", line)
            if not m or m.group(2) not in BIG_TABLES:
                continue
            kind, table, index, rest = m.groups()
            if kind == "SCAN":
                found.append(f"{method} ({count}x): full scan of {table}: {line!r}\n    {sql}")
            elif index not in partial and not _narrow(rest) and not _once_per_run(method):
                found.append(f"{method} ({count}x): reads all of the account's {table} ({line!r})\n    {sql}")
    return found


def test_sqlite_plans_use_an_index_for_every_sync_query(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On SQLite (no ANALYZE: the store never runs it, so these plans are the ones production gets)."""
    captured = capture_syncs(tmp_path, monkeypatch)
    methods = {m.split(" > ")[-1] for m, _, _ in captured.statements.values()}
    on_the_path = {"needs_plan", "contacts", "enrollments", "tasks_of", "referrals_of", "closes_due", "ledger",
                   "mark_due", "queued_contacts", "live_contact_ids", "open_task_ids", "task_load", "add_intents",
                   "request_closes", "put_enrollments_many", "clear_needs_plan", "upsert_contacts", "record_creates",
                   "record_closes", "mark_sending", "apply_task_states"}
    assert on_the_path <= methods, f"not exercised: {sorted(on_the_path - methods)}"
    db = sqlite3.connect(tmp_path / "cadence-state.sqlite")
    assert db.execute("SELECT count(*) FROM contacts").fetchone()[0] == CONTACTS
    assert not db.execute("SELECT name FROM sqlite_master WHERE name LIKE 'sqlite_stat%'").fetchall()
    findings = sqlite_findings(db, captured)
    assert findings == [], "queries without a usable index:\n" + "\n".join(findings)


# ------------------------------------------------------------------------------------ PostgreSQL


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from _nodes(child)


# an old account's history: done tasks, ended enrollments, contacts long planned (rows of their real size),
# 100 times what the syncs wrote, so that PostgreSQL's planner (which reads its statistics, unlike SQLite's
# here) chooses as it would for a big account and not as for a table of a few pages
HISTORY = 30_000
HISTORY_SQL = (
    "INSERT INTO contacts (account, id, data, referred_by, needs_plan, seen_at) "
    " SELECT %(account)s, 'h' || g, repeat('x', 800), '', 0, '2025' FROM generate_series(1, %(n)s) g",
    "INSERT INTO tasks (account, key, contact_id, owner_id, status, crm_id, payload, crm_status, created_at, updated_at, due_at) "
    " SELECT %(account)s, 'h' || g, 'h' || g, 'o1', CASE WHEN g %% 10 = 0 THEN 'closed' ELSE 'created' END, 'T' || g, repeat('x', 1000), "
    "  CASE WHEN g %% 10 = 0 THEN 'deleted' ELSE 'completed' END, '2025', '2025', '2025' FROM generate_series(1, %(n)s) g",
    "INSERT INTO enrollments (account, contact_id, seq, cadence_id, version, status, step_index, data, updated_at) "
    " SELECT %(account)s, 'h' || g, 1, 'main', 1, 'finished', 2, repeat('x', 400), '2025' FROM generate_series(1, %(n)s) g",
)


def pg_findings(url: str, captured: Captured) -> list[str]:
    import psycopg

    from connector.store_pg import _SQL

    found: list[str] = []
    with psycopg.connect(url, autocommit=True) as db:
        assert db.execute("SELECT count(*) FROM contacts").fetchone() == (CONTACTS,)
        [(account,)] = db.execute("SELECT DISTINCT account FROM contacts").fetchall()
        for statement in HISTORY_SQL:
            db.execute(statement, {"account": account, "n": HISTORY})
        db.execute("ANALYZE")
        partial = {name for (name,) in db.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND indexdef LIKE '% WHERE %'")}
        for sql, (method, params, count) in captured.statements.items():
            [(result,)] = db.execute("EXPLAIN (FORMAT JSON) " + _SQL[sql], params).fetchall()
            plan = (result if isinstance(result, list) else json.loads(result))[0]["Plan"]
            for node in _nodes(plan):
                table = node.get("Relation Name")
                index = node.get("Index Name")
                if node["Node Type"] == "Seq Scan" and table in BIG_TABLES and not _once_per_run(method):
                    found.append(f"{method} ({count}x): sequential scan of {table}\n    {sql}")
                elif index and index.split("_")[0] in BIG_TABLES and index not in partial and not _once_per_run(method):
                    cond = node.get("Index Cond", "")
                    if not re.search(r"\((?!account\b)\w+ = ", cond):
                        found.append(f"{method} ({count}x): reads all of the account's rows through {index} "
                                     f"({cond or 'no condition'})\n    {sql}")
    return found


def test_postgresql_plans_use_an_index_for_every_sync_query(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            pg_url: str) -> None:
    """On PostgreSQL, with an old account's history added (skipped, saying why, without a server: tests/support/pg.py)."""
    captured = capture_syncs(tmp_path, monkeypatch, state=f"state: {pg_url}\n")
    assert not (tmp_path / "cadence-state.sqlite").exists()
    findings = pg_findings(pg_url, captured)
    assert findings == [], "queries without a usable index:\n" + "\n".join(findings)
