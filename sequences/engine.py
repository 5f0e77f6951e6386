"""The cadence engine: `plan(config, snapshot, now)` -> a plan of follow-ups.

Pure: data and `now` come in, a plan goes out. Same inputs, same plan, byte for byte.
Contacts stream through in chunks, so memory stays bounded however many there are. Per
chunk: each contact's next move is worked out (`ContactPlanner`); tasks of contacts
already enrolled claim their owners' days in priority order (`capacity.py`); queued
contacts start in queue order while their owners have room (`pacing.py`), and their
tasks claim what is left; thank-yous follow; tasks due beyond the horizon wait in state.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from itertools import islice

from .calendar import LocalCalendar, local_text
from .capacity import apply_capacity
from .config import Cadence, Config, Step
from .context import PlanContext
from .drafts import NONE, Candidate, Draft, evolve
from .guards import Proposal
from .keys import task_key, thanks_key
from .outcomes import detect_outcome
from .pacing import Admissions, apply_horizon
from .reach import Reach, channel_of, reach_of
from .records import (
    Channel,
    CloseTask,
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
from .referrals import pending_thanks, thank_referrer
from .scripts import missing_text_reason, task_text
from .starts import maybe_enroll, propose_start, requeue, start_or_queue
from .unreachable import REACH_SKIPS, ask_for_a_way_to_reach

__all__ = ["CHUNK", "plan", "plan_contact", "plan_iter", "task_key", "thanks_key"]

CHUNK = 5000
LIVE = (EnrollmentStatus.ACTIVE, EnrollmentStatus.SNOOZED)


# ----------------------------------------------------------------------------- plan


def plan(config: Config, snapshot: Snapshot, now: datetime) -> Plan:
    """The whole plan at once (see `plan_iter` to stream it)."""
    return Plan(tuple(p for p in plan_iter(config, snapshot, now) if not p.empty))


def plan_iter(config: Config, snapshot: Snapshot, now: datetime, chunk: int = CHUNK) -> Iterator[ContactPlan]:
    """Plan contact by contact, in the snapshot's order, `chunk` contacts at a time.

    Queued contacts start in queue order within a chunk; across chunks, in the snapshot's
    order: a caller that hands over more of the queue than one chunk hands it over in queue
    order (the sync's second pass does: `Store.queued_contacts`)."""
    ctx = PlanContext(config, snapshot.account or config.account, now, dict(snapshot.owners),
                      dict(snapshot.owner_load), snapshot.admit)
    admissions = Admissions(ctx)
    contacts = iter(snapshot.contacts)
    while batch := list(islice(contacts, chunk)):
        planners = [ContactPlanner(ctx, state).plan() for state in batch]
        apply_capacity(ctx, [d for p in planners for d in p.drafts])  # contacts already enrolled first
        admissions.refresh()
        queue = sorted(((p, p.candidate) for p in planners if p.candidate is not None), key=lambda pc: pc[1].key)
        for p, c in queue:
            start_or_queue(p, admissions.admit(c.owner_id))
        for p in planners:
            if p.state.referrals:
                p.thank_referrers()
        # then new starts (in queue order: the first in the queue gets the first free day) and thank-yous
        started = {id(p) for p, _ in queue}
        fresh = [d for p, _ in queue for d in p.drafts[p.placed:]]
        fresh += [d for p in planners if id(p) not in started for d in p.drafts[p.placed:]]
        apply_capacity(ctx, fresh, in_given_order=True)
        for p in planners:
            if p.drafts:
                apply_horizon(p)
        yield from (p.result() for p in planners)


def plan_contact(
    config: Config, state: ContactState, now: datetime, account: str = "", owners: dict[str, Owner] | None = None
) -> ContactPlan:
    """One contact's plan (no capacity competition, no pacing, no horizon): handy for tests and previews."""
    pacing = config.pacing.model_copy(update={"enroll_at_capacity": False, "horizon": None})
    config = config.model_copy(update={"pacing": pacing})
    return next(plan_iter(config, Snapshot(account=account, contacts=[state], owners=owners or {}), now))


# ------------------------------------------------------------------- one contact




class ContactPlanner:
    """Works out one contact's next move. Mutable while planning, frozen in `result()`.

    Slots and lazily created lists: a million of these pass through a run, and fewer
    allocations mean less garbage-collector work.
    """

    __slots__ = (
        "_reach",
        "candidate",
        "changed",
        "closes",
        "contact",
        "ctx",
        "drafts",
        "enrollments",
        "notes",
        "owner_id",
        "placed",
        "state",
    )

    def __init__(self, ctx: PlanContext, state: ContactState) -> None:
        self.ctx = ctx
        self.state = state
        self.contact = state.contact
        self.enrollments: list[Enrollment] = list(state.enrollments)
        self.changed = False
        self.drafts: list[Draft] = NONE
        self.closes: list[CloseTask] = NONE
        self.notes: list[Note] = NONE
        self.candidate: Candidate | None = None
        self.owner_id: str | None = ctx.owner_for(state.contact)
        self.placed = 0  # drafts already placed by the capacity pass
        self._reach: Reach | None = None
        if self.owner_id and self.owner_id != self.contact.owner_id:
            self.contact = replace(self.contact, owner_id=self.owner_id)

    @property
    def reach(self) -> Reach:
        if self._reach is None:
            self._reach = reach_of(self.contact, self.state.tasks)
        return self._reach

    def task(self, key: str) -> TaskState | None:
        if not key:
            return None
        for t in self.state.tasks:
            if t.key == key:
                return t
        return None

    def close(self, close: CloseTask) -> None:
        if self.closes is NONE:
            self.closes = []
        self.closes.append(close)

    # -- entry point
    def plan(self) -> ContactPlanner:
        live = self.live()
        queued: Enrollment | None = None
        for q in self.enrollments:
            if q.status is EnrollmentStatus.QUEUED:
                queued = q
                break
        if self.contact.deleted or self.contact.merged_into:
            why = (f"merged into contact {self.contact.merged_into}" if self.contact.merged_into else "deleted in the CRM")
            for e in (live, queued):
                if e is not None:
                    self.end(e, EnrollmentStatus.EXITED, f"contact {why}")
            return self
        if queued is not None:
            requeue(self, queued)
        elif live is None:
            maybe_enroll(self)
        elif live.status is EnrollmentStatus.SNOOZED:
            self._wake(live)
        else:
            self._advance(live)
        lost = self.state.contact.owner_id
        if lost and lost != self.owner_id and (self.enrollments or self.candidate is not None):
            self.note("owner", "", f"owner {lost} is not a user of the CRM any more: tasks go by guards.unowned "
                      f"({self.ctx.config.guards.unowned}); give the contact an owner")
        self.placed = len(self.drafts)
        return self

    def result(self) -> ContactPlan:
        if not self.changed and self.drafts is NONE and self.closes is NONE and self.notes is NONE:
            return ContactPlan(self.contact.id)  # the common case: nothing to do
        return ContactPlan(
            contact_id=self.contact.id,
            creates=tuple(d.task for d in self.drafts),
            closes=tuple(self.closes),
            notes=tuple(self.notes),
            enrollments=tuple(self.enrollments) if self.changed else None,
        )

    # -- enrollment bookkeeping
    def live(self) -> Enrollment | None:
        enrollments = self.enrollments
        if len(enrollments) <= 1:  # the common case
            return enrollments[0] if enrollments and enrollments[0].status in LIVE else None
        live = [e for e in enrollments if e.status in LIVE]
        return max(live, key=lambda e: e.seq) if live else None

    def put(self, new: Enrollment) -> Enrollment:
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

    def note(self, kind: str, cadence_id: str, reason: str, step_id: str = "") -> None:
        if self.notes is NONE:
            self.notes = []
        self.notes.append(Note(self.contact.id, kind, cadence_id, reason, step_id))

    def open_task(self) -> TaskState | None:
        return next((t for t in self.state.tasks if t.status is TaskStatus.OPEN), None)

    def end(self, e: Enrollment, status: EnrollmentStatus, reason: str) -> None:
        """Finish or exit an enrollment, closing the loop it opened."""
        task = self.task(e.open_task_key)
        if task is not None and task.status is TaskStatus.OPEN:
            self.close(CloseTask(task.key, self.contact.id, task.crm_id, f"enrollment ended: {reason}"))
        self.put(evolve(e, status=status, open_task_key="", ended_at=self.ctx.now, reason=reason,
                        wake_at=None, next_due_at=None, queue_key="", owner_id=""))
        self.note("finish" if status is EnrollmentStatus.FINISHED else "exit", e.cadence_id, reason)

    # -- snoozed enrollments
    def _wake(self, e: Enrollment) -> None:
        if self.reach.stopped:
            self.end(e, EnrollmentStatus.EXITED, "marked do not contact while snoozed")
            return
        if e.snoozed_until is None or self.ctx.now < e.snoozed_until or self.open_task() is not None:
            return
        target = self.ctx.cadences.get(e.reengage_into) or self.ctx.cadences.get(e.cadence_id)
        if target is None:
            self.end(e, EnrollmentStatus.FINISHED, "cool-off over: re-engaging")
            return
        why = f"re-engaged after 'not now' in {e.cadence_id} (cool-off since {e.ended_at or e.enrolled_at:%Y-%m-%d} is over)"
        propose_start(self, target, why, True, reengage_from=e)

    # -- active enrollments
    def _advance(self, e: Enrollment) -> None:
        cadence = self.ctx.cadences.get(e.cadence_id)
        if cadence is None:
            self.end(e, EnrollmentStatus.EXITED, f"cadence {e.cadence_id!r} is no longer in the config")
            return
        task = self.task(e.open_task_key)
        outcome, evidence = detect_outcome(self.ctx.config.outcomes, self.contact, e, task)
        if outcome is not Outcome.NO_RESPONSE and self.route(e, cadence, outcome, evidence):
            return
        leave = self.ctx.exit_rules.get(cadence.id)
        if leave is not None and leave(self.contact):
            self.end(e, EnrollmentStatus.EXITED, "matches the cadence's exit rule")
            return
        if e.open_task_key:
            channel = channel_of(task.channel) if task is not None else None
            closed = self.reach.closed_reason(channel) if channel is not None else None
            if task is not None and task.status is TaskStatus.OPEN and closed is not None:
                # opted out (or bounced) since the task was planned: withdraw it, move on
                why = f"contact {closed} after the task was planned"
                self.close(CloseTask(task.key, self.contact.id, task.crm_id, why))
                self.note("skip", e.cadence_id, why)
                e = self.put(evolve(e, open_task_key="", anchor_at=self.ctx.now))
            elif task is None or task.status is TaskStatus.OPEN:
                return  # still waiting on the recruiter (or on the CRM to confirm the task)
            elif task.status is TaskStatus.DELETED:
                # cancelled or skipped (or deleted in the CRM): this touch will not happen; the
                # cadence moves on. Only an outcome ends it (checked above).
                self.note("skip", e.cadence_id, "the recruiter cancelled or skipped the task: on to the next step")
                e = self.put(evolve(e, open_task_key="", anchor_at=self.ctx.now))
            else:
                e = self.put(evolve(e, open_task_key="", anchor_at=task.completed_at or self.ctx.now))
        if pending_thanks(self):
            return  # a thank-you comes first; the next step follows its completion
        next_index = e.step_index + 1
        if e.version != cadence.version:
            if cadence.version_policy == "finish":
                self.end(e, EnrollmentStatus.FINISHED, f"cadence changed to version {cadence.version}")
                return
            e = self.put(evolve(e, version=cadence.version, reason=f"migrated to version {cadence.version}"))
        self.plan_from(e, cadence, next_index, e.anchor_at or self.ctx.now)

    def route(self, e: Enrollment, cadence: Cadence, outcome: Outcome, evidence: str) -> bool:
        """Act on an outcome; True when the enrollment stops here."""
        action = cadence.action_for(outcome)
        if action == "finish":
            self.end(e, EnrollmentStatus.FINISHED, evidence)
        elif action == "exit":
            self.end(e, EnrollmentStatus.EXITED, evidence)
        elif action == "snooze":
            until = self.ctx.calendar(self.contact).shift(self.ctx.now, cadence.not_now.snooze)
            target = cadence.not_now.reengage_into or cadence.id
            task = self.task(e.open_task_key)
            if task is not None and task.status is TaskStatus.OPEN:
                self.close(CloseTask(task.key, self.contact.id, task.crm_id, f"snoozed: {evidence}"))
            self.put(evolve(e, status=EnrollmentStatus.SNOOZED, open_task_key="", snoozed_until=until,
                            reengage_into=target, ended_at=self.ctx.now, reason=evidence, wake_at=None, next_due_at=None))
            self.note("snooze", e.cadence_id, f"{evidence}: back on {until:%Y-%m-%d} in {target!r}")
        else:
            if outcome is Outcome.BOUNCED:
                self.note("hold", e.cadence_id, f"{evidence}: email steps will be skipped")
            return False
        return True

    # -- steps
    def plan_from(self, e: Enrollment, cadence: Cadence, index: int, anchor: datetime) -> None:
        """Plan the first step from `index` on that is not skipped; finish when none is left."""
        start, skips = index, []
        while index < len(cadence.steps):
            step = cadence.steps[index]
            skip = self._skip_reason(step)
            if skip is None:
                self._create_step_task(e, cadence, index, step, anchor)
                return
            self.note("skip", cadence.id, skip, step.id)
            skips.append(skip)
            e = self.put(evolve(e, step_index=index))
            index += 1
        if start == 0 and skips and all(s.startswith(REACH_SKIPS) for s in skips):
            ask_for_a_way_to_reach(self, e, cadence, skips, anchor)
            return
        self.end(e, EnrollmentStatus.FINISHED, f"all {len(cadence.steps)} steps done without an answer")

    def _skip_reason(self, step: Step) -> str | None:
        c = self.contact
        closed = self.reach.closed_reason(step.channel)
        if closed is not None:
            return closed
        for cond in step.skip_if:
            if cond == "no_phone" and not c.phone:
                return "no phone number"
            if cond == "no_email" and not c.email:
                return "no email address"
            if cond == "no_linkedin" and not c.linkedin_url:
                return "no LinkedIn profile"
            if not isinstance(cond, str) and self.ctx.condition(cond)(c):
                return f"skip rule on {cond.property!r} matched"
        return None

    def _create_step_task(self, e: Enrollment, cadence: Cadence, index: int, step: Step, anchor: datetime) -> None:
        ctx, c = self.ctx, self.contact
        if self.owner_id is None:
            self.note("unassignable", cadence.id, "no owner, and guards.unowned is 'report': give the contact an owner",
                      step.id)
            self.put(evolve(e, anchor_at=anchor, wake_at=ctx.now + timedelta(days=1)))
            return
        calendar = ctx.calendar(c)
        proposal = ctx.proposal(calendar, ctx.window_for(step), self.state.touches)
        due, moves = ctx.placement(proposal, anchor, step.wait, bool(self.state.touches))
        key = task_key(ctx.account, c.id, cadence.id, cadence.version, e.seq, step.id)
        owner = ctx.owners.get(c.owner_id)
        subject, body, missing = task_text(ctx.config, cadence, index, step, c, owner, self.state.referrer, None)
        if missing:
            self.note("text", cadence.id, missing_text_reason(missing, c, owner), step.id)
        self.add_task(key, e, cadence, index, step.id, step.channel, step.priority, due, calendar,
                      subject, body, ctx.step_reason(cadence, index), moves, proposal, anchor)
        self.put(evolve(e, step_index=index, open_task_key=key, anchor_at=anchor, wake_at=None, next_due_at=None))

    def add_task(self, key: str, before: Enrollment | None, cadence: Cadence | None, index: int, step_id: str,
                 channel: Channel, priority: str, due: datetime, calendar: LocalCalendar, subject: str,
                 body: str, reason: str, moves: tuple[str, ...], proposal: Proposal, anchor: datetime | None = None) -> None:
        c = self.contact
        task = CreateTask(
            key=key, contact_id=c.id, owner_id=c.owner_id,
            cadence_id=cadence.id if cadence else "thanks", version=cadence.version if cadence else 0,
            seq=before.seq if before else 0, step_index=index, step_id=step_id, channel=channel,
            task_type=channel.value, priority=priority.lower(), due_at=due,
            due_local=local_text(due, calendar.zone_name), timezone=calendar.zone_name,
            subject=subject, body=body, reason=reason, adjustments=moves,
            enrolled_at=before.enrolled_at if before else None,
            baseline_lead_status=before.baseline_lead_status if before else "",
            referrer_id=before.referrer_id if before else "", account=self.ctx.account,
        )
        if self.drafts is NONE:
            self.drafts = []
        self.drafts.append(Draft(task, calendar, proposal, before, anchor))

    # -- after admissions: thank-yous, then the horizon
    def thank_referrers(self) -> None:
        """A queued contact is thanked once started (its first step comes first, as for anyone new)."""
        if self.state.referrals and self.candidate is None and \
                not any(e.status is EnrollmentStatus.QUEUED for e in self.enrollments):
            thank_referrer(self)
