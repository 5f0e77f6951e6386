"""What a sync asks the CRM to read: the properties its rules mention, and the read's context."""

from __future__ import annotations

from datetime import datetime

from sequences.config import Condition, Config, Rule
from sequences.records import Contact

from .crm.base import ReadContext


def read_context(config: Config, since: datetime | None, tasks_since: datetime | None, now: datetime,
                 dry_run: bool) -> ReadContext:
    """The contact read's context: where it starts, the properties and rules it needs."""
    return ReadContext(
        since=since,
        tasks_since=tasks_since,
        properties=needed_properties(config),
        started_at=now,
        dry_run=dry_run,
        enroll_rules=tuple(c.enroll_when for c in config.cadences if c.enroll_when is not None),
        referrals=any(c.referral_cadence for c in config.cadences),
        exit_properties=tuple(exit_properties(config)),
    )


def needed_properties(config: Config) -> list[str]:
    """Raw CRM properties the config's rules mention (beyond the standard contact fields)."""
    names: set[str] = set()

    def visit(rule: Rule | None) -> None:
        if rule is not None:
            for cond in (*rule.all, *rule.any):
                names.add(cond.property)

    for cadence in config.cadences:
        visit(cadence.enroll_when)
        visit(cadence.exit_when)
        for step in cadence.steps:
            for cond in step.skip_if:
                if isinstance(cond, Condition):
                    names.add(cond.property)
    standard = set(Contact.__slots__) | {"full_name"}
    return sorted(n for n in names if n not in standard)


def exit_properties(config: Config) -> list[str]:
    """Custom properties the cadences' exit rules test (a missing one could make them match everyone)."""
    names = {cond.property for c in config.cadences if c.exit_when is not None for cond in (*c.exit_when.all, *c.exit_when.any)}
    standard = set(Contact.__slots__) | {"full_name"}
    return sorted(n for n in names if n not in standard)
