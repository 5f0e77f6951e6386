"""The CRM-neutral data the engine reads and the plan it returns.

Plain frozen dataclasses: cheap to build a million of, hashable, and easy to write
as test tables. Every datetime here is timezone-aware UTC.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum


class Channel(str, Enum):
    CALL = "call"
    EMAIL = "email"
    LINKEDIN = "linkedin"
    MEETING = "meeting"
    TODO = "todo"


class Outcome(str, Enum):
    """What the CRM tells us happened to a contact."""

    NO_RESPONSE = "no_response"
    REPLIED = "replied"
    CONNECTED = "connected"
    MEETING_BOOKED = "meeting_booked"
    NOT_NOW = "not_now"
    DO_NOT_CONTACT = "do_not_contact"
    REFERRAL = "referral"
    WRONG_PERSON = "wrong_person"
    BOUNCED = "bounced"
    OPTED_OUT = "opted_out"


class EnrollmentStatus(str, Enum):
    QUEUED = "queued"  # matched, waiting for the recruiters' capacity to start (pacing)
    ACTIVE = "active"  # a task is open, planned in state beyond the horizon, or about to be planned
    SNOOZED = "snoozed"  # "not now": waiting out the cool-off
    FINISHED = "finished"  # ran to the end, or a good outcome (replied, booked...)
    EXITED = "exited"  # stopped for good (do not contact, opted out, wrong person...)


class TaskStatus(str, Enum):
    OPEN = "open"
    COMPLETED = "completed"
    DELETED = "deleted"


@dataclass(frozen=True, slots=True)
class Contact:
    id: str
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    phone: str = ""
    company: str = ""
    title: str = ""
    linkedin_url: str = ""
    owner_id: str = ""
    timezone: str = ""  # IANA name as the CRM holds it; may be empty or wrong
    country: str = ""  # ISO 3166-1 alpha-2, or empty
    subdivision: str = ""  # ISO 3166-2 suffix (e.g. "CA" for California), or empty
    lead_status: str = ""
    lifecycle_stage: str = ""
    opted_out: frozenset[str] = frozenset()  # channel values, or "all"
    do_not_contact: bool = False
    last_reply_at: datetime | None = None
    last_meeting_at: datetime | None = None
    referred_by: str = ""  # id of the contact who gave this name
    modified_at: datetime | None = None
    properties: Mapping[str, str] = field(default_factory=dict)  # every raw property
    deleted: bool = False
    merged_into: str = ""  # the surviving contact's id when merged away

    @property
    def full_name(self) -> str:
        first, last = self.first_name, self.last_name
        return f"{first} {last}" if first and last else first or last

    def prop(self, name: str) -> str:
        """A property by CRM-neutral field name first, then by raw property name."""
        if name in _CONTACT_FIELDS:
            value = getattr(self, name)
            return value if isinstance(value, str) else ("" if value is None else str(value))
        return self.properties.get(name, "")


_CONTACT_FIELDS = frozenset(
    {
        "id", "first_name", "last_name", "email", "phone", "company", "title",
        "linkedin_url", "owner_id", "timezone", "country", "subdivision",
        "lead_status", "lifecycle_stage", "referred_by", "full_name",
    }
)


@dataclass(frozen=True, slots=True)
class Owner:
    id: str
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    timezone: str = ""
    days_off: frozenset[date] = frozenset()

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p) or self.email or self.id


@dataclass(frozen=True, slots=True)
class TaskState:
    """What the CRM says about a task crm-cadence created."""

    key: str
    contact_id: str
    status: TaskStatus
    crm_id: str = ""
    owner_id: str = ""
    due_at: datetime | None = None
    completed_at: datetime | None = None
    outcome: Outcome | None = None  # an outcome the recruiter recorded on the task
    note: str = ""
    channel: str = ""  # the step's channel, when known (from the ledger)
    modified_at: datetime | None = None  # the CRM's last-modified time (its clock): where the task cursor may move


@dataclass(frozen=True, slots=True)
class Enrollment:
    """One contact in one cadence (version), as the state store remembers it."""

    contact_id: str
    cadence_id: str
    version: int
    seq: int  # the contact's n-th enrollment (any cadence): part of every task key
    status: EnrollmentStatus
    enrolled_at: datetime
    step_index: int = -1  # the step whose task is open or was last done; -1 before the first
    open_task_key: str = ""
    anchor_at: datetime | None = None  # when the last step was completed or skipped
    snoozed_until: datetime | None = None
    reengage_into: str = ""
    referrer_id: str = ""
    baseline_lead_status: str = ""  # lead status at enrollment: only a change is an outcome
    ended_at: datetime | None = None
    reason: str = ""  # why it is in this status, in words
    next_due_at: datetime | None = None  # the next task's due time, while it waits in state beyond the horizon
    wake_at: datetime | None = None  # plan this enrollment again from then on (horizon, or an unassignable owner)
    queue_key: str = ""  # while queued: the position in the enrollment queue (sorts as text)
    owner_id: str = ""  # while queued: the recruiter whose capacity it waits for


@dataclass(frozen=True, slots=True)
class ContactState:
    """Everything the engine needs about one contact, for one run."""

    contact: Contact
    enrollments: tuple[Enrollment, ...] = ()
    tasks: tuple[TaskState, ...] = ()  # tasks crm-cadence created for this contact
    touches: tuple[datetime, ...] = ()  # past touches (completed tasks), any order
    referrer: Contact | None = None  # the contact named in `referred_by`, when known
    referrals: tuple[Contact, ...] = ()  # contacts this one referred


@dataclass(frozen=True, slots=True)
class Snapshot:
    account: str  # CRM account (portal) id: part of every task key
    contacts: Iterable[ContactState]  # may be a generator (streamed)
    owners: Mapping[str, Owner] = field(default_factory=dict)
    # tasks already in the CRM (done or open) per (owner id, owner-local ISO date): capacity guard
    owner_load: Mapping[tuple[str, str], int] = field(default_factory=dict)
    # pacing: None = start new enrollments as free capacity allows, in queue order within
    # each chunk; False = queue every new enrollment (the sync then admits from its queue)
    admit: bool | None = None


# ----------------------------------------------------------------------------- plan


@dataclass(frozen=True, slots=True)
class CreateTask:
    key: str
    contact_id: str
    owner_id: str
    cadence_id: str
    version: int
    seq: int
    step_index: int
    step_id: str
    channel: Channel
    task_type: str  # the channel's name (call, email...): each CRM maps `channel` to its own task types
    priority: str  # low, medium, high (older state may hold upper case): each CRM maps it to its own values
    due_at: datetime  # UTC
    due_local: str  # ISO 8601 with the contact's offset
    timezone: str  # the IANA zone the due time was computed in
    subject: str
    body: str
    reason: str
    adjustments: tuple[str, ...] = ()  # every move a guard made, in words
    # the enrollment it belongs to, written on the task so a lost state can be rebuilt from the CRM
    enrolled_at: datetime | None = None
    baseline_lead_status: str = ""
    referrer_id: str = ""
    account: str = ""  # the account string in its key


@dataclass(frozen=True, slots=True)
class CloseTask:
    key: str
    contact_id: str
    crm_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Note:
    """An enrollment event worth reporting (enrolled, skipped, snoozed, exited...)."""

    contact_id: str
    kind: str  # enroll, queue, plan (beyond the horizon), skip, snooze, reengage, finish, exit, hold, unreachable
    cadence_id: str
    reason: str
    step_id: str = ""


@dataclass(frozen=True, slots=True)
class ContactPlan:
    contact_id: str
    creates: tuple[CreateTask, ...] = ()
    closes: tuple[CloseTask, ...] = ()
    notes: tuple[Note, ...] = ()
    enrollments: tuple[Enrollment, ...] | None = None  # the new list; None = unchanged

    @property
    def empty(self) -> bool:
        return not (self.creates or self.closes or self.notes or self.enrollments is not None)


@dataclass(frozen=True, slots=True)
class Plan:
    contacts: tuple[ContactPlan, ...]

    @property
    def creates(self) -> list[CreateTask]:
        return [t for c in self.contacts for t in c.creates]

    @property
    def closes(self) -> list[CloseTask]:
        return [t for c in self.contacts for t in c.closes]

    @property
    def notes(self) -> list[Note]:
        return [n for c in self.contacts for n in c.notes]
