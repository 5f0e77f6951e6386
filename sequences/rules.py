"""Enrollment and exit rules: conditions on contact properties."""

from __future__ import annotations

from collections.abc import Callable

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


Predicate = Callable[[Contact], bool]


def compile_rule(rule: Rule) -> Predicate:
    """The rule as a fast predicate on a contact (values casefolded once)."""
    tests = [_compile(c) for c in rule.all]
    alternatives = [_compile(c) for c in rule.any]

    def predicate(contact: Contact) -> bool:
        for test in tests:
            if not test(contact):
                return False
        return not alternatives or any(test(contact) for test in alternatives)

    return predicate


def _compile(cond: Condition) -> Predicate:
    prop = cond.property
    if cond.equals is not None:
        want = cond.equals.casefold()
        return lambda c: c.prop(prop).casefold() == want
    if cond.not_equals is not None:
        avoid = cond.not_equals.casefold()
        return lambda c: c.prop(prop).casefold() != avoid
    if cond.in_ is not None:
        allowed = frozenset(v.casefold() for v in cond.in_)
        return lambda c: c.prop(prop).casefold() in allowed
    if cond.not_in is not None:
        banned = frozenset(v.casefold() for v in cond.not_in)
        return lambda c: c.prop(prop).casefold() not in banned
    if cond.exists is not None:
        present = cond.exists
        return lambda c: bool(c.prop(prop)) == present
    if cond.contains is not None:
        part = cond.contains.casefold()
        return lambda c: part in c.prop(prop).casefold()
    return lambda c: False
