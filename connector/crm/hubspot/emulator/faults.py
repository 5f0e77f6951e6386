"""Injected failures: scripted (``fail_next``) and random (``set_random``), plus the
search indexing lag.

Kinds:
* an HTTP status (429, 500, 502, 503, 504, ...) returned instead of handling the request;
* ``"reset"``: the connection is closed before the request is applied;
* ``"drop"``: the request IS applied, then the connection is closed with no response
  (the classic "did my POST commit?" case);
* ``"slow"``: the response is delayed by ``delay`` seconds (real seconds).
"""

from __future__ import annotations

import fnmatch
import random
import threading
from dataclasses import dataclass


@dataclass
class Fault:
    kind: str  # "status" | "reset" | "drop" | "slow"
    status: int = 0
    delay: float = 0.0
    source: str = "scripted"


@dataclass
class _Script:
    remaining: int
    kind: str
    status: int
    path_glob: str | None
    method: str | None
    delay: float


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scripts: list[_Script] = []
        self._random: dict | None = None
        self._rng = random.Random(0)
        self.search_lag_seconds = 0.0
        self.injected = 0

    def fail_next(self, n: int = 1, status: int | str = 503, path_glob: str | None = None,
                  method: str | None = None, delay: float = 1.0) -> None:
        """Fail the next ``n`` matching requests.  ``path_glob`` matches the path
        (``/crm/v3/objects/tasks*``), ``"POST /crm/*/batch/create"`` or the template."""
        if isinstance(status, str):
            kind, code = status.lower(), 0
            if kind not in ("reset", "drop", "slow"):
                raise ValueError(f"unknown fault {status!r}")
        else:
            kind, code = "status", int(status)
        with self._lock:
            self._scripts.append(_Script(n, kind, code, path_glob, method.upper() if method else None, delay))

    def set_random(self, rate_429: float = 0.0, rate_5xx: float = 0.0, rate_reset: float = 0.0,
                   rate_drop_after_write: float = 0.0, rate_slow: float = 0.0, slow_seconds: float = 1.0,
                   seed: int | None = None, path_glob: str | None = None) -> None:
        """Random faults on every request (after scripted ones).  ``rate_drop_after_write``
        applies only to writes; ``rate_slow`` delays a response by ``slow_seconds``."""
        with self._lock:
            self._random = {"429": rate_429, "5xx": rate_5xx, "reset": rate_reset,
                            "drop": rate_drop_after_write, "slow": rate_slow,
                            "slow_seconds": slow_seconds, "path_glob": path_glob}
            self._rng = random.Random(seed)

    def clear(self) -> None:
        with self._lock:
            self._scripts.clear()
            self._random = None

    @staticmethod
    def _matches(glob: str | None, method: str, path: str, template: str) -> bool:
        if not glob:
            return True
        return (fnmatch.fnmatchcase(path, glob) or fnmatch.fnmatchcase(f"{method} {path}", glob)
                or fnmatch.fnmatchcase(template, glob))

    def pick(self, method: str, path: str, template: str, is_write: bool) -> Fault | None:
        with self._lock:
            for script in self._scripts:
                if script.remaining <= 0:
                    continue
                if script.method and script.method != method:
                    continue
                if not self._matches(script.path_glob, method, path, template):
                    continue
                script.remaining -= 1
                self._scripts = [s for s in self._scripts if s.remaining > 0]
                self.injected += 1
                return Fault(script.kind, script.status, script.delay, "scripted")
            cfg = self._random
            if not cfg or not self._matches(cfg["path_glob"], method, path, template):
                return None
            roll = self._rng.random
            fault = None
            if roll() < cfg["reset"]:
                fault = Fault("reset", source="random")
            elif roll() < cfg["429"]:
                fault = Fault("status", 429, source="random")
            elif roll() < cfg["5xx"]:
                fault = Fault("status", self._rng.choice((500, 502, 503, 504)), source="random")
            elif is_write and roll() < cfg["drop"]:
                fault = Fault("drop", source="random")
            elif roll() < cfg["slow"]:
                fault = Fault("slow", delay=cfg["slow_seconds"], source="random")
            if fault:
                self.injected += 1
            return fault
