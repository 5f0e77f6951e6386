"""Pydantic's validation errors placed in the YAML: each error's `loc` walked through the
parsed tree alongside the model types, to the line and column a person must edit, with a
message in their words."""

from __future__ import annotations

import re
import types
import typing
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from sequences.config import REFERENCE_ERROR, Config

from .configproblems import Problem, describe, did_you_mean, dotted, key_position, value_position


def validation_problems(exc: ValidationError, tree: CommentedMap, label: str, covered: list[Problem]) -> list[Problem]:
    problems = []
    for error in exc.errors(include_url=False):
        spot = _Spot.find(tree, error["loc"])
        if spot.wrong_union_branch or _already_reported(error, spot, covered):
            continue
        line, col = spot.key_position if error["type"] == "extra_forbidden" or spot.at_key else spot.position
        problems.append(Problem(label, line, col, spot.dotted, _message(error, spot)))
    return problems


def _already_reported(error: ErrorDetails, spot: _Spot, covered: list[Problem]) -> bool:
    """The model's own reference errors (typed REFERENCE_ERROR), when the YAML pass located them."""
    return error["type"] == REFERENCE_ERROR and bool(covered) and not spot.path  # Config._references


@dataclass
class _Spot:
    """Where a pydantic error `loc` lands in the YAML tree, walking the model types alongside."""

    path: list[str | int]
    position: tuple[int, int]  # 1-based line, col of the node (the parent mapping when missing)
    key_position: tuple[int, int]  # of the key naming it, when it sits in a mapping
    model: type[BaseModel] | None  # the model the last path segment was looked up in
    at_key: bool = False  # the error is about a mapping key itself (`[key]`)
    wrong_union_branch: bool = False  # the error comes from a union member the YAML is not shaped as

    @property
    def dotted(self) -> str:
        return dotted(self.path)

    @classmethod
    def find(cls, tree: CommentedMap, loc: tuple) -> _Spot:
        start = (tree.lc.line + 1, tree.lc.col + 1)
        spot = cls(path=[], position=start, key_position=start, model=None)
        node: Any = tree
        kind: Any = Config
        missing = False
        for seg in loc:
            kind = _unwrap(kind)
            members = _union_members(kind)
            if members:  # pydantic names the union member tried: not part of the YAML path
                kind = _pick_member(members, str(seg))
                spot.wrong_union_branch |= _is_model(kind) != isinstance(node, dict)
                continue
            if seg == "[key]":
                spot.at_key = True
                continue
            spot.model = kind if _is_model(kind) else None
            kind = _child_type(kind, seg)
            spot.path.append(seg)
            if missing:
                continue
            if isinstance(node, CommentedMap) and seg in node:
                spot.key_position = key_position(node, seg)
                spot.position = value_position(node, seg)
                node = node[seg]
            elif isinstance(node, CommentedSeq) and isinstance(seg, int) and 0 <= seg < len(node):
                line, col = node.lc.item(seg)
                spot.position = spot.key_position = (line + 1, col + 1)
                node = node[seg]
            else:  # a missing key: point at the mapping that should hold it
                missing = True
        return spot


def _unwrap(kind: Any) -> Any:
    while True:
        origin = typing.get_origin(kind)
        if origin is typing.Annotated:
            kind = typing.get_args(kind)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(kind) if a is not type(None)]
            if len(args) != 1:
                return kind
            kind = args[0]
        else:
            return kind


def _union_members(kind: Any) -> list[Any]:
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        return [a for a in typing.get_args(kind) if a is not type(None)]
    return []


def _pick_member(members: list[Any], tag: str) -> Any:
    for member in members:
        if _is_model(member) and re.search(rf"\b{member.__name__}\b", tag):
            return member
    return next((m for m in members if not _is_model(m)), members[0])


def _is_model(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, BaseModel)


def _child_type(kind: Any, seg: Any) -> Any:
    if _is_model(kind):
        field = _model_field(kind, seg)
        return field.annotation if field else Any
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is dict and len(args) == 2:
        return args[1]
    if origin in (list, tuple) and args:
        return args[0]
    return Any


def _model_field(model: type[BaseModel], key: Any) -> Any:
    for name, field in model.model_fields.items():
        if key in (name, field.alias):
            return field
    return None


def _key_names(model: type[BaseModel]) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items()]


# ---------------------------------------------------------------------------- messages


def _message(error: ErrorDetails, spot: _Spot) -> str:
    kind, ctx, given = error["type"], error.get("ctx") or {}, error.get("input")
    if kind == "missing":
        return f"missing required key {spot.path[-1]!r}"
    if kind == "extra_forbidden":
        names = _key_names(spot.model) if spot.model else []
        return "unknown key" + (did_you_mean(str(spot.path[-1]), names) or f" (allowed: {', '.join(names)})")
    if kind in ("value_error", "assertion_error"):
        return str(ctx.get("error", error["msg"]))
    if kind in ("literal_error", "enum"):
        allowed = re.findall(r"'([^']*)'", ctx.get("expected", "")) or [str(ctx.get("expected", "")).strip()]
        if not isinstance(given, str):
            return f"expected one of: {', '.join(allowed)}; got {describe(given)}"
        what = "key" if spot.at_key else "value"
        return f"{what} {given!r} is not allowed; use one of: {', '.join(allowed)}{did_you_mean(given, allowed)}"
    if kind == "invalid_key":
        return "keys must be text"
    if kind == "string_pattern_mismatch" and spot.path[-1:] == ["id"]:
        return f"{given!r} is not a valid id; use lowercase letters, digits, '-' and '_'"
    if kind == "too_short":
        return f"needs at least {ctx.get('min_length', 1)} item(s)"
    expected = _EXPECTED.get(kind)
    if expected:
        quote = "; put it in quotes" if kind == "string_type" and isinstance(given, int | float | date) else ""
        return f"expected {expected.format(**ctx)}, got {describe(given)}{quote}"
    return re.sub(r"^(Value error|Assertion failed), ", "", error["msg"])


_EXPECTED = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "float_type": "a number",
    "float_parsing": "a number",
    "list_type": "a list",
    "tuple_type": "a list",
    "dict_type": "a mapping (key: value)",
    "model_type": "a mapping (key: value)",
    "model_attributes_type": "a mapping (key: value)",
    "date_type": "a date (YYYY-MM-DD)",
    "date_parsing": "a date (YYYY-MM-DD)",
    "date_from_datetime_parsing": "a date (YYYY-MM-DD)",
    "date_from_datetime_inexact": "a date without a time (YYYY-MM-DD)",
    "greater_than_equal": "a number of at least {ge}",
}


