"""What a lost state is rebuilt from, on HubSpot: every task of crm-cadence's with the
enrollment written on it (`connector.crm.base.ListsAllTasks`, `connector/rebuild.py`).

Each task carries its key (`settings.key_property`) and its enrollment
(`settings.enrollment_property`, `connector/crm/taskmeta.py`), both task properties created by
`cadence setup hubspot`. A portal set up before the enrollment property existed gets it at
the first create of a run (one read, and the group and property created when missing); if the token may not create
properties, tasks are written without it (logged) rather than refused.

All tasks are read with the list endpoint (`GET /crm/v3/objects/tasks`, 100 a page, keyed by
`after`), live then archived (deleted ones: the lost state knew them as deleted): search
stops at 10,000 results and lags, the list does neither. It lists every task of the portal,
recruiters' own included, so one search first asks whether any task carries a key: a first
sync of a portal costs that one request, not a listing. (A state lost within the search lag
of the portal's very first tasks is not rebuilt: those keys are still never created twice.)
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from connector.crm.base import StoredTask

from .mapping import TASK_PROPERTIES, to_task_state
from .setup import GROUP, _ensure_property

log = logging.getLogger("cadence.hubspot")
PAGE = 100


def enrollment_property_spec(name: str) -> dict[str, Any]:
    return dict(name=name, label="crm-cadence enrollment", type="string", field_type="textarea", group_name=GROUP,
                description="Set by crm-cadence: the enrollment this task belongs to (rebuilds a lost state). Do not edit.")


class HubSpotTaskListing:
    """Mixed into `HubSpotCRM`."""

    _enrollment_ready: bool | None = None

    def enrollment_property(self: Any) -> str:
        """The task property the enrollment is written to, once known to exist ('' when it cannot be)."""
        name = self.settings.enrollment_property
        if not name:
            return ""
        if self._enrollment_ready is None:
            try:
                try:  # one request when it is there (the usual case)
                    self.call(self._properties.get_by_name, object_type="tasks", property_name=name)
                except Exception as err:
                    if getattr(err, "status", None) != 404:
                        raise
                    _ensure_property(self.call, self._groups, self._properties, "tasks", enrollment_property_spec(name))
                self._enrollment_ready = True
            except Exception as err:  # e.g. 403: the token may not create properties
                if getattr(err, "status", None) is None:
                    raise
                log.warning("the task property %s is missing and cannot be created: tasks are written without their "
                            "enrollment (a lost state cannot be rebuilt from them); run `cadence setup hubspot`", name)
                self._enrollment_ready = False
        return name if self._enrollment_ready else ""

    def all_tasks(self: Any) -> Iterator[StoredTask]:
        key_prop, meta_prop = self.settings.key_property, self.settings.enrollment_property
        # one search first: a portal with no task of ours (a first sync) is not listed whole
        probe = {"filterGroups": [{"filters": [{"propertyName": key_prop, "operator": "HAS_PROPERTY"}]}],
                 "properties": [key_prop], "limit": 1}
        found = self.call(self._wire, "POST", "/crm/v3/objects/tasks/search", probe, search=True)
        if not (found.get("results") or found.get("total")):
            return
        props = TASK_PROPERTIES + [key_prop] + ([meta_prop] if meta_prop else [])
        for archived in (False, True):
            for results in self._list_pages("tasks", props, archived):
                for obj in results:
                    values = obj.get("properties") or {}
                    state = to_task_state(obj["id"], values, key_prop, "", archived=archived)
                    if state is not None:
                        yield StoredTask(state, (values.get(meta_prop) or "") if meta_prop else "")
