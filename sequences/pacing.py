"""Pacing: new enrollments start at the pace the recruiters' capacity allows.

A contact that matches a cadence (or is referred, or comes back after "not now") waits
in state as *queued* until its owner has room. The queue's order is documented and
fixed: referrals and re-engagements first, then by when the contact was queued
(`pacing.enroll_order`: oldest or newest first), then by contact id. An owner has room
for as many new enrollments as free task slots within the horizon: for each of the
owner's work days from today to the horizon's end, the cap less the tasks already due.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from .calendar import local_day
from .capacity import release
from .config import Config
from .drafts import NONE, Draft, evolve
from .durations import Duration
from .guards import DayLoad

if TYPE_CHECKING:  # pragma: no cover
    from .context import PlanContext
    from .engine import ContactPlanner

_EPOCH_END = 10**11  # seconds: inverts a timestamp for newest-first order


def queue_key(first_class: bool, queued_at: datetime, contact_id: str, order: str) -> str:
    """The position in the enrollment queue, as text that sorts in the documented order."""
    seconds = int(queued_at.timestamp())
    stamp = _EPOCH_END - seconds if order == "newest_first" else seconds
    return f"{0 if first_class else 1}:{stamp:012d}:{contact_id}"


def window_end(ctx: PlanContext) -> datetime:
    """The end of the days new enrollments are paced over: the horizon (5 business days without one)."""
    horizon = ctx.config.pacing.horizon or Duration(5, "business_days")
    return ctx.default_calendar.shift(ctx.now, horizon)


def free_slots(ctx: PlanContext, load: DayLoad) -> int:
    """Task slots the owner has left on their work days from today up to (not including) the
    day the pacing window ends."""
    days = ctx.pacing_days.get(load.zone_name)
    if days is None:  # the same for every owner on that clock: worked out once per run
        days = ctx.pacing_days[load.zone_name] = _window_days(ctx, load)
    owner = ctx.owners.get(load.owner_id)
    days_off: frozenset[date] = owner.days_off if owner is not None else frozenset()
    extra = ctx.config.calendar.owner_days_off.get(load.owner_id)
    if extra:
        days_off = days_off | frozenset(extra)
    counts, owner_id, capacity = load.counts, load.owner_id, load.capacity
    free = 0
    for day, iso in days:
        if day not in days_off:
            free += max(0, capacity - counts.get((owner_id, iso), 0))
    return free


def _window_days(ctx: PlanContext, load: DayLoad) -> tuple[tuple[date, str], ...]:
    """The work days (and their ISO text) of the pacing window, on the owner's clock."""
    first = load.day(ctx.now)
    last = local_day(window_end(ctx), load.zone_name) - timedelta(days=1)
    days, day = [], first
    while day <= last:
        if day.weekday() in ctx.work_days:
            days.append((day, day.isoformat()))
        day += timedelta(days=1)
    return tuple(days)


def queue_reach(config: Config, now: datetime) -> int:
    """How far down each owner's queue one run looks: the most a day's cap times the days
    paced over could admit (the engine then admits exactly what capacity allows)."""
    horizon = config.pacing.horizon or Duration(5, "business_days")
    days = horizon.amount * 2 + 3 if horizon.business else horizon.fixed.days + 2
    caps = [config.guards.daily_capacity, *config.guards.owner_capacity.values()]
    return max(caps) * max(days, 1)


class Admissions:
    """How many more enrollments each owner may start in this run (counted down as they start)."""

    def __init__(self, ctx: PlanContext):
        self.ctx = ctx
        self.left: dict[str, int] = {}

    def refresh(self) -> None:
        """Recount from the day ledgers (after a chunk's tasks have claimed their days)."""
        self.left.clear()

    def admit(self, owner_id: str) -> bool:
        ctx = self.ctx
        if ctx.admit is False:
            return False
        if not ctx.config.pacing.enroll_at_capacity:
            return True
        left = self.left.get(owner_id)
        if left is None:
            left = free_slots(ctx, ctx.day_load(owner_id))
        if left <= 0:
            self.left[owner_id] = 0
            return False
        self.left[owner_id] = left - 1
        return True


# ------------------------------------------------------------------------ the horizon


def apply_horizon(p: ContactPlanner) -> None:
    """Tasks due beyond the horizon wait in state: the enrollment keeps its place and
    wakes when the task comes within the horizon (sooner when anything changes)."""
    ctx = p.ctx
    if not p.drafts or ctx.config.pacing.horizon is None:
        return
    for d in p.drafts:  # the common case: every task surely within the horizon (see `horizon_start`)
        if d.task.due_at > ctx.surely_within:
            break
    else:
        return
    kept: list[Draft] = []
    for d in p.drafts:
        start = p.ctx.horizon_start(d.task.due_at)
        if start is None or start <= p.ctx.now:
            kept.append(d)
            continue
        release(p.ctx, d)
        live = p.live()
        if d.before is not None:
            anchor = d.anchor or d.before.anchor_at
            p.put(evolve(d.before, anchor_at=anchor, wake_at=start, next_due_at=d.task.due_at))
        elif live is not None and live.open_task_key == d.task.key:  # a thank-you held the enrollment
            p.put(evolve(live, open_task_key="", wake_at=start))
        horizon = p.ctx.config.pacing.horizon
        p.note("plan", d.task.cadence_id, f"{d.task.step_id} due {d.task.due_local[:16].replace('T', ' ')} "
                  f"waits in state: beyond the {horizon} horizon", d.task.step_id)
    p.drafts = kept if kept else NONE
