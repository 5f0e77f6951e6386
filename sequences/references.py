"""Cross-references in a config: ids used twice, and cadence and script names that name nothing.

The one home of these checks, on a config's plain data (any shape): the model runs them on
itself (`sequences.config.Config`), and the config-file reader runs them on the raw YAML to
point at each problem (`connector.configfile`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic_core import PydanticCustomError

REFERENCE_ERROR = "reference"  # the error type of the cross-reference checks (ids used twice, unknown names)


def reference_error(message: str) -> PydanticCustomError:
    """A cross-reference problem, typed so that a reader which locates these itself (the
    config-file reader) can tell them from the rest without reading the message."""
    return PydanticCustomError(REFERENCE_ERROR, "{message}", {"message": message})


@dataclass(frozen=True)
class ReferenceProblem:
    """An id used twice, or a name that names nothing, at `path` in a config's data."""

    path: tuple[str | int, ...]  # to the offending value
    message: str
    first: tuple[str | int, ...] | None = None  # an id used twice: where it was used first

    @property
    def where(self) -> str:
        """The path as messages write it: cadences[0].steps[1].script."""
        return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in self.path).lstrip(".")


def reference_problems(data: Any) -> list[ReferenceProblem]:
    """Ids used twice and cadence and script names that name nothing, in a config's plain data.

    The one home of these checks: the model runs them on itself (`Config._references`) and
    the config-file reader runs them on the raw YAML, to point at each problem. Any shape is
    taken; what is not where it belongs is left to the model's other checks.
    """
    cadences = data.get("cadences") if isinstance(data, Mapping) else None
    if not isinstance(cadences, list):
        return []
    scripts = data.get("scripts", {})
    script_ids = list(scripts) if isinstance(scripts, Mapping) else None  # None: `scripts` itself is wrong
    problems = _used_twice("cadence", [(c, ("cadences", i)) for i, c in enumerate(cadences)])
    cadence_ids = [c["id"] for c in cadences if isinstance(c, Mapping) and isinstance(c.get("id"), str)]
    for i, cadence in enumerate(cadences):
        if not isinstance(cadence, Mapping):
            continue
        at: tuple[str | int, ...] = ("cadences", i)
        holders: list[tuple[Any, tuple[str | int, ...]]] = [(cadence, (*at, "referral_cadence"))]
        if isinstance(cadence.get("not_now"), Mapping):
            holders.append((cadence["not_now"], (*at, "not_now", "reengage_into")))
        for holder, path in holders:
            problems += _names_nothing(holder, path, "cadence", cadence_ids)
        steps = cadence.get("steps")
        if isinstance(steps, list):
            problems += _used_twice("step", [(s, (*at, "steps", j)) for j, s in enumerate(steps)])
            for j, step in enumerate(steps):
                if isinstance(step, Mapping) and script_ids is not None:
                    problems += _names_nothing(step, (*at, "steps", j, "script"), "script", script_ids)
    return problems


def _used_twice(kind: str, items: list[tuple[Any, tuple[str | int, ...]]]) -> list[ReferenceProblem]:
    first: dict[str, tuple[str | int, ...]] = {}
    problems = []
    for node, path in items:
        if not isinstance(node, Mapping) or not isinstance(node.get("id"), str):
            continue
        if node["id"] in first:
            problems.append(ReferenceProblem((*path, "id"), f"{kind} id {node['id']!r} is used twice", first[node["id"]]))
        else:
            first[node["id"]] = (*path, "id")
    return problems


def _names_nothing(holder: Mapping[str, Any], path: tuple[str | int, ...], kind: str, known: list[str]) -> list[ReferenceProblem]:
    target = holder.get(str(path[-1]))
    if not isinstance(target, str) or not target or target in known:
        return []
    from difflib import get_close_matches  # only when a name is wrong: not on every load

    close = get_close_matches(target, sorted(set(known)), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(sorted(set(known))) or 'none'})"
    return [ReferenceProblem(path, f"unknown {kind} {target!r}{hint}")]
