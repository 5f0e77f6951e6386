"""The local (CSV) CRM in tests: its files, a recruiter editing them, and a workspace run through the CLI.

`LocalRecruiter` edits tasks.csv and contacts.csv as a person would in a spreadsheet;
`make_workspace` and `cadence` are the crash tests' local workspace (7 leads, batches of 2)
and the real `cadence` command in a subprocess (with a kill hook when asked: support/launch.py).
"""

from __future__ import annotations

import csv
import os
import subprocess
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path

from support.conformance import SEED_CONTACTS, SEED_OWNERS
from support.launch import command as cadence_command

CONTACT_HEADER = [
    "id", "first_name", "last_name", "email", "phone", "company", "title", "linkedin_url", "owner_id",
    "timezone", "country", "subdivision", "lead_status", "lifecycle_stage", "opted_out", "do_not_contact",
    "last_reply_at", "last_meeting_at", "referred_by",
]
OWNER_HEADER = ["id", "first_name", "last_name", "email", "timezone", "days_off"]


def write_csv(path: Path, header: list[str], rows: Iterable[Mapping[str, str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=header, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in header})
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def seed_local(directory: Path, contacts: list[dict[str, str]] | None = None, owners: list[dict[str, str]] | None = None) -> Path:
    """contacts.csv and owners.csv in `directory`; returns the directory."""
    write_csv(directory / "contacts.csv", CONTACT_HEADER, SEED_CONTACTS if contacts is None else contacts)
    write_csv(directory / "owners.csv", OWNER_HEADER, SEED_OWNERS if owners is None else owners)
    return directory


class LocalRecruiter:
    """A recruiter editing tasks.csv and contacts.csv in a spreadsheet (read, change, save)."""

    def __init__(self, directory: Path, tasks: str = "tasks.csv", contacts: str = "contacts.csv"):
        self.tasks = directory / tasks
        self.contacts = directory / contacts

    def _edit(self, path: Path, match: str, value: str, changes: Mapping[str, str]) -> None:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            header = list(reader.fieldnames or [])
            rows = list(reader)
        hits = [r for r in rows if r[match] == value]
        assert hits, f"no row with {match}={value} in {path.name}"
        for row in hits:
            row.update(changes)
        write_csv(path, header, rows)

    def complete_task(self, key: str, *, outcome: str = "", completed_at: datetime | None = None, note: str = "",
                      **referral: str) -> None:
        changes = {"status": "done", "outcome": outcome, "note": note}
        if completed_at is not None:
            changes["completed_at"] = completed_at.isoformat()
        changes.update(referral)
        self._edit(self.tasks, "key", key, changes)

    def edit_task(self, key: str, **changes: str) -> None:
        self._edit(self.tasks, "key", key, changes)

    def update_contact(self, contact_id: str, **changes: str) -> None:
        self._edit(self.contacts, "id", contact_id, changes)

    def set_property(self, contact_id: str, name: str, value: str) -> None:
        """A column of the recruiter's own (added when missing)."""
        header, rows = self._rows(self.contacts)
        if name not in header:
            header.append(name)
        for row in rows:
            if row["id"] == contact_id:
                row[name] = value
        write_csv(self.contacts, header, rows)

    def delete_task(self, key: str) -> None:
        header, rows = self._rows(self.tasks)
        write_csv(self.tasks, header, [r for r in rows if r["key"] != key])

    def delete_contact(self, contact_id: str) -> None:
        header, rows = self._rows(self.contacts)
        write_csv(self.contacts, header, [r for r in rows if r["id"] != contact_id])

    @staticmethod
    def _rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            return list(reader.fieldnames or []), list(reader)


# ------------------------------------------------------------------ a workspace run through the CLI

ROOT = Path(__file__).resolve().parents[2]
MONDAY = "2026-03-02T14:00:00Z"

CONFIG = """
crm: {type: local, contacts: contacts.csv, tasks: tasks.csv, unique_keys: false, max_batch: 2}
calendar: {timezone: America/New_York, country: US}
cadences:
  - id: outreach
    name: Outreach
    enroll_when: {all: [{property: lifecycle_stage, equals: lead}]}
    steps:
      - {id: call, channel: call, subject: "Call {{contact.first_name}}"}
      - {id: email, channel: email, wait: 2 business days, subject: "Email {{contact.first_name}}"}
"""
CONTACTS = SEED_CONTACTS + [
    {"id": f"c{n}", "first_name": f"Person{n}", "email": f"p{n}@example.com", "owner_id": "o1", "lifecycle_stage": "lead"}
    for n in range(4, 8)
]


def cadence(directory: Path, *args: str, kill_at: str = "") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CADENCE_TEST_")}
    state = directory / "state-url"  # a PostgreSQL workspace: its state URL, passed as the config says
    if state.exists():
        env["CADENCE_STATE"] = state.read_text(encoding="utf-8")
    return subprocess.run([*cadence_command(kill_at=kill_at), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def make_workspace(directory: Path, state_url: str = "") -> Path:
    """A local-CRM workspace; with `state_url`, its state is on PostgreSQL (`state: {env: CADENCE_STATE}`)."""
    directory.mkdir()
    seed_local(directory, CONTACTS)
    config = CONFIG
    if state_url:
        config += "state: {env: CADENCE_STATE}\n"
        (directory / "state-url").write_text(state_url, encoding="utf-8")
    (directory / "cadence.yaml").write_text(config, encoding="utf-8")
    return directory / "cadence.yaml"
