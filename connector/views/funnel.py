"""Per cadence and step: who was reached, touched, replied, booked a meeting, said not now, left.

Counted from the state: the ledger's tasks (planned and done per step) and each
enrollment's last step and the reason it ended or paused. An outcome belongs to the step
whose task was open or last done when it arrived. Used by `report` and `status`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from sequences.config import Cadence, Config
from sequences.records import Enrollment, EnrollmentStatus

from .state import TaskView

REPLIED, MEETING, NOT_NOW, NO_ANSWER = "replied", "meeting", "not now", "no answer"
_POSITIVE = {"replied": REPLIED, "connected": REPLIED, "meeting_booked": MEETING, "not_now": NOT_NOW}
_RECORDED = re.compile(r"recruiter recorded '([^']+)'")
_DATE = re.compile(r"\s*(on|since)?\s*\d{4}-\d{2}-\d{2}\S*")


def outcome_kind(e: Enrollment, config: Config) -> str:
    """replied / meeting / not now / no answer / another reason in words (dates removed), or ''
    while the enrollment is still running."""
    reason = e.reason or ""
    if e.status is EnrollmentStatus.SNOOZED or reason.startswith("cool-off over"):
        return NOT_NOW
    if e.status is EnrollmentStatus.ACTIVE:
        return ""
    if reason.startswith("replied on"):
        return REPLIED
    if reason.startswith("meeting booked on"):
        return MEETING
    if reason.startswith("lead status changed to "):
        mapped = config.outcomes.lead_status.get(reason.removeprefix("lead status changed to ").strip(), "")
        if mapped in _POSITIVE:
            return _POSITIVE[mapped]
    recorded = _RECORDED.search(reason)
    if recorded:
        said = recorded.group(1).replace(" ", "_")
        return _POSITIVE.get(said, said.replace("_", " "))
    if reason.startswith("lead status changed to "):
        return "lead status " + reason.removeprefix("lead status changed to ").strip()
    if reason.startswith("all ") and "without an answer" in reason:
        return NO_ANSWER
    return _DATE.sub("", reason).strip() or e.status.value


@dataclass
class StepFunnel:
    index: int
    step_id: str
    channel: str
    planned: int = 0  # tasks created for this step
    touched: int = 0  # tasks done
    open: int = 0
    replied: int = 0
    meeting: int = 0
    not_now: int = 0
    exited: Counter = field(default_factory=Counter)  # other endings at this step, by reason

    @property
    def reply_rate(self) -> float | None:
        """Replies (and meetings) per touch at this step; None before any touch."""
        return (self.replied + self.meeting) / self.touched if self.touched else None

    @property
    def meeting_rate(self) -> float | None:
        return self.meeting / self.touched if self.touched else None


@dataclass
class CadenceFunnel:
    cadence_id: str
    name: str
    enrolled: int = 0
    active: int = 0
    steps: list[StepFunnel] = field(default_factory=list)
    endings: Counter = field(default_factory=Counter)  # every ending, by kind

    @property
    def replied(self) -> int:
        return sum(s.replied for s in self.steps)


def funnels(config: Config, enrollments: Iterable[Enrollment], tasks: Iterable[TaskView]) -> list[CadenceFunnel]:
    """One funnel per cadence in the config (steps as the current version has them)."""
    out: dict[str, CadenceFunnel] = {}
    for cadence in config.cadences:
        out[cadence.id] = CadenceFunnel(cadence.id, cadence.name, steps=_steps(cadence))
    for t in tasks:
        funnel = out.get(t.cadence_id)
        if funnel is None or not 0 <= t.step_index < len(funnel.steps):
            continue
        step = funnel.steps[t.step_index]
        if t.state == "cancelled" and t.completed_at is None and t.outcome == "":
            continue  # withdrawn before anyone worked it
        step.planned += 1
        if t.state == "done":
            step.touched += 1
        elif t.is_open:
            step.open += 1
    for e in enrollments:
        funnel = out.get(e.cadence_id)
        if funnel is None:
            continue
        funnel.enrolled += 1
        kind = outcome_kind(e, config)
        if not kind:
            funnel.active += 1
            continue
        funnel.endings[kind] += 1
        if not funnel.steps:
            continue
        step = funnel.steps[min(max(e.step_index, 0), len(funnel.steps) - 1)]
        if kind == REPLIED:
            step.replied += 1
        elif kind == MEETING:
            step.meeting += 1
        elif kind == NOT_NOW:
            step.not_now += 1
        elif kind != NO_ANSWER:
            step.exited[kind] += 1
    return list(out.values())


def _steps(cadence: Cadence) -> list[StepFunnel]:
    return [StepFunnel(i, s.id, s.channel.value) for i, s in enumerate(cadence.steps)]


def percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.0%}"
