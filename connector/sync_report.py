"""What one sync run did (or, with plan_only, would do): counts, and details up to a limit."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from sequences.records import CreateTask

from .crm.base import BadRecord
from .logs import redact
from .store import Store

REPORT_ITEMS = 1000  # details kept per list in a report; counts are always complete


@dataclass(frozen=True, slots=True)
class TaskItem:
    key: str
    contact_id: str
    contact_name: str
    channel: str
    due_local: str  # ISO with the contact's offset
    timezone: str
    subject: str
    reason: str
    crm_id: str = ""
    owner_id: str = ""  # the recruiter whose task it is
    moves: tuple[str, ...] = ()  # why a guard (gap, budget, capacity, holiday, day off) moved it

    @property
    def due_text(self) -> str:
        """'Tue 2026-03-03 09:00 America/New_York'."""
        try:
            due = datetime.fromisoformat(self.due_local)
        except ValueError:
            return self.due_local
        return f"{due:%a %Y-%m-%d %H:%M} {self.timezone}".strip()


@dataclass(frozen=True, slots=True)
class CloseItem:
    key: str
    contact_id: str
    contact_name: str
    reason: str


@dataclass(frozen=True, slots=True)
class NoteItem:
    contact_id: str
    contact_name: str
    kind: str
    cadence_id: str
    step_id: str
    reason: str


@dataclass
class SyncReport:
    """What one run did (or, with plan_only, would do)."""

    account: str
    started_at: datetime
    plan_only: bool = False
    status: str = "ok"  # ok / incomplete (writes left to retry) / stopped / deferred / failed / refused (bad input) / held (mass change)
    run_id: int = 0
    created: list[TaskItem] = field(default_factory=list)
    closed: list[CloseItem] = field(default_factory=list)
    skipped: list[NoteItem] = field(default_factory=list)
    notes: list[NoteItem] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    bad_records: list[BadRecord] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        """The run did its whole job (a stopped or deferred run left work for the next one)."""
        return self.status == "ok"

    def add(self, name: str, item: Any) -> None:
        """Append to a detail list (up to REPORT_ITEMS) and count it."""
        self.counts[name] += 1
        items = getattr(self, name)
        if len(items) < REPORT_ITEMS:
            items.append(item)

    def withdraw_notes(self, kind: str, contact_ids: Collection[str], counted: str = "") -> None:
        """Take back the note of `kind` each of `contact_ids` got earlier in this run, which a
        later pass superseded (a contact the first planning pass queued and the second one
        started is shown as started only): out of the details, the `notes` count and the
        note's own count (`counted`). Each contact named had exactly one such note."""
        if not contact_ids:
            return
        self.notes = [i for i in self.notes if not (i.kind == kind and i.contact_id in contact_ids)]
        self.counts["notes"] -= len(contact_ids)
        if counted:
            self.counts[counted] -= len(contact_ids)

    def error(self, message: str) -> None:
        self.add("errors", redact(message))

    def to_dict(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "started_at": self.started_at,
            "plan_only": self.plan_only,
            "status": self.status,
            "run_id": self.run_id,
            "duration_seconds": round(self.duration, 3),
            "counts": dict(sorted(self.counts.items())),
            "created": [_asdict(i) | {"due": i.due_text} for i in self.created],
            "closed": [_asdict(i) for i in self.closed],
            "skipped": [_asdict(i) for i in self.skipped],
            "notes": [_asdict(i) for i in self.notes],
            "errors": list(self.errors),
            "bad_records": [_asdict(b) for b in self.bad_records],
        }

    def to_text(self) -> str:
        verb = ("would create", "would close") if self.plan_only else ("created", "closed")
        lines = [
            f"{'plan' if self.plan_only else 'sync'} for account {self.account} at "
            f"{self.started_at:%Y-%m-%d %H:%M} UTC: {self.status} in {self.duration:.1f}s"
        ]

        def section(title: str, name: str, rows: list[str]) -> None:
            total = self.counts.get(name, 0)
            if not total:
                return
            lines.append(f"{title} ({total}):")
            lines.extend(f"  {r}" for r in rows)
            if total > len(rows):
                lines.append(f"  ... and {total - len(rows)} more")

        section(verb[0], "created", [
            f"{_who(i.contact_name, i.contact_id)}  {i.channel:<8}  {i.due_text}  {i.subject}"
            + (f"\n      why: {i.reason}" if self.plan_only and i.reason else "")
            for i in self.created
        ])
        section(verb[1], "closed", [f"{_who(i.contact_name, i.contact_id)}  {i.reason}" for i in self.closed])
        section("skipped", "skipped", [
            f"{_who(i.contact_name, i.contact_id)}  {i.cadence_id}/{i.step_id}: {i.reason}" for i in self.skipped
        ])
        section("enrollment changes", "notes", [
            f"{_who(i.contact_name, i.contact_id)}  {i.kind} {i.cadence_id}: {i.reason}" for i in self.notes
        ])
        section("bad records", "bad_records", [f"{b.source}: {b.field}: {b.message}" for b in self.bad_records])
        section("errors", "errors", list(self.errors))
        if len(lines) == 1:
            lines.append("nothing to do")
        return "\n".join(lines)


def _who(name: str, contact_id: str) -> str:
    return f"{name} ({contact_id})" if name else contact_id


def _asdict(item: Any) -> dict[str, Any]:
    return {name: getattr(item, name) for name in item.__slots__}


def task_item(task: CreateTask, crm_id: str) -> TaskItem:
    return TaskItem(task.key, task.contact_id, "", task.channel.value, task.due_local, task.timezone,
                    task.subject, task.reason, crm_id, task.owner_id, task.adjustments)


def fill_names(report: SyncReport, store: Store) -> None:
    ids = {i.contact_id for name in ("created", "closed", "skipped", "notes") for i in getattr(report, name)}
    names = {cid: c.full_name for cid, c in store.contacts(ids).items()}
    for name in ("created", "closed", "skipped", "notes"):
        items = getattr(report, name)
        setattr(report, name, [_with_name(i, names.get(i.contact_id, "")) for i in items])
    report.created.sort(key=_due_order)


def _due_order(item: TaskItem) -> tuple[str, str, str]:
    try:
        due = datetime.fromisoformat(item.due_local).astimezone(timezone.utc).isoformat()
    except ValueError:
        due = item.due_local
    return due, item.contact_id, item.key


def _with_name(item: Any, name: str) -> Any:
    return replace(item, contact_name=name) if name and not item.contact_name else item
