"""The capacity guard's order: which task keeps an owner's day.

A cap is the day's workload: every task due that owner-local day counts, done or open
(the sync hands the engine what the CRM already has, per owner and owner-local day).
Within a run, tasks claim days in priority order (high, medium, low), then by due time:
a high-priority call keeps its day, and a low-priority task that overflowed from an
earlier day takes what is left. Overflow only ever moves a task later, through the whole
guard pipeline again (calendar, gap, budget), never earlier than the cadence allows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import fields
from datetime import datetime
from operator import attrgetter
from typing import TYPE_CHECKING

from .calendar import local_day, local_text, owner_zone_name
from .guards import Proposal, place
from .records import CreateTask, Owner

if TYPE_CHECKING:  # pragma: no cover
    from .context import PlanContext
    from .drafts import Draft

PRIORITY_ORDER = {"HIGH": 0, "MEDIUM": 1, "LOW": 2}


def apply_capacity(ctx: PlanContext, drafts: Iterable[Draft], in_given_order: bool = False) -> None:
    """Place each draft on a day its owner still has room for, highest priority first, then
    earliest due, then by key (or, with `in_given_order`, in the order given: the queue's)."""
    if in_given_order:
        ordered = sorted(drafts, key=lambda d: (PRIORITY_ORDER.get(d.task.priority.upper(), 1), d.task.due_at))
    else:
        ordered = sorted(drafts, key=lambda d: (PRIORITY_ORDER.get(d.task.priority.upper(), 1), d.task.due_at, d.task.key))
    for draft in ordered:
        task = draft.task
        load = ctx.day_load(task.owner_id)
        if load.claim(task.due_at):  # the common case: the day has room
            continue
        p = draft.proposal
        with_load = Proposal(p.calendar, p.window, p.now, p.touches, p.min_gap, p.budget_touches, p.budget_window, load)
        due, moves = place(task.due_at, with_load)
        load.take(load.day(due))
        draft.task = moved(task, due, local_text(due, draft.calendar.zone_name), task.adjustments + moves)


_TASK_FIELDS = tuple(f.name for f in fields(CreateTask))
_task_values = attrgetter(*_TASK_FIELDS)
_DUE_AT, _DUE_LOCAL, _ADJUSTMENTS = (_TASK_FIELDS.index(n) for n in ("due_at", "due_local", "adjustments"))


def moved(task: CreateTask, due_at: datetime, due_local: str, adjustments: tuple[str, ...]) -> CreateTask:
    """`dataclasses.replace(task, due_at=..., due_local=..., adjustments=...)` without its
    per-call introspection (a capacity move is on the hot path)."""
    values = list(_task_values(task))
    values[_DUE_AT], values[_DUE_LOCAL], values[_ADJUSTMENTS] = due_at, due_local, adjustments
    return CreateTask(*values)


def release(ctx: PlanContext, draft: Draft) -> None:
    """Give a placed draft's slot back (it waits in state instead of being pushed)."""
    load = ctx.day_load(draft.task.owner_id)
    slot = (load.owner_id, load.day(draft.task.due_at).isoformat())
    if ctx.load.get(slot, 0) > 0:
        ctx.load[slot] -= 1


def day_counts(tasks: Iterable[tuple[str, datetime]], owners: Mapping[str, Owner], default_zone: str) -> dict[tuple[str, str], int]:
    """(owner, owner-local ISO day) -> tasks, from (owner id, due time) pairs: what the CRM
    already holds, in the form the engine's `Snapshot.owner_load` takes."""
    counts: Counter[tuple[str, str]] = Counter()
    zones: dict[str, str] = {}
    for owner_id, due in tasks:
        zone = zones.get(owner_id)
        if zone is None:
            zone = zones[owner_id] = owner_zone_name(owners.get(owner_id), default_zone)
        counts[(owner_id, local_day(due, zone).isoformat())] += 1
    return dict(counts)
