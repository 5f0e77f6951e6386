"""Every task of tasks.csv with the enrollment written on it: what a lost state is rebuilt from
(`connector.crm.base.ListsAllTasks`, `connector/rebuild.py`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from connector.crm.base import StoredTask

from . import csvio
from .taskfile import state_of


class ListsTasksFromFile:
    """Mixed into `LocalCRM`: `all_tasks()` from its tasks file (read whole, or not at all)."""

    def all_tasks(self: Any) -> Iterator[StoredTask]:
        table = self._read_tasks()
        fallback = self._completion_fallback()
        seen: set[str] = set()
        for record in table.records:
            row = csvio.as_dict(table.header, record.values)
            key = row.get("key", "").strip()
            if not key or key in seen:
                continue
            seen.add(key)
            state = state_of(row, self._completed_at(row, fallback), self._parse(row.get("due_utc", "")))
            if state.completed_at is None and row.get("closed_at", "").strip():  # cancelled by crm-cadence: when
                state = replace(state, completed_at=self._parse(row["closed_at"]))
            yield StoredTask(state, row.get("enrollment", "").strip())
