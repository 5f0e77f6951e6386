"""The text of a task: subject and body rendered from the step's script."""

from __future__ import annotations

import re
from functools import lru_cache

from .config import Cadence, Config, Step
from .records import Contact, Owner
from .templates import render_checked


def _values(contact: Contact, owner: Owner | None, referrer: Contact | None, referred: Contact | None) -> dict[str, str]:
    values = {
        "contact.first_name": contact.first_name,
        "contact.last_name": contact.last_name,
        "contact.full_name": contact.full_name or contact.email or contact.id,
        "contact.email": contact.email,
        "contact.phone": contact.phone,
        "contact.company": contact.company,
        "contact.title": contact.title,
        "company": contact.company,
    }
    if owner is not None:
        values.update(_owner_values(owner))
    for prefix, other in (("referrer", referrer), ("referred", referred)):
        if other is not None:
            values.update({
                f"{prefix}.first_name": other.first_name, f"{prefix}.last_name": other.last_name,
                f"{prefix}.full_name": other.full_name or other.id, f"{prefix}.company": other.company,
            })
    return values


@lru_cache(maxsize=4096)
def _owner_values(owner: Owner) -> dict[str, str]:
    """An owner's template values (the same for each of their tasks: built once; never mutated)."""
    return {"owner.first_name": owner.first_name, "owner.last_name": owner.last_name,
            "owner.full_name": owner.full_name, "owner.email": owner.email}


_EMPTY_BRACKETS = re.compile(r"\s*\(\s*\)|\s*\[\s*\]")
_SPACES = re.compile(r"[ \t]{2,}")


def _tidy(text: str) -> str:
    """A subject without the husks of empty variables: 'Call Kai ()' -> 'Call Kai'."""
    if "(" not in text and "[" not in text and "  " not in text and " ," not in text and " :" not in text:
        return text
    text = _SPACES.sub(" ", _EMPTY_BRACKETS.sub("", text))
    return re.sub(r"\s+([,.:;!?])", r"\1", text).strip(" ,:-")


def render_task_text(
    config: Config, cadence: Cadence | None, index: int, step: Step | None,
    contact: Contact, owner: Owner | None, referrer: Contact | None, referred: Contact | None,
) -> tuple[str, str]:
    """(subject, body) for a step task, or for a referral thank-you when `step` is None."""
    subject, body, _ = task_text(config, cadence, index, step, contact, owner, referrer, referred)
    return subject, body


def task_text(
    config: Config, cadence: Cadence | None, index: int, step: Step | None,
    contact: Contact, owner: Owner | None, referrer: Contact | None, referred: Contact | None,
) -> tuple[str, str, tuple[str, ...]]:
    """(subject, body, variables with no value and no fallback). A missing variable shows
    in the text as a marker such as `[their company]`, never as blank text; the caller
    reports it for the contact."""
    values = _values(contact, owner, referrer, referred)
    if step is None or cadence is None:
        name = values.get("referred.full_name") or "someone"
        first = values["contact.first_name"] or "them"
        who = values["contact.full_name"]
        subject = f"Thank {first} for referring {name}"
        body = (f"{who} gave us {name}'s name. Say thank you, and let them know "
                "we will reach out and keep them posted.")
        return subject, body, ()
    values.update(_step_values(cadence.name, index, len(cadence.steps)))
    script = config.scripts.get(step.script) if step.script else None
    missing: list[str] = []

    def fill(template: str) -> str:
        text, absent = render_checked(template, values)
        if absent:
            missing.extend(absent)
        return text

    subject = _tidy(fill(step.subject or (script.subject if script else "")))
    body = fill(step.body if step.body is not None else (script.body if script else "")).rstrip()
    if script is not None and script.objections:
        lines = ["", "", "If they say...", ""]
        lines += [f"- \"{fill(o.objection)}\" -> {fill(o.answer)}" for o in script.objections]
        body += "\n".join(lines)
    return subject, body, tuple(dict.fromkeys(missing)) if missing else ()


@lru_cache(maxsize=4096)
def _step_values(cadence_name: str, index: int, total: int) -> dict[str, str]:
    """A step's template values (the same for every contact: built once; never mutated)."""
    return {"cadence.name": cadence_name, "step.number": str(index + 1), "step.total": str(total)}


def missing_text_reason(missing: tuple[str, ...], contact: Contact, owner: Owner | None) -> str:
    """Why a task's text has markers, in words a recruiter can act on."""
    from .templates import MARKERS

    causes = []
    if any(n.startswith("owner.") for n in missing):
        if not contact.owner_id:
            causes.append("the contact has no owner")
        elif owner is None:
            causes.append(f"owner {contact.owner_id} is not among the CRM's owners")
        else:
            causes.append(f"owner {contact.owner_id} has no name or email in the CRM")
    if any(n.startswith("referrer.") for n in missing) and not contact.referred_by:
        causes.append("nobody referred this contact")
    names = ", ".join(f"{n} ({MARKERS.get(n, n)})" for n in missing)
    why = "; ".join(causes)
    return (f"task text has no value for {names}{' (' + why + ')' if why else ''}: fill it in the CRM or state a "
            f"fallback in the script, e.g. {{{{{missing[0]} or \"...\"}}}}")
