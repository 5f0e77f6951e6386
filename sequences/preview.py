"""What a contact who never answers would get: the engine run step by step."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from .config import Config
from .engine import plan_contact
from .records import Contact, ContactState, Enrollment, EnrollmentStatus, Owner, TaskState, TaskStatus

SAMPLE_OWNER = Owner(id="owner-1", first_name="Robin", last_name="Recruiter", email="robin@example.com")


@dataclass(frozen=True, slots=True)
class Touch:
    step: int  # 1-based
    step_id: str
    channel: str
    due_utc: datetime
    due_local: str
    timezone: str
    subject: str
    skipped_days: tuple[str, ...]  # days passed over, and why (holiday names)
    moves: tuple[str, ...]  # other guard moves


def sample_contact(timezone: str = "", country: str = "") -> Contact:
    return Contact(
        id="sample", first_name="Sam", last_name="Sample", email="sam@example.com", phone="+15555550100",
        company="Example Corp", title="Engineering Manager", linkedin_url="https://www.linkedin.com/in/sample",
        owner_id=SAMPLE_OWNER.id, timezone=timezone, country=country,
    )


def preview(config: Config, cadence_id: str, start: datetime, contact: Contact, owner: Owner = SAMPLE_OWNER) -> list[Touch]:
    """Every touch of `cadence_id` for `contact`, each task done (unanswered) when due."""
    cadence = config.cadence(cadence_id)
    if cadence is None:
        raise KeyError(cadence_id)
    config = config.model_copy(update={"referral_thanks": False})
    enrollment = Enrollment(
        contact_id=contact.id, cadence_id=cadence.id, version=cadence.version, seq=1,
        status=EnrollmentStatus.ACTIVE, enrolled_at=start, anchor_at=start,
    )
    state = ContactState(contact, enrollments=(enrollment,))
    owners = {owner.id: owner}
    now, touches = start, []
    for _ in range(len(cadence.steps) + 1):
        result = plan_contact(config, state, now, account="preview", owners=owners)
        if not result.creates:
            break
        task = result.creates[0]
        touches.append(
            Touch(
                step=task.step_index + 1, step_id=task.step_id, channel=task.channel.value,
                due_utc=task.due_at, due_local=task.due_local, timezone=task.timezone, subject=task.subject,
                skipped_days=tuple(m for m in task.adjustments if m.startswith("skipped ")),
                moves=tuple(m for m in task.adjustments if not m.startswith("skipped ")),
            )
        )
        done = TaskState(task.key, contact.id, TaskStatus.COMPLETED, completed_at=task.due_at)
        state = replace(state, enrollments=result.enrollments or state.enrollments, tasks=(done,),
                        touches=state.touches + (task.due_at,))
        now = task.due_at
    return touches
