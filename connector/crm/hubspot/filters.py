"""Enrollment rules as HubSpot search filters, for a first read that skips who no cadence wants.

Pushed down only when it is safe: every cadence that contacts enter by rule has a rule made of
conditions HubSpot evaluates the way the engine does, the filter-group limits hold, and
referred contacts are read too. Otherwise the caller reads every contact (the list API).
Later runs read every changed contact anyway (an enrolled contact's change matters even
when it no longer matches), so this applies to the first read only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sequences.config import Condition, Rule

from .settings import ContactProperties

MAX_GROUPS, MAX_FILTERS_PER_GROUP, MAX_FILTERS = 5, 6, 18
KEYSET_FILTERS = 2  # every group also carries the modified-date floor and the id cursor
_NATIVE = {"id": "hs_object_id"}


def first_read_filters(rules: Sequence[Rule], referrals: bool, p: ContactProperties) -> list[list[dict[str, Any]]] | None:
    """OR-ed filter groups selecting the contacts a first sync needs, or None to read them all."""
    if not rules:
        return None
    groups: list[list[dict[str, Any]]] = []
    for rule in rules:
        translated = _rule_groups(rule, p)
        if translated is None:
            return None
        groups.extend(translated)
    if referrals:
        if not p.referred_by:
            return None
        groups.append([{"propertyName": p.referred_by, "operator": "HAS_PROPERTY"}])
    if len(groups) > MAX_GROUPS or any(len(g) + KEYSET_FILTERS > MAX_FILTERS_PER_GROUP for g in groups):
        return None
    if sum(len(g) + KEYSET_FILTERS for g in groups) > MAX_FILTERS:
        return None
    return groups


def _rule_groups(rule: Rule, p: ContactProperties) -> list[list[dict[str, Any]]] | None:
    common = [_filter(c, p) for c in rule.all]
    if any(f is None for f in common):
        return None
    if not rule.any:
        return [common]  # type: ignore[list-item]
    alternatives = [_filter(c, p) for c in rule.any]
    if any(f is None for f in alternatives):
        return None
    return [[*common, alt] for alt in alternatives]  # type: ignore[list-item]


def _filter(cond: Condition, p: ContactProperties) -> dict[str, Any] | None:
    """One condition as a HubSpot filter, when HubSpot's answer is the engine's answer."""
    name = _property(cond.property, p)
    if name is None:
        return None
    if cond.exists is not None:
        return {"propertyName": name, "operator": "HAS_PROPERTY" if cond.exists else "NOT_HAS_PROPERTY"}
    values = [cond.equals] if cond.equals is not None else cond.in_
    if values is None:
        return None  # not_equals / not_in / contains: HubSpot's treatment of empty values and tokens differs
    variants = sorted({v for value in values for v in (value, value.lower(), value.upper(), value.title())})
    if len(variants) > 100:
        return None
    return {"propertyName": name, "operator": "IN", "values": variants}


def _property(field: str, p: ContactProperties) -> str | None:
    if field in _NATIVE:
        return _NATIVE[field]
    if field in {"full_name", "timezone", "country", "phone", "email", "opted_out", "do_not_contact", "subdivision"}:
        return None  # derived or normalised by the connector: the raw property may differ
    if field in ContactProperties.model_fields:
        return getattr(p, field) or None
    return field
