"""The shipped examples are valid, use what the product promises, and give the local CRM usable data."""

from __future__ import annotations

import csv
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays
import pytest

from connector.configfile import load_config
from sequences.records import Channel

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
CONTACT_COLUMNS = [
    "id", "first_name", "last_name", "email", "phone", "company", "title", "linkedin_url", "owner_id",
    "timezone", "country", "subdivision", "lead_status", "lifecycle_stage", "opted_out", "do_not_contact",
    "last_reply_at", "last_meeting_at", "referred_by", "role", "submission_status",
]
OWNER_COLUMNS = ["id", "first_name", "last_name", "email", "timezone", "days_off"]


def rows(name: str) -> tuple[list[str], list[dict[str, str]]]:
    with open(EXAMPLES / name, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_config_validates(path: Path) -> None:
    """Each shipped YAML file loads without a single problem."""
    assert load_config(path).config.cadences


def test_recruiting_example_has_the_four_cadences_wired_together() -> None:
    """recruiting.yaml holds the four cadences, with referral and not-now routing between them."""
    config = load_config(EXAMPLES / "recruiting.yaml").config
    by_id = {c.id: c for c in config.cadences}
    assert list(by_id) == ["passive-outreach", "warm-referral", "hiring-manager-checkin", "not-now-nurture"]
    outreach = by_id["passive-outreach"]
    assert [s.channel for s in outreach.steps][:4] == [Channel.CALL, Channel.EMAIL, Channel.LINKEDIN, Channel.CALL]
    assert outreach.referral_cadence == "warm-referral" and outreach.not_now.reengage_into == "not-now-nurture"
    assert {(c.property, c.equals) for c in outreach.enroll_when.any} == {("lifecycle_stage", "lead"), ("cadence", "passive-outreach")}
    assert by_id["warm-referral"].enroll_when is None and by_id["not-now-nurture"].enroll_when is None
    checkin = {(c.property, c.equals) for c in by_id["hiring-manager-checkin"].enroll_when.all}
    assert checkin == {("role", "hiring_manager"), ("submission_status", "submitted")}
    assert config.crm.type == "local" and config.crm.model_extra == {"contacts": "contacts.csv", "tasks": "tasks.csv"}
    assert (config.calendar.timezone, config.calendar.country) == ("America/New_York", "US")
    assert config.outcomes.lead_status == {"BAD_TIMING": "not_now", "UNQUALIFIED": "do_not_contact", "CONNECTED": "connected"}


def test_recruiting_scripts_come_from_markdown_and_carry_objections() -> None:
    """Every script body is a Markdown file; call scripts answer objections and offer the legwork."""
    config = load_config(EXAMPLES / "recruiting.yaml").config
    for script_id, script in config.scripts.items():
        assert script.body_file and script.body.strip(), script_id
    call_scripts = {s.script for c in config.cadences for s in c.steps if s.channel is Channel.CALL}
    for script_id in call_scripts:
        script = config.scripts[script_id]
        answers = " ".join(o.answer for o in script.objections)
        assert "who do you think i should speak to" in (answers + script.body).lower(), script_id
        assert "so you don't have to" in (answers + script.body).lower(), script_id
    referral = config.scripts["referral-call"]
    assert "{{referrer.full_name or" in referral.subject + referral.body


def test_every_markdown_script_is_used() -> None:
    """No orphan .md files: each one is some script's body_file."""
    used = {s.body_file for s in load_config(EXAMPLES / "recruiting.yaml").config.scripts.values()}
    assert {f"scripts/{p.name}" for p in (EXAMPLES / "scripts").glob("*.md")} == used


def test_contacts_csv_has_the_columns_the_local_crm_reads() -> None:
    """contacts.csv has exactly the agreed columns, about 25 rows, unique ids and known owners."""
    columns, contacts = rows("contacts.csv")
    assert columns == CONTACT_COLUMNS
    assert 20 <= len(contacts) <= 30
    ids = [c["id"] for c in contacts]
    assert len(set(ids)) == len(ids)
    owners = {o["id"] for o in rows("owners.csv")[1]}
    assert {c["owner_id"] for c in contacts} <= owners
    assert {c["referred_by"] for c in contacts if c["referred_by"]} <= set(ids)


def test_contacts_csv_values_are_well_formed() -> None:
    """Zones, countries, subdivisions, flags, opt-outs and timestamps all parse."""
    for c in rows("contacts.csv")[1]:
        if c["timezone"]:
            ZoneInfo(c["timezone"])
        assert c["country"] in holidays.list_supported_countries(), c["id"]
        if c["subdivision"]:
            assert c["subdivision"] in holidays.country_holidays(c["country"]).subdivisions, c["id"]
        assert c["do_not_contact"] in ("true", "false")
        assert set(filter(None, c["opted_out"].split(";"))) <= {"all", *(ch.value for ch in Channel)}
        for stamp in (c["last_reply_at"], c["last_meeting_at"]):
            if stamp:
                assert datetime.fromisoformat(stamp.replace("Z", "+00:00")).tzinfo is not None


def test_contacts_csv_has_the_variety_the_engine_must_handle() -> None:
    """Several countries and zones (including +05:30 and +05:45), gaps, unicode names, opt-outs and hiring managers."""
    contacts = rows("contacts.csv")[1]
    assert {"US", "GB", "DE", "IN", "NP", "AU"} <= {c["country"] for c in contacts}
    assert {"Asia/Kolkata", "Asia/Kathmandu"} <= {c["timezone"] for c in contacts}
    assert len({c["timezone"] for c in contacts if c["country"] == "US" and c["timezone"]}) >= 3
    assert any(not c["phone"] for c in contacts) and any(not c["timezone"] and c["country"] for c in contacts)
    assert any(not (c["first_name"] + c["last_name"]).isascii() for c in contacts)
    assert {"email", "all"} <= {o for c in contacts for o in c["opted_out"].split(";")}
    assert any(c["do_not_contact"] == "true" for c in contacts)
    assert any(c["role"] == "hiring_manager" and c["submission_status"] == "submitted" for c in contacts)


def test_owners_csv_columns_and_days_off() -> None:
    """owners.csv has the agreed columns, valid zones and `;`-separated ISO days off."""
    columns, owners = rows("owners.csv")
    assert columns == OWNER_COLUMNS and owners
    for owner in owners:
        ZoneInfo(owner["timezone"])
        for day in filter(None, owner["days_off"].split(";")):
            date.fromisoformat(day)


def test_examples_readme_explains_each_file_and_the_schema_hint() -> None:
    """examples/README.md names every example file and shows the yaml-language-server schema line."""
    readme = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    for name in ("recruiting.yaml", "minimal.yaml", "contacts.csv", "owners.csv", "scripts/"):
        assert name in readme
    assert "# yaml-language-server: $schema=" in readme and "cadence schema" in readme


def test_minimal_example_is_one_cadence_of_two_steps() -> None:
    """minimal.yaml stays the smallest useful config."""
    config = load_config(EXAMPLES / "minimal.yaml").config
    assert len(config.cadences) == 1 and len(config.cadences[0].steps) == 2
