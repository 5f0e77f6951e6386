"""The task ledger's queries (the `tasks` table): intents, the write state machine
(pending -> unknown -> created/failed, closes), the CRM's task states, loads and summaries.

A mixin of SQLiteStore (connector/store_sqlite.py), as connector/store_sql.py explains.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from sequences.records import CloseTask, CreateTask, TaskState, TaskStatus

from .store import CLOSED, CREATED, FAILED, PENDING, UNKNOWN, LedgerRow, from_ts, record_json, stamp, ts
from .store_sql import SQLSession, read_cached, select_in, update_in, write_cached

LEDGER_COLUMNS = (
    "key, contact_id, owner_id, status, crm_id, attempts, last_error, payload, due_at, sent_at, "
    "crm_status, completed_at, outcome, note, close_reason, created_at, updated_at"
)


def ledger_row(r: sqlite3.Row) -> LedgerRow:
    # positional, in LedgerRow's field order (keywords cost a third more, for every row read)
    return LedgerRow(
        r["key"], r["contact_id"], r["owner_id"], r["status"], r["crm_id"], r["attempts"], r["last_error"], r["payload"],
        from_ts(r["due_at"]), from_ts(r["sent_at"]), r["crm_status"], from_ts(r["completed_at"]), r["outcome"], r["note"],
        r["close_reason"], from_ts(r["created_at"]), from_ts(r["updated_at"]),
    )


class LedgerQueries:
    """The task ledger: one row per task key."""

    def add_intent(self: SQLSession, task: CreateTask, now: datetime) -> bool:
        return LedgerQueries.add_intents(self, [task], now) == 1

    def add_intents(self: SQLSession, tasks: Iterable[CreateTask], now: datetime) -> int:
        """Record creates as `pending` in one batch; return how many were new (a known key is left as it is)."""
        at, account = ts(now), self.account
        with self.transaction():
            return self._qmany(
                "INSERT INTO tasks (account, key, contact_id, owner_id, status, payload, due_at, created_at, updated_at) "
                f"VALUES (?,?,?,?,'{PENDING}',?,?,?,?) ON CONFLICT (account, key) DO NOTHING",
                [(account, t.key, t.contact_id, t.owner_id, record_json(t), ts(t.due_at), at, at) for t in tasks],
            )

    def request_close(self: SQLSession, close: CloseTask, now: datetime) -> bool:
        return LedgerQueries.request_closes(self, [close], now) == 1

    def request_closes(self: SQLSession, closes: Iterable[CloseTask], now: datetime) -> int:
        """Record close intents in one batch; return how many matched a known, not yet closed task."""
        at = ts(now)
        with self.transaction():
            return self._qmany(
                f"UPDATE tasks SET close_reason=?, updated_at=? WHERE account=? AND key=? AND status!='{CLOSED}'",
                [(c.reason or "closed", at, self.account, c.key) for c in closes],
            )

    def tasks_of(self: SQLSession, contact_ids: Iterable[str]) -> dict[str, list[LedgerRow]]:
        found: dict[str, list[LedgerRow]] = {}
        sql = "SELECT " + LEDGER_COLUMNS + " FROM tasks WHERE account=? AND contact_id IN ({ids}) ORDER BY contact_id, created_at, key"
        for r in select_in(self, sql, contact_ids):
            found.setdefault(r["contact_id"], []).append(ledger_row(r))
        return found

    def ledger(self: SQLSession, statuses: Sequence[str], *, limit: int | None = None, after: str = "") -> list[LedgerRow]:
        # each status reads its own range of tasks_by_status (account, status, key), in key order; several are
        # merged by the database (UNION ALL, then ORDER BY key: the database's order, which the paging by key
        # follows). `status IN (...) ORDER BY key` made SQLite walk the whole ledger in key order instead,
        # once per page of pending creates: quadratic in the ledger's size.
        wanted = list(dict.fromkeys(statuses))
        if not wanted:
            return []
        one = f"SELECT {LEDGER_COLUMNS} FROM tasks WHERE account=? AND status=? AND key>? ORDER BY key"
        page, tail = (" LIMIT ?", [limit]) if limit is not None else ("", [])
        params: list[Any] = [p for status in wanted for p in (self.account, status, after, *tail)]
        if len(wanted) == 1:
            sql = one + page
        else:
            sql = " UNION ALL ".join(f"SELECT * FROM ({one}{page}) AS s{n}" for n in range(len(wanted))) + " ORDER BY key" + page
            params += tail
        return [ledger_row(r) for r in self._q(sql, params)]

    def get(self: SQLSession, key: str) -> LedgerRow | None:
        r = self._q(f"SELECT {LEDGER_COLUMNS} FROM tasks WHERE account=? AND key=?", (self.account, key)).fetchone()
        return ledger_row(r) if r else None

    def closes_due(self: SQLSession, *, limit: int, after: str = "") -> list[LedgerRow]:
        rows = self._q(
            f"SELECT {LEDGER_COLUMNS} FROM tasks WHERE account=? AND close_reason!='' AND status!='{CLOSED}' AND key>? ORDER BY key LIMIT ?",
            (self.account, after, limit),
        )
        return [ledger_row(r) for r in rows]

    def mark_sending(self: SQLSession, keys: Sequence[str], now: datetime) -> None:
        with self.transaction():
            update_in(self, f"UPDATE tasks SET status='{UNKNOWN}', sent_at=?, updated_at=? WHERE account=? AND key IN ({{ids}})",
                      keys, ts(now), ts(now))

    def record_creates(self: SQLSession, results: Sequence[Any], now: datetime) -> None:
        at = ts(now)
        with self.transaction():
            self._qmany(
                f"UPDATE tasks SET status='{CREATED}', crm_id=?, crm_status=CASE WHEN crm_status='' THEN 'open' ELSE crm_status END, "
                "last_error='', updated_at=? WHERE account=? AND key=?",
                [(res.crm_id, at, self.account, res.key) for res in results if res.ok],
            )
            self._qmany(
                f"UPDATE tasks SET status='{UNKNOWN}', last_error=?, updated_at=? WHERE account=? AND key=?",
                [(res.error, at, self.account, res.key) for res in results if not res.ok and res.unknown],
            )
            # retryable: pending again (sent after a back-off, however often it failed); else failed
            self._qmany(
                f"UPDATE tasks SET status=CASE WHEN ?=1 THEN '{PENDING}' ELSE '{FAILED}' END, "
                "attempts=attempts+1, last_error=?, updated_at=? WHERE account=? AND key=?",
                [(int(res.retryable), res.error, at, self.account, res.key) for res in results if not res.ok and not res.unknown],
            )

    def record_closes(self: SQLSession, results: Sequence[Any], now: datetime) -> None:
        at = ts(now)
        with self.transaction():
            self._qmany(
                f"UPDATE tasks SET status='{CLOSED}', crm_status=CASE WHEN crm_status='completed' THEN 'completed' ELSE 'deleted' END, "
                "last_error='', updated_at=? WHERE account=? AND key=?",
                [(at, self.account, res.key) for res in results if res.ok],
            )
            self._qmany(
                "UPDATE tasks SET attempts=attempts+1, last_error=?, updated_at=? WHERE account=? AND key=?",
                [(res.error, at, self.account, res.key) for res in results if not res.ok and (res.retryable or res.unknown)],
            )
            self._qmany(
                "UPDATE tasks SET close_reason='', last_error=?, updated_at=? WHERE account=? AND key=?",
                [(f"close failed: {res.error}", at, self.account, res.key)
                 for res in results if not res.ok and not (res.retryable or res.unknown)],
            )

    def resolve(self: SQLSession, found: Mapping[str, str], missing: Iterable[str], now: datetime) -> None:
        at = ts(now)
        with self.transaction():
            self._qmany(
                f"UPDATE tasks SET status='{CREATED}', crm_id=?, crm_status=CASE WHEN crm_status='' THEN 'open' ELSE crm_status END, "
                f"updated_at=? WHERE account=? AND key=? AND status='{UNKNOWN}'",
                [(crm_id, at, self.account, key) for key, crm_id in found.items()],
            )
            update_in(self, f"UPDATE tasks SET status='{PENDING}', updated_at=? WHERE account=? AND status='{UNKNOWN}' AND key IN ({{ids}})",
                      missing, at)

    def close_unsent(self: SQLSession, keys: Iterable[str], now: datetime) -> None:
        with self.transaction():
            update_in(self, f"UPDATE tasks SET status='{CLOSED}', crm_status='deleted', updated_at=? "
                            f"WHERE account=? AND status='{PENDING}' AND key IN ({{ids}})", keys, ts(now))

    def open_task_ids(self: SQLSession) -> dict[str, str]:
        rows = self._q(f"SELECT key, crm_id FROM tasks WHERE account=? AND status='{CREATED}' AND crm_status='open'", (self.account,))
        return {r["key"]: r["crm_id"] for r in rows}

    def next_stale_tasks(self: SQLSession, before: datetime, limit: int, now: datetime) -> list[tuple[str, str]]:
        """(key, CRM id) of the next `limit` open tasks due before `before`, in (due time, key)
        order after the last ones this returned (its position is kept in the state): each task
        is returned once, however many share a due time."""
        r = read_cached(self, "stale_checked")
        due, key = json.loads(r["data"]) if r else ("", "")
        rows = list(self._q(
            f"SELECT key, crm_id, due_at FROM tasks WHERE account=? AND status='{CREATED}' AND crm_status='open' "
            "AND due_at<? AND (due_at>? OR (due_at=? AND key>?)) ORDER BY due_at, key LIMIT ?",
            (self.account, ts(before), due, due, key, limit)))
        if rows:
            write_cached(self, "stale_checked", [rows[-1]["due_at"], rows[-1]["key"]], now)
        return [(r["key"], r["crm_id"]) for r in rows]

    def apply_task_states(self: SQLSession, states: Iterable[TaskState], now: datetime) -> set[str]:
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
                    f"status=CASE WHEN status IN ('{PENDING}','{UNKNOWN}') THEN '{CREATED}' ELSE status END, "
                    "crm_id=CASE WHEN crm_id='' THEN ? ELSE crm_id END WHERE account=? AND key=?",
                    (*new, ts(now), state.crm_id, self.account, state.key),
                )
        return changed

    def task_load(self: SQLSession, since: datetime) -> Iterator[tuple[str, datetime]]:
        rows = self._q(
            "SELECT owner_id, due_at FROM tasks WHERE account=? AND due_at>=? AND ("
            " crm_status='completed' OR (close_reason='' AND "
            f"  (status IN ('{PENDING}','{UNKNOWN}') OR (status='{CREATED}' AND crm_status='open'))))",
            (self.account, ts(since)),
        )
        for r in rows:
            yield r["owner_id"], stamp(r["due_at"])

    def task_summary(self: SQLSession, now: datetime) -> list[dict[str, Any]]:
        rows = self._q(
            "SELECT owner_id, "
            f" sum(CASE WHEN status='{CREATED}' AND crm_status='open' THEN 1 ELSE 0 END) AS open, "
            f" sum(CASE WHEN status='{CREATED}' AND crm_status='open' AND due_at<? THEN 1 ELSE 0 END) AS overdue, "
            f" sum(CASE WHEN status IN ('{PENDING}','{UNKNOWN}') THEN 1 ELSE 0 END) AS unsent, "
            f" sum(CASE WHEN status='{FAILED}' THEN 1 ELSE 0 END) AS failed, "
            " sum(CASE WHEN crm_status='completed' THEN 1 ELSE 0 END) AS done "
            "FROM tasks WHERE account=? GROUP BY owner_id ORDER BY owner_id",
            (ts(now), self.account),
        )
        return [dict(r) for r in rows]
