"""The safety valve for mass changes: a run that would end many enrollments because their
records vanished stops before writing anything, and asks.

Records vanish for ordinary reasons (a contact deleted in the CRM, a task deleted by
hand) and for accidents: an emptied or half-saved contacts file, a token for another
HubSpot portal, an export that replaced the portal. A sync cannot tell these apart one
record at a time, but it can count: when one run would act on more than `max_count`
enrollments AND more than `max_share` of the active ones because their contact or their
open task is gone, it stops (like rsync's --max-delete, or a Terraform plan that shows the
destroy before it happens). `--allow-mass-exit` lets one run through; the config's
`mass_exit:` block sets the limits.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .crm.base import CRMError

SAMPLE_MIN = 20  # a sample of open tasks smaller than this says nothing about the rest


@dataclass(frozen=True, slots=True)
class MassExitLimit:
    """How many vanished records one run may act on without confirmation."""

    max_share: float = 0.2  # of the active enrollments
    max_count: int = 10
    allowed: bool = False  # --allow-mass-exit


@dataclass
class Vanished:
    """What one run saw disappear, out of how many active enrollments."""

    active: int
    contacts: list[str] = field(default_factory=list)  # ids of enrolled contacts gone from the CRM
    tasks: list[str] = field(default_factory=list)  # contact ids whose open task is gone
    sampled: int = 0  # open tasks checked by id as a sample of all of them (not for a reason of their own)
    sampled_gone: int = 0  # of those, how many are gone

    @property
    def affected(self) -> int:
        """Enrollments the run would act on; when a large enough sample of the open tasks says
        more are gone than were seen (a token for another portal: none of our tasks is there),
        the sample's share of all active enrollments."""
        seen = len(set(self.contacts) | set(self.tasks))
        if self.sampled >= SAMPLE_MIN:
            return max(seen, round(self.active * self.sampled_gone / self.sampled))
        return seen


class MassExitHeld(CRMError):
    """The run stopped before writing anything: too many enrollments would end at once (exit 2)."""


def check(vanished: Vanished, limit: MassExitLimit) -> None:
    """Raise MassExitHeld when the run would act on too many vanished records."""
    n = vanished.affected
    if limit.allowed or n == 0 or n <= limit.max_count or n <= limit.max_share * vanished.active:
        return
    raise MassExitHeld(describe(vanished, limit))


def describe(vanished: Vanished, limit: MassExitLimit) -> str:
    seen = []
    if vanished.contacts:
        seen.append(f"{len(vanished.contacts)} enrolled contacts are gone from the CRM ({_sample(vanished.contacts)})")
    if vanished.tasks:
        seen.append(f"{len(vanished.tasks)} open tasks are gone ({_sample(vanished.tasks)})")
    if vanished.sampled >= SAMPLE_MIN and vanished.sampled_gone:
        seen.append(f"{vanished.sampled_gone} of {vanished.sampled} open tasks checked as a sample are gone")
    share = vanished.affected / vanished.active if vanished.active else 1.0
    return (
        f"mass change held: {' and '.join(seen)}; acting on them would end or move {vanished.affected} of "
        f"{vanished.active} active enrollments ({share:.0%}), more than mass_exit allows "
        f"({limit.max_count} and {limit.max_share:.0%}). Nothing was written. If the CRM is right (not an "
        f"emptied file, a wrong token or portal), run again with --allow-mass-exit, or raise "
        f"mass_exit.max_count / mass_exit.max_share in the config."
    )


def _sample(ids: Iterable[str], n: int = 3) -> str:
    ids = sorted(ids)
    shown = ", ".join(ids[:n])
    return shown + (f", ... {len(ids) - n} more" if len(ids) > n else "")
