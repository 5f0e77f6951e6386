"""Cursors follow the CRM's clock, not ours: search lag longer than the overlap, a run dated in
the future, a clock that jumps back. In each case no change the CRM made is lost for good."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from support.hubspot import START, env_for, outcome_portal
from support.hubspot import ends_with as _ends_with

from connector.crm.hubspot.emulator import HubSpotEmulator
from connector.sync import run_sync
from sequences.records import EnrollmentStatus


@pytest.fixture
def outcomes(hubspot_emulator: HubSpotEmulator, tmp_path: Path) -> dict[str, Any]:
    return outcome_portal(hubspot_emulator, tmp_path / "ws")


def test_search_lag_of_ten_minutes_loses_no_change(outcomes: dict[str, Any]) -> None:
    """Changes that reach HubSpot's search index 10 minutes late (twice the read overlap) are
    still read by a later run and acted on: a reply finishes, UNQUALIFIED exits."""
    emu, portal, ids = outcomes["emu"], outcomes["portal"], outcomes["ids"]
    emu.faults.search_lag_seconds = 600
    changed_at = START + timedelta(hours=3)
    portal.at(changed_at)
    emu.record_reply(ids["Reply"])
    emu.set_lead_status(ids["Unq"], "UNQUALIFIED")
    for minute in range(1, 31, 2):  # a run every two minutes, as `serve --every 2m` would
        report = portal.sync(changed_at + timedelta(minutes=minute))
        assert report.status == "ok", report.errors

    _ends_with(portal, ids["Reply"], EnrollmentStatus.FINISHED)
    _ends_with(portal, ids["Unq"], EnrollmentStatus.EXITED)
    assert portal.open_tasks_of(ids["Reply"]) == [] and portal.open_tasks_of(ids["Unq"]) == []


def test_a_run_dated_in_the_future_does_not_blind_later_runs(outcomes: dict[str, Any]) -> None:
    """A run with `now` a year ahead (a clock jump, a --now typo) leaves the cursors where the
    CRM's own clock puts them: the next normal runs still read replies and lead statuses."""
    emu, portal, ids = outcomes["emu"], outcomes["portal"], outcomes["ids"]
    portal.at(START + timedelta(hours=1))
    # the machine's real time is the emulator's present (START + 1 hour); the run's `now` a year ahead
    future = run_sync(portal.loaded, now=START + timedelta(days=365), env=env_for(emu), wall=START + timedelta(hours=1))
    assert future.status == "ok", future.errors
    store = portal.store()
    try:
        for name in ("contacts", "tasks"):
            cursor = store.cursor(name)
            assert cursor is not None and cursor <= START + timedelta(hours=1), (name, cursor)
    finally:
        store.close()

    portal.at(START + timedelta(hours=3))
    emu.record_reply(ids["Reply"])
    emu.set_lead_status(ids["Unq"], "UNQUALIFIED")
    report = portal.sync(START + timedelta(hours=4))

    assert report.status == "ok", report.errors
    _ends_with(portal, ids["Reply"], EnrollmentStatus.FINISHED)
    _ends_with(portal, ids["Unq"], EnrollmentStatus.EXITED)


def test_cursors_left_in_the_future_are_not_trusted(outcomes: dict[str, Any]) -> None:
    """A state whose cursors an older version moved past the present (or a clock that jumped back)
    gets a full read instead of an empty one: the change is seen, the sweep is not postponed."""
    emu, portal, ids = outcomes["emu"], outcomes["portal"], outcomes["ids"]
    store = portal.store()
    try:
        for name in ("contacts", "tasks", "sweep"):
            store.set_cursor(name, START + timedelta(days=365), START + timedelta(days=365))
    finally:
        store.close()
    portal.at(START + timedelta(hours=3))
    emu.record_reply(ids["Reply"])
    emu.delete_contact(ids["Unq"])

    report = portal.sync(START + timedelta(days=1, hours=1))

    assert report.status == "ok", report.errors
    _ends_with(portal, ids["Reply"], EnrollmentStatus.FINISHED)
    assert report.counts["contacts_gone"] == 1  # the daily sweep ran
    assert report.counts["cursors_reset"] == 3, dict(report.counts)
