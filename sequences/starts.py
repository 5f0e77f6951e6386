"""How enrollments start: new contacts, referrals and re-engagements, all through the queue.

A contact that should start a cadence becomes a `Candidate` with its place in the queue
(`pacing.queue_key`); the engine then starts candidates in queue order while their owners
have room (`pacing.Admissions`) and keeps the others queued in state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .config import Cadence
from .drafts import Candidate, evolve
from .pacing import queue_key
from .records import Enrollment, EnrollmentStatus, Outcome

if TYPE_CHECKING:  # pragma: no cover
    from .engine import ContactPlanner


def maybe_enroll(p: ContactPlanner) -> None:
    if p.enrollments or p.reach.stopped:
        return
    cadence, why, referral = cadence_for_new_contact(p)
    if cadence is not None and not already_answered(p, cadence):
        propose_start(p, cadence, why, referral, referral=referral)


def already_answered(p: ContactPlanner, cadence: Cadence) -> bool:
    """A lead status recruiters had already set when the contact would enroll counts as that
    outcome now: one that ends a cadence (do not contact, connected...) ends it before its first
    touch, "not now" starts with the cool-off. Recorded as an enrollment, so it holds for good."""
    status = p.contact.lead_status
    name = p.ctx.config.outcomes.lead_status.get(status) if status else None
    if name is None or cadence.action_for(Outcome(name)) not in ("finish", "exit", "snooze"):
        return False
    now = p.ctx.now
    e = p.put(Enrollment(contact_id=p.contact.id, cadence_id=cadence.id, version=cadence.version, seq=1,
                         status=EnrollmentStatus.ACTIVE, enrolled_at=now, anchor_at=now, baseline_lead_status=status))
    return p.route(e, cadence, Outcome(name), f"lead status {status} was already set in the CRM")


def propose_start(p: ContactPlanner, cadence: Cadence, why: str, first: bool, queued: Enrollment | None = None,
               reengage_from: Enrollment | None = None, referral: bool = False) -> None:
    if p.owner_id is None:
        p.note("unassignable", cadence.id, "no owner, and guards.unowned is 'report': give the contact an owner")
        return
    if p.open_task() is not None:  # e.g. a thank-you still open: one open task per contact
        p.note("hold", cadence.id, "enrollment waits for the contact's open task to be done")
        return
    key = queued.queue_key if queued is not None and queued.queue_key else \
        queue_key(first, p.ctx.now, p.contact.id, p.ctx.config.pacing.enroll_order)
    p.candidate = Candidate(cadence, why, key, p.owner_id, referral, queued, reengage_from)


def cadence_for_new_contact(p: ContactPlanner) -> tuple[Cadence | None, str, bool]:
    """The cadence a new contact starts, why, and whether it is first in the queue (a referral)."""
    ctx = p.ctx
    if p.contact.referred_by and p.state.referrer and ctx.referral_cadence:
        who = p.state.referrer.full_name or p.state.referrer.id
        return ctx.cadences.get(ctx.referral_cadence), f"referred by {who}", True
    for cadence, enroll in ctx.enroll_rules:
        if enroll(p.contact):
            leave = ctx.exit_rules.get(cadence.id)
            if leave is not None and leave(p.contact):
                continue
            return cadence, ctx.enroll_reasons[cadence.id], False
    return None, "", False


def requeue(p: ContactPlanner, queued: Enrollment) -> None:
    """A queued contact: still wanted? Then a candidate again, keeping its place."""
    if p.reach.stopped:
        p.end(queued, EnrollmentStatus.EXITED, "marked do not contact while queued")
        return
    cadence = p.ctx.cadences.get(queued.cadence_id)
    first = queued.queue_key.startswith("0:")
    if cadence is not None and not first:
        wanted, _, _ = cadence_for_new_contact(p)
        cadence = cadence if wanted is not None and wanted.id == cadence.id else None
    if cadence is None:
        p.enrollments = [e for e in p.enrollments if e.seq != queued.seq]
        p.changed = True
        p.note("dequeue", queued.cadence_id, "left the queue: no longer matches the enrollment rule")
        return
    propose_start(p, cadence, queued.reason.removeprefix("queued: "), first, queued=queued)


def start_or_queue(p: ContactPlanner, admitted: bool) -> None:
    """Start the candidate's enrollment now, or keep it queued (pacing decided which)."""
    c, ctx = p.candidate, p.ctx
    assert c is not None
    p.candidate = None
    if c.reengage_from is not None:
        p.end(c.reengage_from, EnrollmentStatus.FINISHED, "cool-off over: re-engaging")
    if not admitted:
        if c.queued is None:
            seq = max((e.seq for e in p.enrollments), default=0) + 1
            p.put(Enrollment(
                contact_id=p.contact.id, cadence_id=c.cadence.id, version=c.cadence.version, seq=seq,
                status=EnrollmentStatus.QUEUED, enrolled_at=ctx.now, referrer_id=_referrer_id(p, c),
                baseline_lead_status=p.contact.lead_status, reason=f"queued: {c.why}", queue_key=c.key,
                owner_id=c.owner_id,
            ))
            p.note("queue", c.cadence.id, f"{c.why}; waits for free capacity of {c.owner_id or 'the unassigned queue'}")
        return
    if c.queued is not None:
        e = p.put(evolve(c.queued, status=EnrollmentStatus.ACTIVE, version=c.cadence.version, enrolled_at=ctx.now,
                            anchor_at=ctx.now, reason=c.why, queue_key="", owner_id="",
                            baseline_lead_status=p.contact.lead_status))
    else:
        seq = max((e.seq for e in p.enrollments), default=0) + 1
        e = p.put(Enrollment(
            contact_id=p.contact.id, cadence_id=c.cadence.id, version=c.cadence.version, seq=seq,
            status=EnrollmentStatus.ACTIVE, enrolled_at=ctx.now, anchor_at=ctx.now, referrer_id=_referrer_id(p, c),
            baseline_lead_status=p.contact.lead_status, reason=c.why,
        ))
    p.note("reengage" if c.reengage_from is not None else "enroll", c.cadence.id, c.why)
    p.plan_from(e, c.cadence, 0, ctx.now)


def _referrer_id(p: ContactPlanner, c: Candidate) -> str:
    return p.contact.referred_by if c.referral and p.state.referrer else ""
