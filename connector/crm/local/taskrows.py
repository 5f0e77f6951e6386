"""What a recruiter typed into a tasks.csv row, understood or reported.

A status, outcome or completion time that cannot be understood is reported with
file:line and field, and the row is left out of the read: its task stays as it was in the
state and the contact's cadence does not move until the value is fixed. Guessing would be
worse: an unknown outcome read as "no answer" schedules the next email to someone who
replied; an unknown status read as "cancelled" ends a touch nobody cancelled.
"""

from __future__ import annotations

from collections.abc import Mapping
from difflib import get_close_matches

from connector.crm.base import BadRecord
from sequences.records import Outcome

from .contacts import parse_when
from .taskfile import KNOWN_STATUSES, outcome_of

STATUS_WORDS = ("open", "done", "skipped", "cancelled")
OUTCOME_WORDS = tuple(o.value for o in Outcome if o is not Outcome.NO_RESPONSE)


def task_row_problems(row: Mapping[str, str], source: str) -> list[BadRecord]:
    """The values of one tasks.csv row that cannot be understood (empty when all are fine)."""
    contact = row.get("contact_id", "").strip()
    problems: list[BadRecord] = []
    status = row.get("status", "").strip()
    if status.lower() not in KNOWN_STATUSES:
        problems.append(BadRecord(source, "status", f"unknown status {status!r}{_did_you_mean(status, STATUS_WORDS)}: "
                                  f"the task stays as it was (use {', '.join(STATUS_WORDS)})", contact))
    outcome = row.get("outcome", "").strip()
    if outcome and outcome_of(outcome) is None:
        problems.append(BadRecord(source, "outcome", f"unknown outcome {outcome!r}{_did_you_mean(outcome, OUTCOME_WORDS)}: "
                                  f"the task and the cadence stay as they were (use one of {', '.join(OUTCOME_WORDS)})",
                                  contact))
    completed = row.get("completed_at", "").strip()
    if completed and not _is_date(completed):
        problems.append(BadRecord(source, "completed_at", f"not a date {completed!r}: the task stays as it was "
                                  "(write it like 2026-03-02 or 2026-03-02 14:30, or leave it empty)", contact))
    return problems


def _is_date(text: str) -> bool:
    try:
        parse_when(text)
    except (ValueError, OverflowError):
        return False
    return True


def _did_you_mean(value: str, words: tuple[str, ...]) -> str:
    close = get_close_matches(value.strip().lower().replace(" ", "_"), words, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
