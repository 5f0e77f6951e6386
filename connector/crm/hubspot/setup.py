"""`cadence hubspot setup`: the property groups and properties crm-cadence needs in a portal.

Idempotent: each is created only when missing, and the answer says what was done.
"""

from __future__ import annotations

from typing import Any

from .http import Caller
from .settings import HubSpotSettings

GROUP = "crm_cadence"


def set_up_portal(call: Caller, groups: Any, properties: Any, settings: HubSpotSettings) -> list[str]:
    """Create the task-key property (and, when referrals are read, the referred-by one). Returns what it did."""
    done = _ensure_property(call, groups, properties, "tasks", dict(
        name=settings.key_property, label="crm-cadence task key", type="string", field_type="text",
        group_name=GROUP, has_unique_value=True,
        description="Set by crm-cadence: the follow-up's stable key. Do not edit."))
    if settings.enrollment_property:  # what a lost state is rebuilt from
        from .rebuild import enrollment_property_spec

        done += _ensure_property(call, groups, properties, "tasks", enrollment_property_spec(settings.enrollment_property))
    referred_by = settings.properties.referred_by
    if referred_by:
        done += _ensure_property(call, groups, properties, "contacts", dict(
            name=referred_by, label="Referred by (contact id)", type="string", field_type="text",
            group_name=GROUP,
            description="Set by a recruiter: the id of the contact who gave this name."))
    return done or ["nothing to do: the account is already set up"]


def _ensure_property(call: Caller, groups: Any, properties: Any, object_type: str, spec: dict[str, Any]) -> list[str]:
    """The crm_cadence group of an object type, then one property in it; each created only when missing."""
    from hubspot.crm.properties import PropertyCreate, PropertyGroupCreate

    done = []
    kind = object_type[:-1]  # "tasks" -> "task"
    existing_groups = call(groups.get_all, object_type=object_type)
    if not any(g.name == GROUP for g in existing_groups.results or []):
        call(groups.create, object_type=object_type,
             property_group_create=PropertyGroupCreate(name=GROUP, label="crm-cadence"), idempotent=False)
        done.append(f"created {kind} property group {GROUP}")
    existing = call(properties.get_all, object_type=object_type)
    if not any(p.name == spec["name"] for p in existing.results or []):
        call(properties.create, object_type=object_type, property_create=PropertyCreate(**spec), idempotent=False)
        done.append(f"created {kind} property {spec['name']}")
    return done
