"""Script templates: `{{contact.first_name}}`-style variables, checked before any run.

Unknown variables are config errors (with a did-you-mean), never blank text in a task.

A variable may state its own fallback, used when the contact has no value for it:

    Call {{contact.first_name or contact.full_name}} at {{contact.company or "their company"}}

Fallbacks are tried in order: other variables, then text in quotes (last). A variable with no value and no fallback never renders as blank text: it renders as a
visible marker (`[their company]`) and `render_checked` names it, so the plan reports the
problem for that contact.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from difflib import get_close_matches
from functools import lru_cache

_VARIABLE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
# one alternative of `name or other.name or "text"`: a variable, or quoted text (last)
_ALTERNATIVE = re.compile(r"""\s*(?:"([^"]*)"|'([^']*)'|([A-Za-z_][\w.]*))\s*(?:\bor\b|$)""")

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

# What a recruiter reads where a value is missing: a marker that says what to fill in.
MARKERS: dict[str, str] = {
    "contact.first_name": "[their first name]",
    "contact.last_name": "[their last name]",
    "contact.full_name": "[their name]",
    "contact.email": "[their email]",
    "contact.phone": "[their phone]",
    "contact.company": "[their company]",
    "contact.title": "[their job title]",
    "company": "[their company]",
    "owner.first_name": "[your first name]",
    "owner.last_name": "[your last name]",
    "owner.full_name": "[your name]",
    "owner.email": "[your email]",
    "referrer.first_name": "[who referred them]",
    "referrer.last_name": "[who referred them]",
    "referrer.full_name": "[who referred them]",
    "referrer.company": "[the referrer's company]",
    "referred.first_name": "[the person they referred]",
    "referred.full_name": "[the person they referred]",
}


Alternatives = tuple[str, ...]  # fallback variables, then (optionally) quoted text as a final "'..."


@lru_cache(maxsize=4096)
def _split(expression: str) -> tuple[str, Alternatives]:
    """('contact.first_name', ('contact.full_name', '"there')) for
    `contact.first_name or contact.full_name or "there"`. Quoted text is kept with a
    leading double quote so it can never be mistaken for a variable name."""
    text = expression.strip()
    parts: list[str] = []
    at = 0
    while at < len(text):
        found = _ALTERNATIVE.match(text, at)
        if not found or found.end() == at:
            return text, ()  # not a fallback chain: checked (and rejected) as a name
        quoted = found.group(1) if found.group(1) is not None else found.group(2)
        parts.append('"' + quoted if quoted is not None else found.group(3))
        at = found.end()
    if not parts or parts[0].startswith('"'):
        return text, ()
    return parts[0], tuple(parts[1:])


def variables_in(text: str) -> list[str]:
    return [_split(m.group(1))[0] for m in _VARIABLE.finditer(text)]


def check_template(text: str) -> None:
    """Raise ValueError naming the first unknown variable (with a did-you-mean) or bad fallback."""
    for match in _VARIABLE.finditer(text):
        expression = match.group(1)
        name, alternatives = _split(expression)
        if " or " in expression and not alternatives:
            raise ValueError(f"{{{{{expression}}}}}: a fallback is a variable or text in quotes, "
                             f"e.g. {{{{contact.company or \"your company\"}}}}")
        for i, alt in enumerate(alternatives):
            if alt.startswith('"') and i != len(alternatives) - 1:
                raise ValueError(f"{{{{{expression}}}}}: quoted text can only be the last fallback")
        for each in (name, *(a for a in alternatives if not a.startswith('"'))):
            if each not in VARIABLES and each != name and "." not in each:
                raise ValueError(f"{{{{{expression}}}}}: {each!r} is not a variable; put fallback text in quotes, "
                                 f"e.g. {{{{{name} or \"{each}\"}}}}")
            if each not in VARIABLES:
                close = get_close_matches(each, list(VARIABLES), n=1)
                hint = f"; did you mean {{{{{close[0]}}}}}?" if close else f" (known: {', '.join(VARIABLES)})"
                raise ValueError(f"unknown template variable {{{{{each}}}}}{hint}")


@lru_cache(maxsize=4096)
def compile_template(text: str) -> tuple[tuple[str, ...], tuple[tuple[str, Alternatives], ...]]:
    """(literal pieces, (variable, fallbacks) pairs) with one more literal than variables."""
    pieces = _VARIABLE.split(text)
    return tuple(pieces[0::2]), tuple(_split(p) for p in pieces[1::2])


def variables_used(text: str) -> tuple[str, ...]:
    return tuple(name for name, _ in compile_template(text)[1])


def resolve(name: str, alternatives: Alternatives, values: Mapping[str, str]) -> tuple[str, bool]:
    """(the text for one variable, whether it is a marker because nothing had a value)."""
    value = values.get(name, "")
    if value.strip():
        return value, False
    for alt in alternatives:
        if alt.startswith('"'):
            return alt[1:], False  # text the config states (may be deliberately empty)
        value = values.get(alt, "")
        if value.strip():
            return value, False
    return MARKERS.get(name, f"[{name}]"), True


def render_checked(text: str, values: Mapping[str, str]) -> tuple[str, tuple[str, ...]]:
    """(text, variables that had no value and no fallback). Such a variable renders as its
    marker (e.g. `[their company]`), never as blank text."""
    if "{{" not in text:
        return text, ()
    literals, names = compile_template(text)
    out = [literals[0]]
    missing: list[str] = []
    for (name, alternatives), literal in zip(names, literals[1:], strict=True):
        value, marker = resolve(name, alternatives, values)
        if marker:
            missing.append(name)
        out.append(value)
        out.append(literal)
    return "".join(out), tuple(dict.fromkeys(missing)) if missing else ()


def render(text: str, values: Mapping[str, str]) -> str:
    """Fill variables (fallbacks and markers where a value is missing)."""
    return render_checked(text, values)[0]
