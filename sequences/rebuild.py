"""Enrollments rebuilt from the tasks in the CRM, when the state that remembered them is lost.

Pure: the tasks (each with the enrollment it belongs to, as written on it), the contacts and
`now` come in; each contact's enrollments go out, as the lost state would have held them:

- a contact's enrollments are its tasks grouped by enrollment (seq); every one but the last
  had been followed by another (re-engaged after a snooze): finished;
- the last enrollment stands at its latest task (step reached, open task key);
- when that task is closed (done, cancelled), the outcome the contact shows is acted on as the
  run that closed it did, at the time it was closed: a reply or a booked meeting finishes it,
  a do-not-contact exits it, a "not now" snoozes it from then (the cool-off is not restarted);
  with no outcome it stays active and the next plan moves on, as it would have;
- when the contact is not known (not read), the enrollment waits at its latest task: the
  next plan of that contact decides, and nothing is planned for a contact nobody has read.

Thank-you tasks are not enrollments: they only go back into the ledger (so no second one).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone

from .config import Config
from .context import PlanContext
from .drafts import evolve
from .outcomes import detect_outcome
from .records import Channel, Contact, Enrollment, EnrollmentStatus, Outcome, TaskState, TaskStatus

REASON = "rebuilt from the CRM's tasks"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """A task found in the CRM with the enrollment it belongs to (as written on the task)."""

    task: TaskState
    account: str
    cadence_id: str
    version: int
    seq: int
    step_index: int
    step_id: str
    channel: Channel
    enrolled_at: datetime | None
    baseline_lead_status: str = ""
    referrer_id: str = ""


def rebuild_enrollments(config: Config, account: str, records: Iterable[TaskRecord], contacts: Mapping[str, Contact],
                        now: datetime) -> dict[str, tuple[Enrollment, ...]]:
    """Contact id -> its enrollments (in seq order), from its tasks in the CRM."""
    by_contact: dict[str, dict[int, list[TaskRecord]]] = {}
    for r in records:
        if r.cadence_id == "thanks":
            continue
        by_contact.setdefault(r.task.contact_id, {}).setdefault(r.seq, []).append(r)
    ctx = PlanContext(config, account, now, {}, {})
    out: dict[str, tuple[Enrollment, ...]] = {}
    for contact_id, groups in sorted(by_contact.items()):
        seqs = sorted(groups)
        enrollments = []
        for n, seq in enumerate(seqs):
            tasks = sorted(groups[seq], key=_order)
            first, latest = tasks[0], tasks[-1]
            e = Enrollment(
                contact_id=contact_id, cadence_id=latest.cadence_id, version=latest.version, seq=seq,
                status=EnrollmentStatus.ACTIVE, enrolled_at=first.enrolled_at or first.task.due_at or now,
                step_index=latest.step_index, open_task_key=latest.task.key,
                baseline_lead_status=first.baseline_lead_status, referrer_id=first.referrer_id, reason=REASON,
            )
            if n < len(seqs) - 1:
                ended = groups[seqs[n + 1]][0].enrolled_at or now
                e = _ended(e, EnrollmentStatus.FINISHED, ended, f"{REASON}: a later enrollment followed")
            else:
                e = _settle(ctx, e, latest.task, contacts.get(contact_id), now)
            enrollments.append(e)
        out[contact_id] = tuple(enrollments)
    return out


def _order(r: TaskRecord) -> tuple[datetime, int, str]:
    """Tasks of one enrollment in the order they were planned: by due time, then step."""
    return (r.task.due_at or r.enrolled_at or _EPOCH, r.step_index, r.task.key)


def _ended(e: Enrollment, status: EnrollmentStatus, at: datetime, reason: str) -> Enrollment:
    return evolve(e, status=status, open_task_key="", ended_at=at, reason=reason)


def _settle(ctx: PlanContext, e: Enrollment, task: TaskState, contact: Contact | None, now: datetime) -> Enrollment:
    """The last enrollment, as the run that closed its latest task left it."""
    cadence = ctx.cadences.get(e.cadence_id)
    if task.status is TaskStatus.OPEN or contact is None or cadence is None:
        return e
    outcome, evidence = detect_outcome(ctx.config.outcomes, contact, e, task)
    action = cadence.action_for(outcome) if outcome is not Outcome.NO_RESPONSE else "continue"
    # when it was closed: the time the CRM recorded (done, or cancelled by crm-cadence); none
    # (deleted by a person): now, the later and so the safer reading; never before the contact last changed
    at = min(task.completed_at, now) if task.completed_at else now
    if contact.modified_at is not None and contact.modified_at > at:
        at = min(contact.modified_at, now)
    if action == "finish":
        return _ended(e, EnrollmentStatus.FINISHED, at, evidence)
    if action == "exit":
        return _ended(e, EnrollmentStatus.EXITED, at, evidence)
    if action == "snooze":
        until = ctx.calendar(contact).shift(at, cadence.not_now.snooze)
        return evolve(e, status=EnrollmentStatus.SNOOZED, open_task_key="", snoozed_until=until,
                      reengage_into=cadence.not_now.reengage_into or cadence.id, ended_at=at, reason=evidence)
    return e
