"""The cadence engine: `plan(config, snapshot, now)` -> a plan of follow-ups.

Pure: data and `now` come in, a plan goes out. Same inputs, same plan, byte for byte.
Contacts stream through in chunks, so memory stays bounded however many there are; the
capacity guard is applied per chunk in priority order, on top of the open load the CRM
already has.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, time, timedelta
from itertools import islice
from operator import attrgetter
from typing import Any

from .calendar import LocalCalendar, calendar_for, local_day, zone_or_none
from .config import WEEKDAYS, Cadence, Config, Rule, Step
from .durations import Duration, Window, parse_duration, parse_window
from .guards import Proposal, place
from .outcomes import detect_outcome
from .records import (
    Channel,
    CloseTask,
    Contact,
    ContactPlan,
    ContactState,
    CreateTask,
    Enrollment,
    EnrollmentStatus,
    Note,
    Outcome,
    Owner,
    Plan,
    Snapshot,
    TaskState,
    TaskStatus,
)
from .rules import Predicate, compile_rule, matches
from .scripts import missing_text_reason, render_task_text, task_text

CHUNK = 5000
LIVE = (EnrollmentStatus.ACTIVE, EnrollmentStatus.SNOOZED)
PRIORITY_RANK = {"high": 0, "medium": 1, "low": 2}


_ENROLLMENT_FIELDS = tuple(f.name for f in fields(Enrollment))
_ENROLLMENT_INDEX = {name: i for i, name in enumerate(_ENROLLMENT_FIELDS)}
_enrollment_values = attrgetter(*_ENROLLMENT_FIELDS)


def _evolve(e: Enrollment, **changes: object) -> Enrollment:
    """`dataclasses.replace` for enrollments, without its per-call introspection (hot path)."""
    values = list(_enrollment_values(e))
    for name, value in changes.items():
        values[_ENROLLMENT_INDEX[name]] = value
    return Enrollment(*values)


def task_key(account: str, contact_id: str, cadence_id: str, version: int, seq: int, step_id: str) -> str:
    """The stable identity of one follow-up: what makes every sync idempotent."""
    raw = "\x1f".join((account, contact_id, cadence_id, str(version), str(seq), step_id))
    return "cc-" + hashlib.sha256(raw.encode()).hexdigest()[:24]


def thanks_key(account: str, contact_id: str, referred_id: str) -> str:
    return task_key(account, contact_id, "thanks", 0, 0, referred_id)


# --------------------------------------------------------------------------- context


@dataclass
class _Run:
    """Everything derived from the config once per run (windows, durations, capacity)."""

    config: Config
    account: str
    now: datetime
    owners: dict[str, Owner]
    load: dict[tuple[str, str], int]
    work_days: frozenset[int] = field(init=False)
    windows: dict[Channel, Window] = field(init=False)
    min_gap: timedelta = field(init=False)
    budget: tuple[int, timedelta] = field(init=False)
    referral_cadence: str | None = field(init=False)
    cadences: dict[str, Cadence] = field(init=False)
    enroll_rules: list[tuple[Cadence, Predicate]] = field(init=False)
    enroll_reasons: dict[str, str] = field(init=False)
    exit_rules: dict[str, Predicate] = field(init=False)
    _placements: dict[tuple[LocalCalendar, Window, datetime, Duration], tuple[datetime, tuple[str, ...]]] = field(
        init=False, default_factory=dict
    )
    _calendars: dict[tuple[str, str, str, str], LocalCalendar] = field(init=False, default_factory=dict)
    _reasons: dict[tuple[str, int], str] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        cfg = self.config
        self.work_days = frozenset(WEEKDAYS.index(d) for d in cfg.calendar.work_days)
        self.windows = {channel: cfg.channel_window(channel) for channel in Channel}
        gap = parse_duration(cfg.guards.min_gap)
        self.min_gap = timedelta(hours=gap.amount) if gap.unit == "hours" else timedelta(days=max(gap.calendar_days, gap.amount))
        self.budget = (cfg.guards.touch_budget.touches, timedelta(days=parse_duration(cfg.guards.touch_budget.per).calendar_days))
        self.referral_cadence = next((c.referral_cadence for c in cfg.cadences if c.referral_cadence), None)
        self.cadences = {c.id: c for c in cfg.cadences}
        self.exit_rules = {c.id: compile_rule(c.exit_when) for c in cfg.cadences if c.exit_when is not None}
        self.enroll_rules = [(c, compile_rule(c.enroll_when)) for c in cfg.cadences if c.enroll_when is not None]
        self.enroll_reasons = {c.id: f"matches the enrollment rule of {c.name!r}" for c in cfg.cadences}

    def placement(self, proposal: Proposal, anchor: datetime, wait: Duration, has_touches: bool) -> tuple[datetime, tuple[str, ...]]:
        """Where a step lands: the wait on the contact's calendar, then the guards.

        Contacts with no touch history that share a calendar, window and anchor land in
        the same place, so that case is remembered (a bounded memo: results are pure).
        """
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

    def window_for(self, step: Step) -> Window:
        base = self.windows[step.channel]
        if step.window:  # the config check guarantees the two overlap
            return base.intersect(parse_window(step.window)) or base
        return base

    def calendar(self, contact: Contact) -> LocalCalendar:
        """The contact's calendar; remembered per (zone, country, region, owner) when the
        contact's own zone and country settle it (the phone number plays no part then)."""
        memo_key = None
        if contact.timezone and contact.country:
            memo_key = (contact.timezone, contact.country, contact.subdivision, contact.owner_id)
            found = self._calendars.get(memo_key)
            if found is not None:
                return found
        cal = self.config.calendar
        extra = frozenset(cal.owner_days_off.get(contact.owner_id, ()))
        result = calendar_for(
            contact,
            self.owners.get(contact.owner_id),
            default_zone=cal.timezone,
            default_country=cal.country,
            default_subdivision=cal.subdivision,
            work_days=self.work_days,
            extra_days_off=extra,
        )
        if memo_key is not None and result.zone_source == "contact" and result.country == contact.country.upper():
            if len(self._calendars) > 50_000:
                self._calendars.clear()
            self._calendars[memo_key] = result
        return result

    def owner_zone(self, owner_id: str) -> str:
        owner = self.owners.get(owner_id)
        return owner.timezone if owner and zone_or_none(owner.timezone) else self.config.calendar.timezone

    def capacity(self, owner_id: str) -> int:
        return self.config.guards.owner_capacity.get(owner_id, self.config.guards.daily_capacity)


# ----------------------------------------------------------------------------- plan


def plan(config: Config, snapshot: Snapshot, now: datetime) -> Plan:
    """The whole plan at once (see `plan_iter` to stream it)."""
    return Plan(tuple(p for p in plan_iter(config, snapshot, now) if not p.empty))


def plan_iter(config: Config, snapshot: Snapshot, now: datetime, chunk: int = CHUNK) -> Iterator[ContactPlan]:
    """Plan contact by contact, in the snapshot's order, `chunk` contacts at a time."""
    run = _Run(config, snapshot.account or config.account, now, dict(snapshot.owners), dict(snapshot.owner_load))
    contacts = iter(snapshot.contacts)
    while batch := list(islice(contacts, chunk)):
        drafts = [_Contact(run, state).plan() for state in batch]
        _apply_capacity(run, drafts)
        yield from (d.result() for d in drafts)


def plan_contact(
    config: Config, state: ContactState, now: datetime, account: str = "", owners: dict[str, Owner] | None = None
) -> ContactPlan:
    """One contact's plan (no capacity competition): handy for tests and previews."""
    return next(plan_iter(config, Snapshot(account=account, contacts=[state], owners=owners or {}), now))


# ------------------------------------------------------------------- one contact


_NONE: list[Any] = []  # shared, never appended to: a contact's lists start as this


@dataclass(slots=True)
class _Draft:
    task: CreateTask
    calendar: LocalCalendar
    proposal: Proposal


class _Contact:
    """Works out one contact's next move. Mutable while planning, frozen in `result()`.

    Slots and lazily created lists: a million of these pass through a run, and fewer
    allocations mean less garbage-collector work.
    """

    __slots__ = ("changed", "closes", "contact", "drafts", "enrollments", "notes", "run", "state")

    def __init__(self, run: _Run, state: ContactState) -> None:
        self.run = run
        self.state = state
        self.contact = state.contact
        self.enrollments: list[Enrollment] = list(state.enrollments)
        self.changed = False
        self.drafts: list[_Draft] = _NONE
        self.closes: list[CloseTask] = _NONE
        self.notes: list[Note] = _NONE

    def _task(self, key: str) -> TaskState | None:
        if not key:
            return None
        for t in self.state.tasks:
            if t.key == key:
                return t
        return None

    def _close(self, close: CloseTask) -> None:
        if self.closes is _NONE:
            self.closes = []
        self.closes.append(close)

    # -- entry point
    def plan(self) -> _Contact:
        live = self._live()
        if self.contact.deleted or self.contact.merged_into:
            if live is not None:
                why = (f"merged into contact {self.contact.merged_into}" if self.contact.merged_into else "deleted in the CRM")
                self._end(live, EnrollmentStatus.EXITED, f"contact {why}")
            return self
        if live is None:
            self._maybe_enroll()
        elif live.status is EnrollmentStatus.SNOOZED:
            self._wake(live)
        else:
            self._advance(live)
        self._thank_referrers()
        return self

    def result(self) -> ContactPlan:
        if not self.changed and self.drafts is _NONE and self.closes is _NONE and self.notes is _NONE:
            return ContactPlan(self.contact.id)  # the common case: nothing to do
        return ContactPlan(
            contact_id=self.contact.id,
            creates=tuple(d.task for d in self.drafts),
            closes=tuple(self.closes),
            notes=tuple(self.notes),
            enrollments=tuple(self.enrollments) if self.changed else None,
        )

    # -- enrollment bookkeeping
    def _live(self) -> Enrollment | None:
        enrollments = self.enrollments
        if len(enrollments) <= 1:  # the common case
            return enrollments[0] if enrollments and enrollments[0].status in LIVE else None
        live = [e for e in enrollments if e.status in LIVE]
        return max(live, key=lambda e: e.seq) if live else None

    def _put(self, new: Enrollment) -> Enrollment:
        """Record the new state of an enrollment (enrollments stay in seq order)."""
        for i, e in enumerate(self.enrollments):
            if e.seq == new.seq:
                self.enrollments[i] = new
                break
        else:
            self.enrollments.append(new)
            if len(self.enrollments) > 1 and self.enrollments[-2].seq > new.seq:
                self.enrollments.sort(key=lambda e: e.seq)
        self.changed = True
        return new

    def _note(self, kind: str, cadence_id: str, reason: str, step_id: str = "") -> None:
        if self.notes is _NONE:
            self.notes = []
        self.notes.append(Note(self.contact.id, kind, cadence_id, reason, step_id))

    def _open_task(self) -> TaskState | None:
        return next((t for t in self.state.tasks if t.status is TaskStatus.OPEN), None)

    def _end(self, e: Enrollment, status: EnrollmentStatus, reason: str) -> None:
        """Finish or exit an enrollment, closing the loop it opened."""
        task = self._task(e.open_task_key)
        if task is not None and task.status is TaskStatus.OPEN:
            self._close(CloseTask(task.key, self.contact.id, task.crm_id, f"enrollment ended: {reason}"))
        self._put(_evolve(e, status=status, open_task_key="", ended_at=self.run.now, reason=reason))
        self._note("finish" if status is EnrollmentStatus.FINISHED else "exit", e.cadence_id, reason)

    # -- new enrollments
    def _maybe_enroll(self) -> None:
        c = self.contact
        if self.enrollments or c.do_not_contact or "all" in c.opted_out:
            return
        cadence, why = self._cadence_for_new_contact()
        if cadence is None:
            return
        if self._open_task() is not None:  # e.g. a thank-you still open: one open task per contact
            self._note("hold", cadence.id, "enrollment waits for the contact's open task to be done")
            return
        seq = max((e.seq for e in self.enrollments), default=0) + 1
        e = self._put(
            Enrollment(
                contact_id=c.id, cadence_id=cadence.id, version=cadence.version, seq=seq,
                status=EnrollmentStatus.ACTIVE, enrolled_at=self.run.now, anchor_at=self.run.now,
                referrer_id=c.referred_by if self.state.referrer else "", baseline_lead_status=c.lead_status,
                reason=why,
            )
        )
        self._note("enroll", cadence.id, why)
        self._plan_from(e, cadence, 0, self.run.now)

    def _cadence_for_new_contact(self) -> tuple[Cadence | None, str]:
        if self.contact.referred_by and self.state.referrer and self.run.referral_cadence:
            who = self.state.referrer.full_name or self.state.referrer.id
            return self.run.cadences.get(self.run.referral_cadence), f"referred by {who}"
        for cadence, enroll in self.run.enroll_rules:
            if enroll(self.contact):
                leave = self.run.exit_rules.get(cadence.id)
                if leave is not None and leave(self.contact):
                    continue
                return cadence, self.run.enroll_reasons[cadence.id]
        return None, ""

    # -- snoozed enrollments
    def _wake(self, e: Enrollment) -> None:
        c = self.contact
        if c.do_not_contact or "all" in c.opted_out:
            self._end(e, EnrollmentStatus.EXITED, "marked do not contact while snoozed")
            return
        if e.snoozed_until is None or self.run.now < e.snoozed_until or self._open_task() is not None:
            return
        target = self.run.cadences.get(e.reengage_into) or self.run.cadences.get(e.cadence_id)
        self._end(e, EnrollmentStatus.FINISHED, "cool-off over: re-engaging")
        if target is None:
            return
        new = self._put(
            Enrollment(
                contact_id=c.id, cadence_id=target.id, version=target.version, seq=e.seq + 1,
                status=EnrollmentStatus.ACTIVE, enrolled_at=self.run.now, anchor_at=self.run.now,
                baseline_lead_status=c.lead_status, reason=f"re-engaged after 'not now' in {e.cadence_id}",
            )
        )
        self._note("reengage", target.id, f"cool-off since {e.ended_at or e.enrolled_at:%Y-%m-%d} is over")
        self._plan_from(new, target, 0, self.run.now)

    # -- active enrollments
    def _advance(self, e: Enrollment) -> None:
        cadence = self.run.cadences.get(e.cadence_id)
        if cadence is None:
            self._end(e, EnrollmentStatus.EXITED, f"cadence {e.cadence_id!r} is no longer in the config")
            return
        task = self._task(e.open_task_key)
        outcome, evidence = detect_outcome(self.run.config.outcomes, self.contact, e, task)
        if outcome is not Outcome.NO_RESPONSE and self._route(e, cadence, outcome, evidence):
            return
        leave = self.run.exit_rules.get(cadence.id)
        if leave is not None and leave(self.contact):
            self._end(e, EnrollmentStatus.EXITED, "matches the cadence's exit rule")
            return
        if e.open_task_key:
            if task is not None and task.status is TaskStatus.OPEN and self._channel_closed(task):
                # opted out (or bounced) since the task was planned: withdraw it, move on
                why = f"contact opted out of {task.channel} after the task was planned"
                self._close(CloseTask(task.key, self.contact.id, task.crm_id, why))
                self._note("skip", e.cadence_id, why)
                e = self._put(_evolve(e, open_task_key="", anchor_at=self.run.now))
            elif task is None or task.status is TaskStatus.OPEN:
                return  # still waiting on the recruiter (or on the CRM to confirm the task)
            elif task.status is TaskStatus.DELETED:
                # cancelled or skipped (or deleted in the CRM): this touch will not happen; the
                # cadence moves on. Only an outcome ends it (checked above).
                self._note("skip", e.cadence_id, "the recruiter cancelled or skipped the task: on to the next step")
                e = self._put(_evolve(e, open_task_key="", anchor_at=self.run.now))
            else:
                anchor = task.completed_at or self.run.now
                e = self._put(_evolve(e, open_task_key="", anchor_at=anchor))
        if self._pending_thanks():
            return  # a thank-you comes first; the next step follows its completion
        next_index = e.step_index + 1
        if e.version != cadence.version:
            if cadence.version_policy == "finish":
                self._end(e, EnrollmentStatus.FINISHED, f"cadence changed to version {cadence.version}")
                return
            e = self._put(_evolve(e, version=cadence.version, reason=f"migrated to version {cadence.version}"))
        self._plan_from(e, cadence, next_index, e.anchor_at or self.run.now)

    def _route(self, e: Enrollment, cadence: Cadence, outcome: Outcome, evidence: str) -> bool:
        """Act on an outcome; True when the enrollment stops here."""
        action = cadence.action_for(outcome)
        if action == "finish":
            self._end(e, EnrollmentStatus.FINISHED, evidence)
        elif action == "exit":
            self._end(e, EnrollmentStatus.EXITED, evidence)
        elif action == "snooze":
            until = self.run.now + timedelta(days=parse_duration(cadence.not_now.snooze).calendar_days or 1)
            target = cadence.not_now.reengage_into or cadence.id
            task = self._task(e.open_task_key)
            if task is not None and task.status is TaskStatus.OPEN:
                self._close(CloseTask(task.key, self.contact.id, task.crm_id, f"snoozed: {evidence}"))
            self._put(_evolve(e, status=EnrollmentStatus.SNOOZED, open_task_key="", snoozed_until=until,
                              reengage_into=target, ended_at=self.run.now, reason=evidence))
            self._note("snooze", e.cadence_id, f"{evidence}: back on {until:%Y-%m-%d} in {target!r}")
        else:
            if outcome is Outcome.BOUNCED:
                self._note("hold", e.cadence_id, f"{evidence}: email steps will be skipped")
            return False
        return True

    # -- steps
    def _plan_from(self, e: Enrollment, cadence: Cadence, index: int, anchor: datetime) -> None:
        """Plan the first step from `index` on that is not skipped; finish when none is left."""
        while index < len(cadence.steps):
            step = cadence.steps[index]
            skip = self._skip_reason(step, e)
            if skip is None:
                self._create_step_task(e, cadence, index, step, anchor)
                return
            self._note("skip", cadence.id, skip, step.id)
            e = self._put(_evolve(e, step_index=index))
            index += 1
        self._end(e, EnrollmentStatus.FINISHED, f"all {len(cadence.steps)} steps done without an answer")

    def _skip_reason(self, step: Step, e: Enrollment) -> str | None:
        c = self.contact
        if step.channel.value in c.opted_out:
            return f"opted out of {step.channel.value}"
        if step.channel is Channel.EMAIL and self._bounced(e):
            return "email bounced"
        for cond in step.skip_if:
            if cond == "no_phone" and not c.phone:
                return "no phone number"
            if cond == "no_email" and not c.email:
                return "no email address"
            if cond == "no_linkedin" and not c.linkedin_url:
                return "no LinkedIn profile"
            if not isinstance(cond, str) and matches(Rule(all=[cond]), c):
                return f"skip rule on {cond.property!r} matched"
        return None

    def _channel_closed(self, task: TaskState) -> bool:
        c = self.contact
        return bool(task.channel) and (task.channel in c.opted_out or (task.channel == "email" and "bounced" in c.opted_out))

    def _bounced(self, e: Enrollment) -> bool:
        return any(t.outcome is Outcome.BOUNCED for t in self.state.tasks) or "bounced" in self.contact.opted_out

    def _create_step_task(self, e: Enrollment, cadence: Cadence, index: int, step: Step, anchor: datetime) -> None:
        run, c = self.run, self.contact
        calendar = run.calendar(c)
        window = run.window_for(step)
        proposal = self._proposal(calendar, window)
        due, moves = run.placement(proposal, anchor, step.wait_duration, bool(self.state.touches))
        key = task_key(run.account, c.id, cadence.id, cadence.version, e.seq, step.id)
        owner = run.owners.get(c.owner_id)
        subject, body, missing = task_text(run.config, cadence, index, step, c, owner, self.state.referrer, None)
        if missing:
            self._note("text", cadence.id, missing_text_reason(missing, c, owner), step.id)
        reason = run.step_reason(cadence, index)
        self._add_task(key, e, cadence, index, step.id, step.channel, step.priority, due, calendar,
                       subject, body, reason, moves, proposal)
        self._put(_evolve(e, step_index=index, open_task_key=key, anchor_at=anchor))

    def _proposal(self, calendar: LocalCalendar, window: Window) -> Proposal:
        touches, per = self.run.budget
        return Proposal(calendar, window, self.run.now, self.state.touches, self.run.min_gap, touches, per)

    def _add_task(self, key: str, e: Enrollment | None, cadence: Cadence | None, index: int, step_id: str,
                  channel: Channel, priority: str, due: datetime, calendar: LocalCalendar, subject: str,
                  body: str, reason: str, moves: tuple[str, ...], proposal: Proposal) -> None:
        c = self.contact
        task = CreateTask(
            key=key, contact_id=c.id, owner_id=c.owner_id,
            cadence_id=cadence.id if cadence else "thanks", version=cadence.version if cadence else 0,
            seq=e.seq if e else 0, step_index=index, step_id=step_id, channel=channel,
            task_type=channel.value, priority=priority.lower(), due_at=due,
            due_local=due.astimezone(calendar.zone).isoformat(), timezone=calendar.zone_name,
            subject=subject, body=body, reason=reason, adjustments=moves,
        )
        if self.drafts is _NONE:
            self.drafts = []
        self.drafts.append(_Draft(task, calendar, proposal))

    # -- referrals
    def _pending_thanks(self) -> list[Contact]:
        if not self.run.config.referral_thanks:
            return []
        if not self.state.referrals:
            return []
        keys = {t.key for t in self.state.tasks}
        return [r for r in self.state.referrals if thanks_key(self.run.account, self.contact.id, r.id) not in keys]

    def _thank_referrers(self) -> None:
        """A thank-you task to whoever gave us a name, when nothing else is open for them."""
        pending = self._pending_thanks()
        c = self.contact
        if pending and (c.do_not_contact or "all" in c.opted_out or "todo" in c.opted_out or c.deleted or c.merged_into):
            return  # never a thank-you to someone who asked not to be contacted
        if not pending or self.drafts or self._open_task() is not None:
            if pending and not self.drafts:
                self._note("hold", "thanks", "thank-you waits for the open task to be done")
            return
        referred = sorted(pending, key=lambda r: r.id)[0]
        run, c = self.run, self.contact
        calendar = run.calendar(c)
        window = run.windows[Channel.TODO]
        proposal = self._proposal(calendar, window)
        due, moves = place(run.now, proposal)
        subject, body = render_task_text(run.config, None, 0, None, c, run.owners.get(c.owner_id), None, referred)
        key = thanks_key(run.account, c.id, referred.id)
        self._add_task(key, None, None, 0, f"thanks-{referred.id}", Channel.TODO, "medium", due, calendar,
                       subject, body, f"{c.full_name or c.id} referred {referred.full_name or referred.id}", moves, proposal)
        live = self._live()
        if live is not None and live.status is EnrollmentStatus.ACTIVE and not live.open_task_key:
            self._put(_evolve(live, open_task_key=key))


# -------------------------------------------------------------------- capacity


def _apply_capacity(run: _Run, contacts: Iterable[_Contact]) -> None:
    """Per-owner daily caps, filled in priority order; overflow moves to a later allowed day."""
    drafts = [d for c in contacts for d in c.drafts if d.task.owner_id]
    zones = {o: run.owner_zone(o) for o in {d.task.owner_id for d in drafts}}
    caps = {o: run.capacity(o) for o in zones}
    keyed = [((local_day(d.task.due_at, zones[d.task.owner_id]), PRIORITY_RANK.get(d.task.priority.lower(), 1), d.task.due_at, d.task.key), d)
             for d in drafts]
    keyed.sort(key=lambda pair: pair[0])
    load = run.load
    for (first_day, *_), draft in keyed:
        task = draft.task
        owner = task.owner_id
        zone, cap = zones[owner], caps[owner]
        due, day, moves = task.due_at, first_day, None
        slot = (owner, day.isoformat())
        for attempt in range(400):
            if load.get(slot, 0) < cap:
                break
            if attempt == 399:
                raise ValueError(f"no day with spare capacity for owner {owner} within 400 days")
            if moves is None:
                moves = list(task.adjustments)
            moves.append(f"capacity: {owner} already has {cap} tasks on {day:%a %d %b %Y}")
            later = day + timedelta(days=1)
            while load.get((owner, later.isoformat()), 0) >= cap:  # skip days already known full
                later += timedelta(days=1)
            next_day = datetime.combine(later, time(0, 0), tzinfo=zone_or_none(zone))
            due, more = place(max(next_day, due), draft.proposal)
            moves.extend(more)
            day = local_day(due, zone)
            slot = (owner, day.isoformat())
        load[slot] = load.get(slot, 0) + 1
        if moves is not None:
            draft.task = replace(task, due_at=due, due_local=due.astimezone(draft.calendar.zone).isoformat(),
                                 adjustments=tuple(moves))
