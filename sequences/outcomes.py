"""Outcomes from the data recruiters already keep: lead status, replies, meetings, tasks."""

from __future__ import annotations

from .config import OutcomeMapping
from .records import Contact, Enrollment, Outcome, TaskState, TaskStatus


def detect_outcome(mapping: OutcomeMapping, contact: Contact, enrollment: Enrollment, task: TaskState | None) -> tuple[Outcome, str]:
    """The strongest thing that happened since enrollment, and the evidence, in words.

    Hard stops first (do not contact, full opt-out), then a lead status that changed
    since enrollment, then replies and meetings after enrollment, then the outcome a
    recruiter recorded on the task (done, or cancelled/skipped with an outcome).
    """
    if contact.do_not_contact:
        return Outcome.DO_NOT_CONTACT, "marked do not contact in the CRM"
    if "all" in contact.opted_out:
        return Outcome.OPTED_OUT, "opted out of all contact"
    status = contact.lead_status
    if status and status != enrollment.baseline_lead_status and status in mapping.lead_status:
        return Outcome(mapping.lead_status[status]), f"lead status changed to {status}"
    since = enrollment.enrolled_at
    if mapping.reply_finishes and contact.last_reply_at and contact.last_reply_at > since:
        return Outcome.REPLIED, f"replied on {contact.last_reply_at:%Y-%m-%d}"
    if mapping.meeting_finishes and contact.last_meeting_at and contact.last_meeting_at > since:
        return Outcome.MEETING_BOOKED, f"meeting booked on {contact.last_meeting_at:%Y-%m-%d}"
    if task is not None and task.status is not TaskStatus.OPEN and task.outcome is not None:
        return task.outcome, f"recruiter recorded '{task.outcome.value.replace('_', ' ')}' on the task"
    return Outcome.NO_RESPONSE, "no response yet"
