"""The text of a task: subject and body rendered from the step's script."""

from __future__ import annotations

import re

from .config import Cadence, Config, Step
from .records import Contact, Owner
from .templates import render


def _values(contact: Contact, owner: Owner | None, referrer: Contact | None, referred: Contact | None) -> dict[str, str]:
    values = {
        "contact.first_name": contact.first_name or "there",
        "contact.last_name": contact.last_name,
        "contact.full_name": contact.full_name or contact.email or contact.id,
        "contact.email": contact.email,
        "contact.phone": contact.phone,
        "contact.company": contact.company,
        "contact.title": contact.title,
        "company": contact.company,
    }
    if owner is not None:
        values.update({
            "owner.first_name": owner.first_name, "owner.last_name": owner.last_name,
            "owner.full_name": owner.full_name, "owner.email": owner.email,
        })
    for prefix, other in (("referrer", referrer), ("referred", referred)):
        if other is not None:
            values.update({
                f"{prefix}.first_name": other.first_name, f"{prefix}.last_name": other.last_name,
                f"{prefix}.full_name": other.full_name or other.id, f"{prefix}.company": other.company,
            })
    return values


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
    values = _values(contact, owner, referrer, referred)
    if step is None or cadence is None:
        name = values.get("referred.full_name", "someone")
        subject = f"Thank {values['contact.first_name']} for referring {name}"
        body = (f"{values['contact.full_name']} gave us {name}'s name. Say thank you, and let them know "
                "we will reach out and keep them posted.")
        return subject, body
    values.update({"cadence.name": cadence.name, "step.number": str(index + 1), "step.total": str(len(cadence.steps))})
    script = config.scripts.get(step.script) if step.script else None
    subject = _tidy(render(step.subject or (script.subject if script else ""), values))
    body = render(step.body if step.body is not None else (script.body if script else ""), values).rstrip()
    if script is not None and script.objections:
        lines = ["", "", "If they say...", ""]
        lines += [f"- \"{render(o.objection, values)}\" -> {render(o.answer, values)}" for o in script.objections]
        body += "\n".join(lines)
    return subject, body
