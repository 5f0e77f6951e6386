"""The queries both stores run (PostgreSQL translates only the placeholders), grouped by concern:
this module holds the contacts cache and the enrollments (with the enrollment queue); the task
ledger is in connector/store_ledger.py. Each group is a mixin of SQLiteStore (connector/store_sqlite.py),
typed by what it uses of the store: `account`, `_q`, `_qmany` and `transaction()`.

Writes of many rows go through `_qmany` (one driver call for a whole batch), so the sync's
cost per contact does not include a round trip per row on PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

from sequences.records import Contact, Enrollment

from .store import contact_from_json, enrollment_from_json, from_ts, record_json, ts


class SQLSession(Protocol):
    """What the query mixins need of a store."""

    account: str

    def _q(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

    def _qmany(self, sql: str, seq_of_params: Iterable[Sequence[Any]]) -> int:
        """Run `sql` once per parameter row in one driver call (sqlite3's C loop, psycopg's pipeline);
        return the rows it changed in all."""
        ...

    def transaction(self) -> AbstractContextManager[None]: ...


def chunks(items: Iterable[str], size: int = 500) -> Iterator[list[str]]:
    if isinstance(items, list):  # most callers pass a list: its slices
        for start in range(0, len(items), size):
            yield items[start:start + size]
        return
    batch: list[str] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def marks(n: int) -> str:
    return ",".join("?" * n)


def select_in(store: SQLSession, sql: str, ids: Iterable[str]) -> Iterator[Any]:
    """The rows of `sql` for `ids`, 500 ids a query: `{ids}` in `sql` is their IN list, after the account."""
    for chunk in chunks(ids):
        yield from store._q(sql.format(ids=marks(len(chunk))), [store.account, *chunk])


def update_in(store: SQLSession, sql: str, ids: Iterable[str], *params: Any) -> None:
    """Run `sql` for `ids`, 500 ids a statement: its placeholders take `params`, the account, then the ids
    (`{ids}` in `sql` is their IN list)."""
    for chunk in chunks(ids):
        store._q(sql.format(ids=marks(len(chunk))), [*params, store.account, *chunk])


def read_cached(store: SQLSession, name: str) -> Any:
    """The account's `cached` row `name` (its JSON `data` and `updated_at`), or None."""
    return store._q("SELECT data, updated_at FROM cached WHERE account=? AND name=?", (store.account, name)).fetchone()


def write_cached(store: SQLSession, name: str, data: Any, now: datetime) -> None:
    """Keep `data` (as JSON) under `name` for the account, replacing what was there."""
    with store.transaction():
        store._q("INSERT INTO cached (account, name, data, updated_at) VALUES (?, ?, ?, ?) "
                 "ON CONFLICT (account, name) DO UPDATE SET data=excluded.data, updated_at=excluded.updated_at",
                 (store.account, name, json.dumps(data), ts(now)))


class ContactQueries:
    """The contacts cache (with the needs-plan marks) and the enrollments."""

    # -- contacts cache
    def upsert_contacts(self: SQLSession, contacts: Sequence[Contact], now: datetime) -> list[str]:
        changed: list[str] = []
        unchanged: list[str] = []
        upserts: list[tuple[Any, ...]] = []
        with self.transaction():
            existing: dict[str, str] = {}
            for r in select_in(self, "SELECT id, data FROM contacts WHERE account=? AND id IN ({ids})", [c.id for c in contacts]):
                existing[r["id"]] = r["data"]
            seen = ts(now)
            for contact in contacts:
                data = record_json(contact)
                if existing.get(contact.id) == data:
                    unchanged.append(contact.id)
                    continue
                changed.append(contact.id)
                upserts.append((self.account, contact.id, data, contact.referred_by, seen))
            update_in(self, "UPDATE contacts SET seen_at=? WHERE account=? AND id IN ({ids})", unchanged, seen)
            self._qmany(
                "INSERT INTO contacts (account, id, data, referred_by, needs_plan, seen_at) VALUES (?,?,?,?,1,?) "
                "ON CONFLICT (account, id) DO UPDATE SET data=excluded.data, referred_by=excluded.referred_by, "
                "needs_plan=1, seen_at=excluded.seen_at",
                upserts,
            )
        return changed

    def contacts(self: SQLSession, ids: Iterable[str]) -> dict[str, Contact]:
        found: dict[str, Contact] = {}
        for r in select_in(self, "SELECT id, data FROM contacts WHERE account=? AND id IN ({ids})", ids):
            found[r["id"]] = contact_from_json(r["data"])
        return found

    def referrals_of(self: SQLSession, ids: Iterable[str]) -> dict[str, list[Contact]]:
        # sorted here, not by ORDER BY id: that makes SQLite walk the account's contacts in id order
        # (all of them, for every page of referrers) instead of looking the referrers up in their index
        rows: dict[str, list[tuple[str, str]]] = {}
        for r in select_in(self, "SELECT id, referred_by, data FROM contacts WHERE account=? AND referred_by IN ({ids})", ids):
            rows.setdefault(r["referred_by"], []).append((r["id"], r["data"]))
        return {referrer: [contact_from_json(data) for _, data in sorted(found)] for referrer, found in rows.items()}

    def has_referrals(self: SQLSession) -> bool:
        return self._q("SELECT 1 FROM contacts WHERE account=? AND referred_by>'' LIMIT 1", (self.account,)).fetchone() is not None

    def mark_needs_plan(self: SQLSession, ids: Iterable[str]) -> None:
        with self.transaction():
            update_in(self, "UPDATE contacts SET needs_plan=1 WHERE account=? AND id IN ({ids})", ids)

    def needs_plan(self: SQLSession, after: str = "", limit: int = 500) -> list[str]:
        rows = self._q(
            "SELECT id FROM contacts WHERE account=? AND needs_plan=1 AND id>? ORDER BY id LIMIT ?",
            (self.account, after, limit),
        )
        return [r["id"] for r in rows]

    def clear_needs_plan(self: SQLSession, ids: Iterable[str]) -> None:
        with self.transaction():
            update_in(self, "UPDATE contacts SET needs_plan=0 WHERE account=? AND id IN ({ids})", ids)

    # -- enrollments
    def enrollments(self: SQLSession, ids: Iterable[str]) -> dict[str, tuple[Enrollment, ...]]:
        found: dict[str, list[Enrollment]] = {}
        sql = "SELECT contact_id, data FROM enrollments WHERE account=? AND contact_id IN ({ids}) ORDER BY contact_id, seq"
        for r in select_in(self, sql, ids):
            found.setdefault(r["contact_id"], []).append(enrollment_from_json(r["data"]))
        return {k: tuple(v) for k, v in found.items()}

    def all_enrollments(self: SQLSession) -> Iterator[Enrollment]:
        """Every enrollment of the account, in (contact, seq) order: for reports."""
        for r in self._q("SELECT data FROM enrollments WHERE account=? ORDER BY contact_id, seq", (self.account,)):
            yield enrollment_from_json(r["data"])

    def put_enrollments(self: SQLSession, contact_id: str, enrollments: Sequence[Enrollment], now: datetime) -> None:
        ContactQueries.put_enrollments_many(self, {contact_id: enrollments}, now)

    def put_enrollments_many(self: SQLSession, by_contact: Mapping[str, Sequence[Enrollment]], now: datetime) -> None:
        """Replace each named contact's enrollments with its complete list: one DELETE per 500
        contacts, one batched INSERT for all the rows."""
        if not by_contact:
            return
        updated = ts(now)
        with self.transaction():
            update_in(self, "DELETE FROM enrollments WHERE account=? AND contact_id IN ({ids})", by_contact)
            self._qmany(
                "INSERT INTO enrollments (account, contact_id, seq, cadence_id, version, status, step_index, "
                "open_task_key, snoozed_until, reason, data, updated_at, wake_at, queue_key, queue_owner) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [(self.account, contact_id, e.seq, e.cadence_id, e.version, e.status.value, e.step_index,
                  e.open_task_key, ts(e.snoozed_until), e.reason, record_json(e), updated, ts(e.wake_at),
                  e.queue_key, e.owner_id)
                 for contact_id, enrollments in by_contact.items() for e in enrollments],
            )

    def mark_due(self: SQLSession, now: datetime) -> int:
        with self.transaction():
            cur = self._q(
                "UPDATE contacts SET needs_plan=1 WHERE account=? AND needs_plan=0 AND id IN ("
                " SELECT contact_id FROM enrollments WHERE account=? AND ("
                "  (status='snoozed' AND snoozed_until<=?) OR "
                "  (status='active' AND open_task_key='' AND (wake_at IS NULL OR wake_at<=?))))",
                (self.account, self.account, ts(now), ts(now)),
            )
            return cur.rowcount

    def enrollment_summary(self: SQLSession) -> list[dict[str, Any]]:
        rows = self._q(
            "SELECT cadence_id, version, step_index, status, "
            " CASE WHEN status IN ('exited','finished') THEN reason ELSE '' END AS reason, count(*) AS n "
            "FROM enrollments WHERE account=? GROUP BY 1,2,3,4,5 ORDER BY 1,2,4,3,5",
            (self.account,),
        )
        return [dict(r) for r in rows]

    # -- pacing and sweeps
    def live_contact_ids(self: SQLSession) -> list[str]:
        # sorted here: ORDER BY contact_id would make SQLite walk every enrollment (ended ones too) in key order
        rows = self._q("SELECT contact_id FROM enrollments WHERE account=? AND status IN ('active','snoozed')", (self.account,))
        return sorted({r["contact_id"] for r in rows})

    def queued_contacts(self: SQLSession, per_owner: int) -> list[str]:
        rows = self._q(
            "SELECT contact_id FROM (SELECT contact_id, queue_key, ROW_NUMBER() OVER "
            " (PARTITION BY queue_owner ORDER BY queue_key) AS n FROM enrollments WHERE account=? AND status='queued') AS queue "
            "WHERE n<=? ORDER BY queue_key",
            (self.account, per_owner),
        )
        return list(dict.fromkeys(r["contact_id"] for r in rows))

    def pacing_summary(self: SQLSession) -> dict[str, Any]:
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
