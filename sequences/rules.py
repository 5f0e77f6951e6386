"""Enrollment and exit rules: conditions on contact properties."""

from __future__ import annotations

from .config import Condition, Rule
from .records import Contact


def holds(cond: Condition, contact: Contact) -> bool:
    value = contact.prop(cond.property)
    if cond.equals is not None:
        return value.casefold() == cond.equals.casefold()
    if cond.not_equals is not None:
        return value.casefold() != cond.not_equals.casefold()
    if cond.in_ is not None:
        return value.casefold() in {v.casefold() for v in cond.in_}
    if cond.not_in is not None:
        return value.casefold() not in {v.casefold() for v in cond.not_in}
    if cond.exists is not None:
        return bool(value) == cond.exists
    if cond.contains is not None:
        return cond.contains.casefold() in value.casefold()
    return False


def matches(rule: Rule, contact: Contact) -> bool:
    """All of `all`, and at least one of `any` when `any` is given."""
    if not all(holds(c, contact) for c in rule.all):
        return False
    return not rule.any or any(holds(c, contact) for c in rule.any)
