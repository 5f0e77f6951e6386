"""Script templates: `{{contact.first_name}}`-style variables, checked before any run.

Unknown variables are config errors (with a did-you-mean), never blank text in a task.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from difflib import get_close_matches
from functools import lru_cache

_VARIABLE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")

VARIABLES: dict[str, str] = {
    "contact.first_name": "the contact's first name",
    "contact.last_name": "the contact's last name",
    "contact.full_name": "first and last name",
    "contact.email": "email address",
    "contact.phone": "phone number",
    "contact.company": "the contact's company",
    "contact.title": "job title",
    "owner.first_name": "the recruiter's first name",
    "owner.last_name": "the recruiter's last name",
    "owner.full_name": "the recruiter's name",
    "owner.email": "the recruiter's email",
    "referrer.first_name": "who gave us this name (referrals)",
    "referrer.last_name": "",
    "referrer.full_name": "",
    "referrer.company": "",
    "referred.first_name": "the person the contact referred (thank-you tasks)",
    "referred.full_name": "",
    "company": "alias of contact.company",
    "cadence.name": "the cadence's name",
    "step.number": "this step's number, from 1",
    "step.total": "how many steps the cadence has",
}


def variables_in(text: str) -> list[str]:
    return [m.group(1) for m in _VARIABLE.finditer(text)]


def check_template(text: str) -> None:
    """Raise ValueError naming the first unknown variable, with a did-you-mean."""
    for name in variables_in(text):
        if name not in VARIABLES:
            close = get_close_matches(name, list(VARIABLES), n=1)
            hint = f"; did you mean {{{{{close[0]}}}}}?" if close else f" (known: {', '.join(VARIABLES)})"
            raise ValueError(f"unknown template variable {{{{{name}}}}}{hint}")


@lru_cache(maxsize=4096)
def compile_template(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(literal pieces, variable names) with one more literal than variables."""
    pieces = _VARIABLE.split(text)
    return tuple(pieces[0::2]), tuple(pieces[1::2])


def variables_used(text: str) -> tuple[str, ...]:
    return compile_template(text)[1]


def render(text: str, values: Mapping[str, str]) -> str:
    """Fill variables; a known variable with no value becomes an empty string."""
    if "{{" not in text:
        return text
    literals, names = compile_template(text)
    out = [literals[0]]
    for name, literal in zip(names, literals[1:], strict=True):
        out.append(values.get(name, ""))
        out.append(literal)
    return "".join(out)
