"""What the planner passes between its stages: tasks being placed, contacts waiting to start."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from operator import attrgetter
from typing import Any

from .calendar import LocalCalendar
from .config import Cadence
from .guards import Proposal
from .records import CreateTask, Enrollment

NONE: list[Any] = []  # shared, never appended to: a contact's lists start as this (fewer allocations)

_ENROLLMENT_FIELDS = tuple(f.name for f in fields(Enrollment))
_ENROLLMENT_INDEX = {name: i for i, name in enumerate(_ENROLLMENT_FIELDS)}
_enrollment_values = attrgetter(*_ENROLLMENT_FIELDS)


def evolve(e: Enrollment, **changes: object) -> Enrollment:
    """`dataclasses.replace` for enrollments, without its per-call introspection (hot path)."""
    values = list(_enrollment_values(e))
    for name, value in changes.items():
        values[_ENROLLMENT_INDEX[name]] = value
    return Enrollment(*values)


@dataclass(slots=True)
class Draft:
    """A task being placed: the task, its calendar and what the guards need to move it."""

    task: CreateTask
    calendar: LocalCalendar
    proposal: Proposal
    before: Enrollment | None  # the enrollment as it was before this task was planned (None: a thank-you)
    anchor: datetime | None = None  # where the step's wait was counted from


@dataclass(frozen=True, slots=True)
class Candidate:
    """A contact waiting to start a cadence: new, referred, re-engaging, or already queued."""

    cadence: Cadence
    why: str
    key: str  # position in the queue
    owner_id: str
    referral: bool = False  # referred by another contact (first in the queue, with its referrer)
    queued: Enrollment | None = None  # the queued enrollment, when it is one
    reengage_from: Enrollment | None = None  # the snoozed enrollment it follows
