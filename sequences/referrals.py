"""Referrals: "call every name you are given", and thank whoever gave it.

A referred contact starts the referral cadence (first in the enrollment queue, see
`pacing.py`); the referrer gets one thank-you task per name, once nothing else is open
for them (one open task per contact), never if they asked not to be contacted.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from .guards import place
from .keys import thanks_key
from .records import Channel, Contact, EnrollmentStatus
from .scripts import render_task_text

if TYPE_CHECKING:  # pragma: no cover
    from .engine import ContactPlanner


def pending_thanks(p: ContactPlanner) -> list[Contact]:
    """Names this contact gave that have no thank-you task yet."""
    if not p.ctx.config.referral_thanks or not p.state.referrals:
        return []
    keys = {t.key for t in p.state.tasks}
    return [r for r in p.state.referrals if thanks_key(p.ctx.account, p.contact.id, r.id) not in keys]


def thank_referrer(p: ContactPlanner) -> None:
    """A thank-you task to whoever gave us a name, when nothing else is open for them."""
    pending = pending_thanks(p)
    if not pending:
        return
    c = p.contact
    if p.reach.closed_reason(Channel.TODO) is not None or c.deleted or c.merged_into or p.owner_id is None:
        return  # never a thank-you to someone who asked not to be contacted
    if p.drafts or p.open_task() is not None:
        if not p.drafts:
            p.note("hold", "thanks", "thank-you waits for the open task to be done")
        return
    referred = min(pending, key=lambda r: r.id)
    ctx = p.ctx
    calendar = ctx.calendar(c)
    proposal = ctx.proposal(calendar, ctx.windows[Channel.TODO], p.state.touches)
    due, moves = place(ctx.now, proposal)
    subject, body = render_task_text(ctx.config, None, 0, None, c, ctx.owners.get(c.owner_id), None, referred)
    key = thanks_key(ctx.account, c.id, referred.id)
    p.add_task(key, None, None, 0, f"thanks-{referred.id}", Channel.TODO, "medium", due, calendar,
               subject, body, f"{c.full_name or c.id} referred {referred.full_name or referred.id}", moves, proposal)
    live = p.live()
    if live is not None and live.status is EnrollmentStatus.ACTIVE and not live.open_task_key:
        p.put(replace(live, open_task_key=key))
