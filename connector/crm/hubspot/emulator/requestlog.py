"""Every request the emulator saw: method, path, endpoint template, status, time.

Templates name the endpoint the way the client's source does, with the object
type filled in: ``POST /crm/v3/objects/tasks/batch/create``,
``GET /crm/v3/objects/contacts/{contactId}``.  Tokens are never recorded.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass


@dataclass(frozen=True)
class LogEntry:
    method: str
    path: str
    template: str
    status: int  # 0 when the connection was reset before a response
    time: float  # clock.time() when the request arrived
    fault: str | None = None  # "reset", "drop", "slow", "429", "503", ... when injected


class RequestLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[LogEntry] = []

    def add(self, entry: LogEntry) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[LogEntry]:
        with self._lock:
            return list(self._entries)

    def counts(self, status: int | None = None) -> dict[str, int]:
        """Requests per endpoint template (optionally only those answered ``status``)."""
        with self._lock:
            return dict(Counter(e.template for e in self._entries if status is None or e.status == status))

    def total(self) -> int:
        with self._lock:
            return len(self._entries)

    def reset(self) -> None:
        with self._lock:
            self._entries.clear()
