"""The local (CSV) CRM passes the shared CRM conformance suite.

Also home of the local CRM's test helpers (`write_csv`, `LocalRecruiter`), which the
other local-CRM and sync tests import.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from support.conformance import SEED_CONTACTS, SEED_OWNERS, CRMConformance

from connector.crm.local import LocalCRM

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


class TestLocalCRMConformance(CRMConformance):
    def make_crm(self, tmp_path: Any) -> LocalCRM:
        return LocalCRM({"contacts": "contacts.csv", "tasks": "tasks.csv", "max_batch": 50}, base_dir=seed_local(tmp_path))

    def make_recruiter(self, crm: Any, tmp_path: Any) -> LocalRecruiter:
        return LocalRecruiter(tmp_path)

    def custom_property(self) -> str:
        return "tier"

    def make_crm_with_bad_record(self, tmp_path: Any) -> LocalCRM:
        rows = SEED_CONTACTS + [{"id": "c9", "first_name": "Bad", "timezone": "Mars/Olympus_Mons", "email": "not-an-email"}]
        return LocalCRM({}, base_dir=seed_local(tmp_path, rows))
