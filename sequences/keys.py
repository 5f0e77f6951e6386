"""Task keys: the stable identity of each follow-up, what makes every sync idempotent."""

from __future__ import annotations

import hashlib


def task_key(account: str, contact_id: str, cadence_id: str, version: int, seq: int, step_id: str) -> str:
    """Derived from (CRM account, contact, cadence, version, enrollment, step)."""
    raw = "\x1f".join((account, contact_id, cadence_id, str(version), str(seq), step_id))
    return "cc-" + hashlib.sha256(raw.encode()).hexdigest()[:24]


def thanks_key(account: str, contact_id: str, referred_id: str) -> str:
    """The thank-you task to `contact_id` for the name `referred_id`."""
    return task_key(account, contact_id, "thanks", 0, 0, referred_id)


UNREACHABLE_STEP = "find-contact-details"  # the step id of the one to-do for an unreachable contact
