"""A contact nobody can reach: every step skipped for want of a way to reach them.

Rather than "finish without an answer", the owner gets one to-do to find a phone number or
an email; once it is done the cadence starts again with what was added. If there is still
no way (or `unreachable: exit`, or the contact opted out of every channel used), the
enrollment exits with its own reason, `unreachable: ...`, which `status` counts apart.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from .config import Cadence
from .drafts import evolve
from .keys import UNREACHABLE_STEP, task_key
from .records import Channel, Enrollment, EnrollmentStatus

if TYPE_CHECKING:  # pragma: no cover
    from .engine import ContactPlanner

REACH_SKIPS = ("no ", "opted out of ", "email bounced")  # skips that mean "we cannot reach them that way"


def ask_for_a_way_to_reach(p: ContactPlanner, e: Enrollment, cadence: Cadence, skips: list[str], anchor: datetime) -> None:
    """Every step was skipped: one to-do for the owner to find a way to reach them, or an exit."""
    ctx, c = p.ctx, p.contact
    why = "unreachable: " + ", ".join(dict.fromkeys(skips))
    key = task_key(ctx.account, c.id, cadence.id, cadence.version, e.seq, UNREACHABLE_STEP)
    missing = [s for s in skips if s.startswith("no ")]
    if (ctx.config.unreachable == "exit" or not missing or p.task(key) is not None
            or p.reach.closed_reason(Channel.TODO) is not None):
        p.end(e, EnrollmentStatus.EXITED, why)
        return
    if p.owner_id is None:
        p.note("unassignable", cadence.id, "no owner for the to-do, and guards.unowned is 'report'")
        return
    name = c.full_name or c.id
    referrer = p.state.referrer
    subject = f"Find a phone number or email for {name}" + (
        f", referred by {referrer.full_name or referrer.id}" if referrer is not None and c.referred_by else "")
    body = (f"Every step of {cadence.name!r} was skipped for {name}: {', '.join(dict.fromkeys(skips))}.\n\n"
            "Add a phone number, email or LinkedIn profile to the contact and mark this task done: the cadence "
            "starts again. If there is no way to reach them, mark it done with the outcome 'wrong_person'.")
    calendar = ctx.calendar(c)
    proposal = ctx.proposal(calendar, ctx.windows[Channel.TODO], p.state.touches)
    due, moves = ctx.placement(proposal, anchor, cadence.steps[0].wait, bool(p.state.touches))
    # held beyond the horizon, the enrollment starts over from its first step next time
    p.add_task(key, evolve(e, step_index=-1), cadence, -1, UNREACHABLE_STEP, Channel.TODO, "medium", due, calendar,
               subject, body, why, moves, proposal, anchor)
    p.put(evolve(e, step_index=-1, open_task_key=key, anchor_at=anchor, wake_at=None, next_due_at=None))
    p.note("unreachable", cadence.id, f"{why}: a to-do for the owner to find a way to reach them")
