"""tasks.csv: the task queue a recruiter opens in a spreadsheet and edits.

The recruiter owns `status`, `outcome`, `completed_at`, `note` and the `referred_*`
columns (and any column they add); crm-cadence owns the rest. New rows are appended to the
file as crm-cadence last saw it; any other write (and any write to a file saved since)
re-reads it under a lock and applies only crm-cadence's changes to what is there now, so an
edit made between two runs, or during one, is never lost (connector/crm/local/crm.py).

Status: `open`, `done`, `skipped`, `cancelled` (also accepted: completed, x, yes / skip /
canceled). `skipped` and `cancelled` both mean "this touch will not happen": the cadence
moves on to its next step; only an outcome (do_not_contact, wrong_person, not_now...)
ends or pauses a cadence. Any other value is reported and the row left as it was.
A task marked done without `completed_at` counts as completed at the file's last
modification time, or at the run's start if that is earlier; the next write by
crm-cadence fills that time into the blank cell so it stays put.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from functools import lru_cache

from connector.crm.taskmeta import encode
from sequences.records import Channel, CreateTask, Outcome, TaskState, TaskStatus

# A new tasks.csv opens in a spreadsheet with what a recruiter reads first: whose task, when
# (the contact's wall clock, to the minute, and its zone), who and how to reach them, what to do, then the
# columns they fill in; the ids crm-cadence needs come last, the body (one cell) at the end.
TASK_COLUMNS = (
    "owner", "due", "time_zone", "contact_name", "phone", "email", "channel", "subject",
    "status", "outcome", "completed_at", "note",
    "referred_first_name", "referred_last_name", "referred_email", "referred_phone",
    "priority", "cadence", "step", "owner_id", "contact_id",
    "due_local", "due_utc", "type", "key", "task_id", "created_at", "closed_reason", "closed_at", "enrollment", "body",
)
REFERRAL_COLUMNS = ("referred_first_name", "referred_last_name", "referred_email", "referred_phone")

_OPEN = {"", "open", "to do", "todo", "pending", "not started"}
_DONE = {"done", "completed", "complete", "x", "yes", "closed", "finished"}
_CANCELLED = {"cancelled", "canceled", "cancel", "deleted", "removed", "skip", "skipped"}
KNOWN_STATUSES = _OPEN | _DONE | _CANCELLED
_OUTCOME_ALIASES = {
    "reply": "replied", "answered": "replied", "notnow": "not_now", "later": "not_now",
    "dnc": "do_not_contact", "donotcontact": "do_not_contact", "stop": "do_not_contact",
    "referred": "referral", "referrals": "referral", "wrong": "wrong_person",
    "wrongperson": "wrong_person", "meeting": "meeting_booked", "booked": "meeting_booked",
    "optout": "opted_out", "optedout": "opted_out", "unsubscribed": "opted_out",
    "bounce": "bounced", "noresponse": "no_response", "none": "no_response",
}


def status_of(text: str) -> TaskStatus:
    value = text.strip().lower()
    if value in _DONE:
        return TaskStatus.COMPLETED
    if value in _CANCELLED:
        return TaskStatus.DELETED
    return TaskStatus.OPEN


def outcome_of(text: str) -> Outcome | None:
    """The outcome a recruiter typed, read generously ("Not now", "opt-out"); None when blank/unknown."""
    value = re.sub(r"[\s\-]+", "_", text.strip().lower())
    if not value:
        return None
    value = _OUTCOME_ALIASES.get(value.replace("_", ""), value)
    try:
        return Outcome(value)
    except ValueError:
        return None


def task_id_for(key: str, copy: int = 0) -> str:
    """The local CRM's id of a task: derived from its key (and copy number)."""
    seed = key if copy == 0 else f"{key}#{copy}"
    return "T" + hashlib.sha256(seed.encode()).hexdigest()[:12].upper()


# the type column keeps the names tasks.csv has always shown
TASK_TYPES = {Channel.CALL: "CALL", Channel.EMAIL: "EMAIL", Channel.LINKEDIN: "LINKED_IN_MESSAGE",
              Channel.MEETING: "TODO", Channel.TODO: "TODO"}


@lru_cache(maxsize=4096)
def _local_minute(due_local: str) -> str:
    """An ISO date-time's wall clock to the minute (a run's tasks share few due times)."""
    return f"{datetime.fromisoformat(due_local):%Y-%m-%d %H:%M}"


@lru_cache(maxsize=4096)
def _utc_text_of_utc(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def utc_text(when: datetime) -> str:
    """`when` in ISO form with Z for UTC. Remembered only for datetimes in `timezone.utc`: equal
    aware datetimes in other zones are the same instant written differently."""
    if when.tzinfo is timezone.utc and type(when) is datetime:
        return _utc_text_of_utc(when)
    return when.isoformat().replace("+00:00", "Z")


def row_for(task: CreateTask, task_id: str, contact_name: str, created_at: datetime, *,
            phone: str = "", email: str = "", owner_name: str = "") -> dict[str, str]:
    return {
        "owner": owner_name or task.owner_id,
        # contact-local; a spreadsheet reads it as a date and time
        "due": _local_minute(task.due_local) if task.due_local else f"{task.due_at:%Y-%m-%d %H:%M}",
        "contact_name": contact_name,
        "phone": phone,
        "email": email,
        "channel": task.channel.value,
        "subject": task.subject,
        "status": "open",
        "priority": task.priority.lower(),
        "time_zone": task.timezone,
        "cadence": f"{task.cadence_id} v{task.version}",
        "step": task.step_id,
        "owner_id": task.owner_id,
        "contact_id": task.contact_id,
        "due_local": task.due_local,  # exact: the CRM reads due times back from these
        "due_utc": utc_text(task.due_at),
        "type": TASK_TYPES.get(task.channel, "TODO"),
        "key": task.key,
        "task_id": task_id,
        "created_at": utc_text(created_at),
        "enrollment": encode(task),  # what a lost state is rebuilt from (connector/crm/taskmeta.py)
        "body": task.body,
    }


def sort_key(row: Mapping[str, str]) -> tuple[str, str, str, str]:
    """Rows by recruiter, then due time (UTC, so zones interleave correctly), then contact."""
    return (row.get("owner", "") or row.get("owner_id", ""), row.get("due_utc", ""), row.get("contact_name", ""),
            row.get("key", ""))


def state_of(row: Mapping[str, str], completed_at: datetime | None, due_at: datetime | None) -> TaskState:
    return TaskState(
        key=row.get("key", ""),
        contact_id=row.get("contact_id", ""),
        status=status_of(row.get("status", "")),
        crm_id=row.get("task_id", ""),
        owner_id=row.get("owner_id", ""),
        due_at=due_at,
        completed_at=completed_at,
        outcome=outcome_of(row.get("outcome", "")),
        note=row.get("note", ""),
    )
