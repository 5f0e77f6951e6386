"""Helpers for tests of the HubSpot path: seeding the emulator, a recruiter, a config."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from connector.crm.hubspot.adapter import HubSpotCRM

# Used as the token in every HubSpot test: a canary the secret scans look for.
CANARY_TOKEN = "pat-na1-CANARY-7f3c9a51-do-not-log"

FIELD_TO_PROPERTY = {
    "first_name": "firstname", "last_name": "lastname", "email": "email", "phone": "phone",
    "company": "company", "title": "jobtitle", "owner_id": "hubspot_owner_id", "timezone": "hs_timezone",
    "country": "country", "lead_status": "hs_lead_status", "lifecycle_stage": "lifecyclestage",
    "referred_by": "referred_by",
}


def prepare(emu: Any) -> None:
    """Accept the canary token, and add the custom contact property our configs use."""
    emu.add_token(CANARY_TOKEN)


def env_for(emu: Any) -> dict[str, str]:
    return {"HUBSPOT_ACCESS_TOKEN": CANARY_TOKEN, "HUBSPOT_BASE_URL": emu.base_url}


def make_crm(emu: Any, **settings: Any) -> HubSpotCRM:
    prepare(emu)
    crm = HubSpotCRM.from_config(settings, env=env_for(emu), sleep=lambda s: None, backoff=0.0)
    crm.setup()
    return crm


def to_properties(fields: dict[str, str]) -> dict[str, str]:
    """Engine field names -> HubSpot properties (time zones in HubSpot's option format)."""
    from connector.crm.hubspot.emulator import iana_to_hubspot_tz

    props = {FIELD_TO_PROPERTY[k]: v for k, v in fields.items() if k in FIELD_TO_PROPERTY and v}
    if "hs_timezone" in props:
        props["hs_timezone"] = iana_to_hubspot_tz(props["hs_timezone"])
    return props


def task_ids_by_key(emu: Any, key_property: str = "crm_cadence_key") -> dict[str, str]:
    out = {}
    for task_id in sorted(emu.state.stores["tasks"].records):
        props = emu.get_task(task_id) or {}
        if props.get(key_property):
            out[props[key_property]] = str(task_id)
    return out


def live_task_keys(emu: Any, key_property: str = "crm_cadence_key") -> list[str]:
    """Every task key in the portal, one entry per live task (duplicates would repeat)."""
    keys = []
    for task_id in sorted(emu.state.stores["tasks"].records):
        props = emu.get_task(task_id) or {}
        if props.get(key_property):
            keys.append(props[key_property])
    return keys


class HubSpotRecruiter:
    """A recruiter working in HubSpot, through the emulator's actions."""

    def __init__(self, emu: Any, ids: dict[str, str] | None = None) -> None:
        self.emu = emu
        self.ids = ids or {}

    def complete_task(self, key: str, *, outcome: str = "", completed_at: datetime | None = None, note: str = "") -> None:
        self.emu.complete_task(task_ids_by_key(self.emu)[key], at=completed_at)

    def update_contact(self, contact_id: str, **changes: str) -> None:
        self.emu.set_properties("contacts", self.ids.get(contact_id, contact_id), to_properties(changes))

    def set_property(self, contact_id: str, name: str, value: str) -> None:
        self.emu.set_property("contacts", self.ids.get(contact_id, contact_id), name, value)

    def delete_task(self, key: str) -> None:
        self.emu.delete_object("tasks", task_ids_by_key(self.emu)[key])

    def delete_contact(self, contact_id: str) -> None:
        self.emu.delete_contact(self.ids.get(contact_id, contact_id))


def write_config(directory: Path, body: str) -> Path:
    path = directory / "cadence.yaml"
    path.write_text(body, encoding="utf-8")
    return path
