"""Requests, responses and the route table."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote

from . import errors


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes = b""
    params: dict[str, str] = field(default_factory=dict)
    _json: object = None

    def json(self):
        if self._json is None:
            if not self.body.strip():
                self._json = {}
            else:
                try:
                    self._json = json.loads(self.body)
                except (ValueError, UnicodeDecodeError) as exc:
                    raise errors.validation(f"Invalid input JSON: {exc}") from None
        return self._json

    def form(self) -> dict[str, str]:
        parsed = parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)
        return {k: v[-1] for k, v in parsed.items()}

    def q(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def q_list(self, name: str) -> list[str]:
        """A list parameter sent repeated (``?properties=a&properties=b``) or comma-joined."""
        out: list[str] = []
        for value in self.query.get(name, []):
            out.extend(part.strip() for part in value.split(",") if part.strip())
        return out

    def q_bool(self, name: str) -> bool:
        # the Python client sends ``archived=False``/``True`` (facts §5)
        return (self.q(name) or "false").strip().lower() == "true"

    def q_int(self, name: str, default: int) -> int:
        raw = self.q(name)
        if raw is None or raw == "":
            return default
        try:
            return int(raw)
        except ValueError:
            raise errors.validation(f"{name} must be an integer; got {raw!r}") from None


@dataclass
class Response:
    status: int
    body: object = None  # JSON-able, or None for no body
    headers: dict[str, str] = field(default_factory=dict)
    fault: str | None = None  # "reset" | "drop": the server closes the connection
    delay: float = 0.0

    def encoded(self) -> bytes:
        if self.body is None:
            return b""
        return json.dumps(self.body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass
class Route:
    method: str
    pattern: re.Pattern
    handler: Callable
    template: Callable[[dict], str]
    write: bool = False
    auth: bool = True
    search: bool = False


class Router:
    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, path: str, handler, template: str, *, write=False, auth=True, search=False):
        """``path`` uses ``{name}`` segments; ``template`` may use ``{objectType}``-style
        names from the path plus ``{ID}``/``{FROM_ID}`` for the per-type id name."""
        regex = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "$"
        self.routes.append(Route(method, re.compile(regex), handler, _templater(template), write, auth, search))

    def match(self, method: str, path: str) -> tuple[Route | None, dict, bool]:
        """(route, path params, path_known).  path_known tells 405 from 404."""
        known = False
        for route in self.routes:
            m = route.pattern.match(path)
            if m:
                known = True
                if route.method == method:
                    return route, {k: unquote(v) for k, v in m.groupdict().items()}, True
        return None, {}, known


_ID_NAMES = {"contacts": "contactId", "tasks": "taskId"}
_ALIASES = {"contact": "contacts", "0-1": "contacts", "task": "tasks", "0-27": "tasks"}


def _templater(template: str):
    def render(params: dict) -> str:
        out = template
        for key in ("objectType", "fromObjectType", "toObjectType"):
            if key in params:
                raw = params[key].lower()
                out = out.replace("{" + key + "}", _ALIASES.get(raw, raw))
        for key, placeholder in (("objectType", "{ID}"), ("fromObjectType", "{FROM_ID}")):
            if key in params:
                norm = _ALIASES.get(params[key].lower(), params[key].lower())
                out = out.replace(placeholder, "{" + _ID_NAMES.get(norm, "objectId") + "}")
        return out
    return render
