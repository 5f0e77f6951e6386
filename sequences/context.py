"""What one planning run derives once from the config and the snapshot: the shared context.

Windows, durations, rules, each contact's calendar, each owner's day ledger and the
pacing budget live here, computed once per run (or remembered: results are pure).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from .calendar import LocalCalendar, calendar_for, owner_zone_name, phone_facts
from .config import WEEKDAYS, Cadence, Condition, Config, Rule, Step
from .durations import Duration, Window, parse_window
from .guards import DayLoad, Proposal, place
from .records import Channel, Contact, Owner
from .rules import compile_rule

Predicate = Callable[[Contact], bool]


@dataclass
class PlanContext:
    """Everything derived from the config once per run (windows, durations, rules, calendars, loads)."""

    config: Config
    account: str
    now: datetime
    owners: dict[str, Owner]
    load: dict[tuple[str, str], int]  # (owner, owner-local ISO day) -> tasks: shared by every DayLoad
    admit: bool | None = None  # see Snapshot.admit
    work_days: frozenset[int] = field(init=False)
    windows: dict[Channel, Window] = field(init=False)
    budget: tuple[int, timedelta] = field(init=False)
    referral_cadence: str | None = field(init=False)
    cadences: dict[str, Cadence] = field(init=False)
    enroll_rules: list[tuple[Cadence, Predicate]] = field(init=False)
    enroll_reasons: dict[str, str] = field(init=False)
    exit_rules: dict[str, Predicate] = field(init=False)
    default_calendar: LocalCalendar = field(init=False)
    owner_ids: tuple[str, ...] = field(init=False)
    _placements: dict[object, tuple[datetime, tuple[str, ...]]] = field(init=False, default_factory=dict)
    _calendars: dict[tuple[object, ...], LocalCalendar] = field(init=False, default_factory=dict)
    _reasons: dict[tuple[str, int], str] = field(init=False, default_factory=dict)
    _loads: dict[str, DayLoad] = field(init=False, default_factory=dict)
    _proposals: dict[tuple[LocalCalendar, Window], Proposal] = field(init=False, default_factory=dict)
    pacing_days: dict[str, tuple[tuple[date, str], ...]] = field(init=False, default_factory=dict)  # see pacing.free_slots
    _conditions: dict[int, tuple[Condition, Predicate]] = field(init=False, default_factory=dict)
    _horizon_starts: dict[datetime, datetime] = field(init=False, default_factory=dict)
    surely_within: datetime = field(init=False)  # tasks due by then are within the horizon, whatever the calendar

    def __post_init__(self) -> None:
        cfg = self.config
        self.work_days = frozenset(WEEKDAYS.index(d) for d in cfg.calendar.work_days)
        self.windows = {channel: cfg.channel_window(channel) for channel in Channel}
        self.budget = (cfg.guards.touch_budget.touches, cfg.guards.touch_budget.per.fixed)
        self.referral_cadence = next((c.referral_cadence for c in cfg.cadences if c.referral_cadence), None)
        self.cadences = {c.id: c for c in cfg.cadences}
        self.exit_rules = {c.id: compile_rule(c.exit_when) for c in cfg.cadences if c.exit_when is not None}
        self.enroll_rules = [(c, compile_rule(c.enroll_when)) for c in cfg.cadences if c.enroll_when is not None]
        self.enroll_reasons = {c.id: f"matches the enrollment rule of {c.name!r}" for c in cfg.cadences}
        self.default_calendar = self._calendar(Contact(id=""), "")
        self.owner_ids = tuple(sorted(self.owners))
        horizon = cfg.pacing.horizon
        span = timedelta(hours=horizon.amount) if horizon is not None and horizon.unit == "hours" else \
            timedelta(days=horizon.amount if horizon is not None else 0) - timedelta(hours=3)  # DST margin
        self.surely_within = self.now + span

    # -- placing one task
    def placement(self, proposal: Proposal, anchor: datetime, wait: Duration, has_touches: bool) -> tuple[datetime, tuple[str, ...]]:
        """Where a step lands: the wait on the contact's calendar, then the guards (capacity
        comes later, in `capacity.py`). Contacts with no touch history that share a
        calendar, window and anchor land in the same place, so that case is remembered."""
        memo_key = (proposal.calendar, proposal.window, anchor, wait)
        if not has_touches and memo_key in self._placements:
            return self._placements[memo_key]
        earliest, passed = proposal.calendar.due_after(anchor, wait, proposal.window)
        due, moves = place(earliest, proposal)
        result = (due, passed + moves)
        if not has_touches:
            if len(self._placements) > 50_000:
                self._placements.clear()
            self._placements[memo_key] = result
        return result

    def proposal(self, calendar: LocalCalendar, window: Window, touches: tuple[datetime, ...]) -> Proposal:
        if not touches:  # the same for every new contact on this calendar and window: built once
            found = self._proposals.get((calendar, window))
            if found is None:
                if len(self._proposals) > 50_000:
                    self._proposals.clear()
                found = self._proposals[(calendar, window)] = self._proposal(calendar, window, ())
            return found
        return self._proposal(calendar, window, touches)

    def _proposal(self, calendar: LocalCalendar, window: Window, touches: tuple[datetime, ...]) -> Proposal:
        touches_allowed, per = self.budget
        return Proposal(calendar, window, self.now, touches, self.config.guards.min_gap, touches_allowed, per)

    def step_reason(self, cadence: Cadence, index: int) -> str:
        """Why a step's task exists, in words (the same words for every contact: built once)."""
        memo_key = (cadence.id, index)
        reason = self._reasons.get(memo_key)
        if reason is None:
            step = cadence.steps[index]
            after = "after enrolling" if index == 0 else "after the previous step was done"
            reason = f"step {index + 1}/{len(cadence.steps)} of {cadence.name!r}: {step.wait} {after}"
            self._reasons[memo_key] = reason
        return reason

    def condition(self, cond: Condition) -> Predicate:
        """A skip condition as a compiled predicate (compiled once per run)."""
        found = self._conditions.get(id(cond))
        if found is None or found[0] is not cond:
            found = self._conditions[id(cond)] = (cond, compile_rule(Rule(all=[cond])))
        return found[1]

    def window_for(self, step: Step) -> Window:
        base = self.windows[step.channel]
        if step.window:  # the config check guarantees the two overlap
            return base.intersect(parse_window(step.window)) or base
        return base

    # -- calendars and owners
    def calendar(self, contact: Contact) -> LocalCalendar:
        """The contact's calendar, remembered by what decides it: the contact's zone, country,
        region and owner, and, when those do not settle it, what its phone number tells."""
        short = (contact.timezone, contact.country, contact.subdivision, contact.owner_id)
        found = self._calendars.get(short)
        if found is not None:
            return found
        full = (*short, phone_facts(contact.phone))
        found = self._calendars.get(full)
        if found is not None:
            return found
        result = self._calendar(contact, contact.owner_id)
        if len(self._calendars) > 50_000:
            self._calendars.clear()
        if contact.country and result.zone_source in ("contact", "country") and result.country == contact.country.upper():
            self._calendars[short] = result  # the phone number played no part
        else:
            self._calendars[full] = result
        return result

    def _calendar(self, contact: Contact, owner_id: str) -> LocalCalendar:
        cal = self.config.calendar
        return calendar_for(
            contact,
            self.owners.get(owner_id),
            default_zone=cal.timezone,
            default_country=cal.country,
            default_subdivision=cal.subdivision,
            work_days=self.work_days,
            extra_days_off=frozenset(cal.owner_days_off.get(owner_id, ())),
        )

    def owner_zone(self, owner_id: str) -> str:
        return owner_zone_name(self.owners.get(owner_id), self.config.calendar.timezone)

    def capacity(self, owner_id: str) -> int:
        return self.config.guards.owner_capacity.get(owner_id, self.config.guards.daily_capacity)

    def day_load(self, owner_id: str) -> DayLoad:
        """The owner's day ledger ("" is the unassigned queue, counted on the default zone)."""
        found = self._loads.get(owner_id)
        if found is None:
            found = self._loads[owner_id] = DayLoad(owner_id, self.owner_zone(owner_id), self.capacity(owner_id), self.load)
        return found

    def owner_for(self, contact: Contact) -> str | None:
        """Who owns a contact's tasks: its owner; for an unowned contact, `guards.unowned`
        decides (an owner id; round robin: one of the CRM's owners by a stable hash of the
        contact id, so a contact always goes to the same one, or the unassigned queue when
        the CRM lists none; report: None, unassignable). An owner the CRM no longer lists (a
        deleted user) counts as no owner, when the CRM lists its owners at all."""
        if contact.owner_id and (contact.owner_id in self.owners or not self.owners):
            return contact.owner_id
        policy = self.config.guards.unowned
        if policy == "report":
            return None
        if policy != "round_robin":
            return policy
        if not self.owner_ids:
            return ""
        return self.owner_ids[zlib.crc32(contact.id.encode()) % len(self.owner_ids)]

    # -- the horizon
    def horizon_start(self, due: datetime) -> datetime | None:
        """From when a task due at `due` falls within the horizon (None: no horizon)."""
        horizon = self.config.pacing.horizon
        if horizon is None:
            return None
        if due <= self.surely_within:  # fast path: N business days or days span at least N days
            return self.now
        start = self._horizon_starts.get(due)
        if start is None:
            if len(self._horizon_starts) > 50_000:
                self._horizon_starts.clear()
            start = self._horizon_starts[due] = self.default_calendar.shift(due, horizon, -1)
        return start
