"""The embedded default CRM: contacts in a CSV file, tasks in a CSV file a recruiter edits.

Config:

    crm:
      type: local
      contacts: contacts.csv    # required columns: id; see CONTACT_COLUMNS; extras -> properties
      tasks: tasks.csv          # written by crm-cadence, edited by the recruiter (default)
      owners: owners.csv        # optional; used when named or when the default file exists
      account: local            # the account id in task keys (default "local")
      page_size: 500            # contacts per page
      unique_keys: true         # a create for an existing key returns that task (upsert)

Paths are relative to the config file's directory. Not incremental: every run reads
every contact and every task (files are small and local).

Referrals: a task marked done with outcome `referral` and the referred person's name,
email or phone in the `referred_*` columns becomes a contact on the next read, appended to
contacts.csv (atomically) with `referred_by` = the task's contact and the id
`ref-<hash of the task key>`, so reading twice never adds it twice.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from connector.crm.base import (
    BadRecord,
    Capabilities,
    CloseTask,
    ConfigError,
    ContactBatch,
    CreateTask,
    ReadContext,
    TaskState,
    WriteResult,
)
from sequences.records import Contact, Owner, TaskStatus

from . import csvio
from .contacts import parse_contact, parse_owner, parse_when
from .taskfile import REFERRAL_COLUMNS, TASK_COLUMNS, outcome_of, row_for, state_of, status_of, task_id_for

log = logging.getLogger(__name__)

SETTINGS = ("contacts", "tasks", "owners", "account", "page_size", "unique_keys", "max_batch")


class LocalCRM:
    """Contacts from CSV, tasks to CSV. Satisfies `connector.crm.base.CRM`."""

    name = "local"

    def __init__(self, settings: Mapping[str, Any] | None = None, *, base_dir: Path | str = ".", env: Mapping[str, str] = os.environ):
        settings = dict(settings or {})
        unknown = sorted(set(settings) - set(SETTINGS))
        if unknown:
            raise ConfigError(f"crm.{unknown[0]}: not a setting of the local CRM (known: {', '.join(SETTINGS)})")
        self.base_dir = Path(base_dir)
        self._labels: dict[Path, str] = {}
        self.contacts_path = self._path(settings, "contacts", "contacts.csv")
        if not self.contacts_path.exists():
            raise ConfigError(f"crm.contacts: file not found: {self.contacts_path}")
        self.tasks_path = self._path(settings, "tasks", "tasks.csv")
        owners = self._path(settings, "owners", "owners.csv")
        if "owners" in settings and not owners.exists():
            raise ConfigError(f"crm.owners: file not found: {owners}")
        self.owners_path = owners if owners.exists() else None
        self._account = str(settings.get("account") or "local")
        self.page_size = int(settings.get("page_size", 500))
        self.unique_keys = bool(settings.get("unique_keys", True))
        self.capabilities = Capabilities(
            incremental_contacts=False,
            incremental_tasks=False,
            max_batch=int(settings.get("max_batch", 500)),
            search_lag_seconds=0.0,
            task_outcomes=True,
            lead_status=True,
        )
        self._now: datetime | None = None
        self._names: dict[str, str] | None = None
        self._unreadable = False
        self._all_rows_readable = False
        self._owners: dict[str, Owner] | None = None
        self._reported_completion: dict[str, str] = {}

    @classmethod
    def from_config(cls, settings: Mapping[str, Any], *, base_dir: Path, env: Mapping[str, str]) -> LocalCRM:
        return cls(settings, base_dir=base_dir, env=env)

    def _path(self, settings: Mapping[str, Any], key: str, default: str) -> Path:
        raw = str(settings.get(key) or default)
        path = Path(raw) if Path(raw).is_absolute() else self.base_dir / raw
        self._labels[path] = raw
        return path

    def _label(self, path: Path) -> str:
        return self._labels.get(path, path.name)

    def _clock(self) -> datetime:
        return self._now or datetime.now(timezone.utc)

    # ------------------------------------------------------------------ Protocol

    def account_id(self) -> str:
        return self._account

    def close(self) -> None:
        pass

    def list_owners(self) -> list[Owner]:
        return sorted(self._load_owners().values(), key=lambda o: o.id)

    def read_contacts(self, ctx: ReadContext) -> Iterator[ContactBatch]:
        """Every contact, page by page (not incremental); referrals are added at the end."""
        self._now = ctx.started_at
        names: dict[str, str] = {}
        seen: dict[str, int] = {}
        page: list[Contact] = []
        bad: list[BadRecord] = []
        label = self._label(self.contacts_path)
        with open(self.contacts_path, newline="", encoding="utf-8-sig") as f:
            header: list[str] | None = None
            for item in csvio.read_records(f):
                source = f"{label}:{item.line}"
                if isinstance(item, csvio.RecordError):
                    bad.append(BadRecord(source, "row", f"{item.message}: row skipped"))
                    self._unreadable = True
                    continue
                if header is None:
                    header = [h.strip() for h in item.values]
                    if "id" not in header:
                        raise ConfigError(f"{label}:1: no 'id' column (columns: {', '.join(header)})")
                    continue
                if len(item.values) > len(header):
                    bad.append(BadRecord(source, "row", f"{len(item.values)} values but {len(header)} columns (a stray comma?): row skipped"))
                    continue
                contact, problems = parse_contact(csvio.as_dict(header, item.values), source)
                bad.extend(problems)
                if contact is None:
                    continue
                contact = self._known_owner(contact, source, bad)
                if contact.id in seen:
                    bad.append(BadRecord(source, "id", f"duplicate id {contact.id!r} (first on line {seen[contact.id]}): row skipped", contact.id))
                    continue
                seen[contact.id] = item.line
                names[contact.id] = contact.full_name
                page.append(contact)
                if len(page) >= self.page_size:
                    yield ContactBatch(page, bad)
                    page, bad = [], []
        referred, referral_bad = self._referrals(seen, header or [], dry_run=bool(ctx.hints.get("dry_run")))
        for contact in referred:
            names[contact.id] = contact.full_name
        self._names = names
        self._all_rows_readable = not self._unreadable
        self._unreadable = False
        yield ContactBatch(page + referred, bad + referral_bad)

    def verify_contacts(self, ids: Sequence[str]) -> Iterator[Contact]:
        """Contacts whose row is gone from the CSV file come back as deleted.

        Only after a read in which every row could be parsed: a row the recruiter broke
        (and that is reported as such) must not look like a deletion.
        """
        if self._names is None or not getattr(self, "_all_rows_readable", False):
            return
        for contact_id in ids:
            if contact_id not in self._names:
                yield Contact(id=contact_id, deleted=True)

    def read_task_changes(self, since: datetime | None, keys: Mapping[str, str]) -> Iterator[TaskState]:
        """Every task in tasks.csv (not incremental), plus known keys whose row was deleted."""
        header, records, errors = csvio.read_table(self.tasks_path)
        for err in errors:
            log.warning("%s:%s: %s (row ignored)", self._label(self.tasks_path), err.line, err.message)
        fallback = self._completion_fallback()
        present: set[str] = set()
        for record in records:
            row = csvio.as_dict(header, record.values)
            key = row.get("key", "").strip()
            if not key:
                continue
            present.add(key)
            yield state_of(row, self._completed_at(row, fallback), self._parse(row.get("due_utc", "")))
        for key, crm_id in keys.items():
            if key not in present:
                yield TaskState(key=key, contact_id="", status=TaskStatus.DELETED, crm_id=crm_id)

    def find_tasks(self, keys: Sequence[str]) -> dict[str, str]:
        wanted = set(keys)
        header, records, _ = csvio.read_table(self.tasks_path)
        found: dict[str, str] = {}
        for record in records:
            row = csvio.as_dict(header, record.values)
            if row.get("key") in wanted and row.get("key") not in found:
                found[row["key"]] = row.get("task_id", "")
        return found

    def create_tasks(self, tasks: Sequence[CreateTask]) -> list[WriteResult]:
        self._check_batch(tasks)
        if self._names is None:
            self._names = self._read_names()
        names = self._names

        def apply(rows: list[dict[str, str]]) -> tuple[list[WriteResult], bool]:
            by_key: dict[str, list[dict[str, str]]] = {}
            for row in rows:
                by_key.setdefault(row.get("key", ""), []).append(row)
            results, changed = [], False
            for task in tasks:
                if not task.key or not task.contact_id:
                    results.append(WriteResult(task.key, False, error="a task needs a key and a contact id"))
                    continue
                existing = by_key.get(task.key, [])
                if existing and self.unique_keys:
                    results.append(WriteResult(task.key, True, crm_id=existing[0].get("task_id", "")))
                    continue
                row = row_for(task, task_id_for(task.key, len(existing)), names.get(task.contact_id, ""), self._clock())
                rows.append(row)
                by_key.setdefault(task.key, []).append(row)
                results.append(WriteResult(task.key, True, crm_id=row["task_id"]))
                changed = True
            return results, changed

        return self._merge_write(tasks, apply)

    def close_tasks(self, tasks: Sequence[CloseTask]) -> list[WriteResult]:
        self._check_batch(tasks)

        def apply(rows: list[dict[str, str]]) -> tuple[list[WriteResult], bool]:
            by_id = {r.get("task_id", ""): r for r in rows if r.get("task_id")}
            by_key = {r.get("key", ""): r for r in rows if r.get("key")}
            results, changed = [], False
            for task in tasks:
                row = by_id.get(task.crm_id) if task.crm_id else None
                row = row or by_key.get(task.key)
                if row is None:
                    results.append(WriteResult(task.key, False, crm_id=task.crm_id, error="no such task in the tasks file"))
                    continue
                if status_of(row.get("status", "")) is TaskStatus.OPEN:
                    row["status"] = "cancelled"
                    row["closed_reason"] = task.reason
                    changed = True
                results.append(WriteResult(task.key, True, crm_id=row.get("task_id", "")))
            return results, changed

        return self._merge_write(tasks, apply)

    # ------------------------------------------------------------------ internals

    def _check_batch(self, items: Sequence[Any]) -> None:
        if len(items) > self.capabilities.max_batch:
            raise ValueError(f"batch of {len(items)} is larger than max_batch {self.capabilities.max_batch}")

    def _merge_write(self, items: Sequence[Any], apply: Any) -> list[WriteResult]:
        """Re-read tasks.csv under the lock, apply our change to what is there now, write atomically."""
        path = self.tasks_path
        label = self._label(path)
        with csvio.file_lock(path):
            for _ in range(5):
                signature = csvio.stat_signature(path)
                header, records, errors = csvio.read_table(path)
                if errors:
                    message = f"{label}:{errors[0].line}: {errors[0].message}; fix the file, the next run will write"
                    return [WriteResult(getattr(i, "key", ""), False, error=message, retryable=True) for i in items]
                header = list(header) + [c for c in TASK_COLUMNS if c not in header]
                rows = [csvio.as_dict(header, r.values) for r in records]
                results, changed = apply(rows)
                if not changed:
                    return results
                self._stamp_completions(rows)
                try:
                    csvio.atomic_write_rows(path, header, rows, unchanged_since=signature)
                except csvio.ChangedWhileWriting:
                    continue  # the recruiter saved while we merged: merge again
                except OSError as exc:
                    return [WriteResult(getattr(i, "key", ""), False, error=f"{label}: {exc.strerror}", retryable=True) for i in items]
                return results
        return [WriteResult(getattr(i, "key", ""), False, error=f"{label} keeps changing; try again", retryable=True) for i in items]

    def _stamp_completions(self, rows: list[dict[str, str]]) -> None:
        """Fill blank completed_at of done rows with the time this CRM reported for them."""
        for row in rows:
            stamped = self._reported_completion.get(row.get("key", ""))
            if stamped and not row.get("completed_at", "").strip() and status_of(row.get("status", "")) is TaskStatus.COMPLETED:
                row["completed_at"] = stamped

    def _completion_fallback(self) -> datetime:
        try:
            mtime = datetime.fromtimestamp(self.tasks_path.stat().st_mtime, timezone.utc)
        except FileNotFoundError:
            mtime = self._clock()
        return min(mtime, self._clock()).replace(microsecond=0)

    def _completed_at(self, row: Mapping[str, str], fallback: datetime) -> datetime | None:
        if status_of(row.get("status", "")) is not TaskStatus.COMPLETED:
            return None
        text = row.get("completed_at", "").strip()
        if text:
            owner = self._load_owners().get(row.get("owner_id", ""))
            try:
                return parse_when(text, owner.timezone if owner else "")
            except ValueError:
                log.warning("task %s: completed_at %r is not an ISO date; using %s", row.get("key"), text, fallback)
        self._reported_completion[row.get("key", "")] = fallback.isoformat().replace("+00:00", "Z")
        return fallback

    @staticmethod
    def _parse(text: str) -> datetime | None:
        try:
            return parse_when(text) if text.strip() else None
        except ValueError:
            return None

    def _read_names(self) -> dict[str, str]:
        header, records, _ = csvio.read_table(self.contacts_path)
        names = {}
        for record in records:
            row = csvio.as_dict(header, record.values)
            names[row.get("id", "").strip()] = " ".join(p for p in (row.get("first_name", "").strip(), row.get("last_name", "").strip()) if p)
        return names

    def _known_owner(self, contact: Contact, source: str, bad: list[BadRecord]) -> Contact:
        """An owner missing from owners.csv is reported, and the contact's tasks left unassigned."""
        owners = self._load_owners()
        if not contact.owner_id or not owners or contact.owner_id in owners:
            return contact
        bad.append(BadRecord(source, "owner_id", f"unknown owner {contact.owner_id!r} (not in owners.csv): "
                                                 "tasks are left unassigned", contact.id))
        return replace(contact, owner_id="")

    def _load_owners(self) -> dict[str, Owner]:
        if self._owners is None:
            self._owners = {}
            if self.owners_path is not None:
                header, records, errors = csvio.read_table(self.owners_path)
                label = self._label(self.owners_path)
                for err in errors:
                    log.warning("%s:%s: %s (owner skipped)", label, err.line, err.message)
                for record in records:
                    owner, problems = parse_owner(csvio.as_dict(header, record.values), f"{label}:{record.line}")
                    for p in problems:
                        log.warning("%s: %s: %s", p.source, p.field, p.message)
                    if owner is not None:
                        self._owners.setdefault(owner.id, owner)
        return self._owners

    def _referrals(self, seen: Mapping[str, int], header: list[str], *, dry_run: bool) -> tuple[list[Contact], list[BadRecord]]:
        """Contacts for referrals recorded on done tasks that are not in contacts.csv yet."""
        t_header, records, _ = csvio.read_table(self.tasks_path)
        label = self._label(self.tasks_path)
        new_rows: list[dict[str, str]] = []
        contacts: list[Contact] = []
        bad: list[BadRecord] = []
        for record in records:
            row = csvio.as_dict(t_header, record.values)
            outcome = outcome_of(row.get("outcome", ""))
            if status_of(row.get("status", "")) is not TaskStatus.COMPLETED or outcome is None or outcome.value != "referral":
                continue
            given = {c: row.get(c, "").strip() for c in REFERRAL_COLUMNS}
            source = f"{label}:{record.line}"
            if not any(given.values()):
                bad.append(BadRecord(source, "referred_first_name", "outcome is referral but no referred person is given", row.get("contact_id", "")))
                continue
            ref_id = "ref-" + hashlib.sha256(row.get("key", "").encode()).hexdigest()[:10]
            if ref_id in seen:
                continue
            values = {
                "id": ref_id,
                "first_name": given["referred_first_name"],
                "last_name": given["referred_last_name"],
                "email": given["referred_email"],
                "phone": given["referred_phone"],
                "owner_id": row.get("owner_id", ""),
                "referred_by": row.get("contact_id", ""),
            }
            contact, problems = parse_contact(values, source)
            bad.extend(problems)
            if contact is None:
                continue
            contacts.append(contact)
            new_rows.append(values)
        if new_rows and not dry_run:
            self._append_contacts(header, new_rows)
        return contacts, bad

    def _append_contacts(self, header: list[str], rows: list[dict[str, str]]) -> None:
        path = self.contacts_path
        with csvio.file_lock(path):
            missing = [c for c in ("id", "first_name", "last_name", "email", "phone", "owner_id", "referred_by") if c not in header]
            if not missing:
                csvio.atomic_append_rows(path, header, [[r.get(c, "") for c in header] for r in rows])
                return
            signature = csvio.stat_signature(path)
            current_header, records, errors = csvio.read_table(path)
            if errors:  # rewriting would drop the unreadable rows
                raise ConfigError(f"{self._label(path)}:{errors[0].line}: {errors[0].message}; fix it to add referrals")
            full = list(current_header) + missing
            existing = [csvio.as_dict(current_header, r.values) for r in records]
            csvio.atomic_write_rows(path, full, existing + rows, unchanged_since=signature)
