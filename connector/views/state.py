"""What the state says, read once for the views (agenda, report, status): no CRM request.

The views never talk to the CRM: they read a private copy of the state file, where every
sync leaves the tasks it planned (the ledger), the contacts it saw, the enrollments and the
owners it last read. `StateView` turns those rows into plain records a person reads:
`TaskView` (one task, with its contact's phone and email and its owner's zone) and
`OwnerView` (a recruiter with a name, a zone and a daily capacity).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from connector.store import CLOSED, CREATED, FAILED, LEDGER_STATUSES, PENDING, UNKNOWN, LedgerRow, Store
from sequences.calendar import zone_or_none
from sequences.config import Config
from sequences.records import Contact, Enrollment, Owner

NO_OWNER_NAME = "(no owner)"


@dataclass(frozen=True, slots=True)
class OwnerView:
    id: str
    name: str
    email: str
    zone: str  # IANA name: the owner's own, else the config's
    capacity: int

    @property
    def tz(self) -> ZoneInfo:
        return zone_or_none(self.zone) or ZoneInfo("UTC")


@dataclass(frozen=True, slots=True)
class TaskView:
    """One task crm-cadence planned, as a recruiter reads it."""

    key: str
    contact_id: str
    contact_name: str
    phone: str
    email: str
    linkedin: str
    owner_id: str
    cadence_id: str
    step_index: int
    step_id: str
    channel: str
    priority: str
    subject: str
    due_at: datetime | None  # UTC
    contact_zone: str
    state: str  # open / done / cancelled / failed / unsent, planned (not in the CRM yet)
    outcome: str
    completed_at: datetime | None

    @property
    def is_open(self) -> bool:
        return self.state in ("open", "unsent", "planned")

    @property
    def reach(self) -> str:
        """How to reach the contact for this task: phone for a call, email for an email..."""
        if self.channel == "call":
            return self.phone or self.email
        if self.channel == "linkedin":
            return self.linkedin or self.email
        return self.email or self.phone

    def contact_local(self) -> datetime | None:
        zone = zone_or_none(self.contact_zone)
        return self.due_at.astimezone(zone) if self.due_at and zone else None


def _state_of(row: LedgerRow) -> str:
    if row.status == CREATED:
        if row.crm_status == "completed":
            return "done"
        if row.crm_status == "deleted" or row.close_reason:
            return "cancelled"  # deleted in the CRM, or a close on its way: nobody's work
        return "open"
    if row.status == CLOSED:
        return "done" if row.crm_status == "completed" else "cancelled"
    if row.status == FAILED:
        return "failed"
    if row.close_reason:
        return "cancelled"
    if row.status in (PENDING, UNKNOWN):
        return "unsent"  # planned and recorded; the next sync puts it in the CRM
    return "planned"  # any later ledger status (a task waiting in state for its horizon)


def _task_view(row: LedgerRow, contact: Contact | None) -> TaskView:
    task = row.task
    c = contact or Contact(id=row.contact_id)
    return TaskView(
        key=row.key, contact_id=row.contact_id, contact_name=c.full_name or c.email or row.contact_id,
        phone=c.phone, email=c.email, linkedin=c.linkedin_url, owner_id=row.owner_id,
        cadence_id=task.cadence_id, step_index=task.step_index, step_id=task.step_id,
        channel=task.channel.value, priority=task.priority.lower(), subject=task.subject,
        due_at=row.due_at, contact_zone=task.timezone, state=_state_of(row), outcome=row.outcome,
        completed_at=row.completed_at,
    )


class StateView:
    """The tasks, contacts, enrollments and owners of one account's state, read once."""

    def __init__(self, config: Config, store: Store, path: Path | str):
        # path: where the state is, for people to read (a file, or a URL without its password)
        self.config, self.store, self.path = config, store, path
        self.account: str = store.account
        rows = store.ledger(list(LEDGER_STATUSES))
        contacts = store.contacts({r.contact_id for r in rows})
        self.tasks: list[TaskView] = [_task_view(r, contacts.get(r.contact_id)) for r in rows]
        self.contacts: dict[str, Contact] = contacts
        # owners as the last sync read them, at any age: enough to put names on the work
        self._owners = {o.id: o for o in (store.cached_owners(timedelta.max, _far_future()) or [])}
        self.owners: dict[str, OwnerView] = {}
        for owner_id in sorted({t.owner_id for t in self.tasks} | set(self._owners)):
            self.owners[owner_id] = self.owner(owner_id)

    def owner(self, owner_id: str) -> OwnerView:
        known: Owner | None = self._owners.get(owner_id)
        guards, calendar = self.config.guards, self.config.calendar
        zone = known.timezone if known and zone_or_none(known.timezone) else calendar.timezone
        if not owner_id:
            name = NO_OWNER_NAME
        else:
            name = known.full_name if known else owner_id
        return OwnerView(owner_id, name, known.email if known else "", zone,
                         guards.owner_capacity.get(owner_id, guards.daily_capacity))

    def find_owner(self, text: str) -> list[OwnerView]:
        """Owners matching an id, a name, a first name or an email (case-insensitive)."""
        needle = text.strip().lower()
        exact = [o for o in self.owners.values()
                 if needle in (o.id.lower(), o.name.lower(), o.email.lower(), o.name.split(" ")[0].lower())]
        return exact or [o for o in self.owners.values() if needle and needle in o.name.lower()]

    def enrollments(self) -> list[Enrollment]:
        """Every enrollment of the account (any status)."""
        return list(self.store.all_enrollments())

    def open_tasks(self) -> list[TaskView]:
        return [t for t in self.tasks if t.is_open and t.due_at is not None]

    def queued(self) -> dict[str, int]:
        """Contacts waiting to start (pacing), per owner id, when the state keeps such a queue."""
        method = getattr(self.store, "queued_by_owner", None)
        if callable(method):
            return dict(method())
        summary = getattr(self.store, "pacing_summary", None)
        return dict(summary().get("queued_by_owner", {})) if callable(summary) else {}


def _far_future() -> datetime:
    from datetime import timezone

    return datetime(9999, 1, 1, tzinfo=timezone.utc) - timedelta(days=1)


def open_state(loaded: Any) -> StateView:
    """A `StateView` of a loaded config's state file (a missing file is an empty state).

    The account is the config's `account`, else the CRM's own id, found without a token or
    a request."""
    from connector.crm.registry import account_of
    from connector.store_factory import open_store, state_location

    where = state_location(loaded)
    store = open_store(where, account_of(loaded), read_only=True)
    return StateView(loaded.config, store, where.describe())


def cached_owners(loaded: Any, account: str) -> list[Owner]:
    """The owners the last sync cached in the state (any age; none when there is no state yet)."""
    from connector.store_factory import open_store, state_location

    where = state_location(loaded)
    if where.kind == "sqlite" and (where.path is None or not where.path.exists()):
        return []
    store = open_store(where, account, read_only=True)
    try:
        return list(store.cached_owners(timedelta.max, _far_future()) or [])
    finally:
        store.close()
