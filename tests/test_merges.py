"""A merge in HubSpot is resolved in the run that reads it, not at the next daily sweep: the
merged-away contact's enrollment ends and its task (moved onto the survivor) is closed, so the
survivor keeps exactly one open task."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from support.hubspot import START, outcome_portal
from support.hubspot import ends_with as _ends_with

from connector.crm.hubspot.emulator import HubSpotEmulator
from sequences.records import EnrollmentStatus


@pytest.fixture
def outcomes(hubspot_emulator: HubSpotEmulator, tmp_path: Path) -> dict[str, Any]:
    return outcome_portal(hubspot_emulator, tmp_path / "ws")


def test_a_merge_is_resolved_in_the_same_run(outcomes: dict[str, Any]) -> None:
    emu, portal, ids = outcomes["emu"], outcomes["portal"], outcomes["ids"]
    (merged_task,) = portal.tasks_of(ids["Conn"])
    portal.at(START + timedelta(hours=2))
    emu.merge_contacts(ids["Meet"], ids["Conn"])  # Conn's task moves to Meet, who has one of their own
    assert len(portal.open_tasks_of(ids["Meet"])) == 2

    report = portal.sync(START + timedelta(hours=3))  # the daily sweep is not due: the incremental read sees it

    assert report.status == "ok", report.errors
    assert [i.contact_id for i in report.closed] == [ids["Conn"]]
    assert emu.get_task(merged_task["id"])["hs_task_status"] == "COMPLETED"
    assert ids["Meet"] in _ends_with(portal, ids["Conn"], EnrollmentStatus.EXITED).reason
    assert len(portal.open_tasks_of(ids["Meet"])) == 1
    _ends_with(portal, ids["Meet"], EnrollmentStatus.ACTIVE)
    assert report.counts["created"] == 0


def test_a_merge_of_contacts_never_seen_is_ignored(outcomes: dict[str, Any]) -> None:
    """A survivor that absorbed contacts this tool never knew adds nothing to the state."""
    emu, portal, ids = outcomes["emu"], outcomes["portal"], outcomes["ids"]
    stranger = emu.create_contact({"firstname": "Stranger", "lifecyclestage": "customer"})
    portal.at(START + timedelta(hours=2))
    emu.merge_contacts(ids["Meet"], stranger)

    report = portal.sync(START + timedelta(hours=3))

    assert report.status == "ok", report.errors
    store = portal.store()
    try:
        assert store.contacts([stranger]) == {}
    finally:
        store.close()
    assert len(portal.open_tasks_of(ids["Meet"])) == 1
