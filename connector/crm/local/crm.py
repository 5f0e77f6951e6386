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
      encoding: utf-8           # of the CSV files; default: UTF-8 (with or without BOM), else
                                # cp1252 detected with a warning
      delimiter: ","            # default: sniffed from each file's header (',', ';' or tab)
      allow_outside_folder: false  # true lets the files above be outside the config's folder

Paths are relative to the config file's directory and must stay inside it (symlinks
resolved), unless `allow_outside_folder: true`: `contacts: /etc/passwd` is refused.
Not incremental: every run reads every contact and every task (files are small and local).

Files are read whole or not at all (`csvtable`): a file that cannot be read as a table
stops the run before anything is planned or written (`UnreadableFile`, exit 2). A task row
missing from tasks.csv is never a deletion: its task stays open in the state and the sync
writes the row back (`missing_tasks`). tasks.csv is written as UTF-8 with a byte-order
mark (what Excel opens correctly), with the separator it was saved with.

Referrals: a task marked done with outcome `referral` and the referred person's name,
email or phone in the `referred_*` columns becomes a contact on the next read, appended to
contacts.csv (atomically) with `referred_by` = the task's contact and the id
`ref-<hash of the task key>`, so reading twice never adds it twice.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from connector.configfile import inside_folder
from connector.crm.base import (
    BadRecord,
    Capabilities,
    CloseTask,
    ConfigError,
    ContactBatch,
    CreateTask,
    ReadContext,
    SetupReport,
    TaskState,
    WriteResult,
)
from sequences.records import Contact, Owner, TaskStatus

from . import csvio, csvtable
from .alltasks import ListsTasksFromFile
from .contacts import known_owner, owners_from_table, parse_contact, parse_when, require_rule_columns
from .referrals import ExistingPeople, append_contacts, referred_people
from .taskfile import TASK_COLUMNS, row_for, sort_key, state_of, status_of, task_id_for
from .taskrows import task_row_problems

log = logging.getLogger(__name__)

SETTINGS = ("contacts", "tasks", "owners", "account", "page_size", "unique_keys", "max_batch", "encoding", "delimiter",
            "allow_outside_folder")


class LocalCRM(ListsTasksFromFile):
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
        self.encoding, self.delimiter = csvtable.file_format(settings)
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
        self._reach: dict[str, tuple[str, str]] = {}  # contact id -> (phone, email), for tasks.csv
        self._unreadable = False
        self._all_rows_readable = False
        self._owners: dict[str, Owner] | None = None
        self._reported_completion: dict[str, str] = {}
        self._run_tasks: csvtable.Table | None = None  # tasks.csv as read at the start of this run
        self._skipped_keys: set[str] = set()  # task rows with a value we could not understand
        self._missing: list[str] = []  # known open tasks whose row is not in tasks.csv

    @classmethod
    def from_config(cls, settings: Mapping[str, Any], *, base_dir: Path, env: Mapping[str, str]) -> LocalCRM:
        return cls(settings, base_dir=base_dir, env=env)

    @classmethod
    def account_for(cls, settings: Mapping[str, Any], *, env: Mapping[str, str] = os.environ) -> str:
        """`account_id()` from the config alone (without reading any file)."""
        return str(settings.get("account") or "local")

    def _path(self, settings: Mapping[str, Any], key: str, default: str) -> Path:
        raw = str(settings.get(key) or default)
        if settings.get("allow_outside_folder") is not True and inside_folder(self.base_dir, raw) is None:
            raise ConfigError(f"crm.{key}: {raw!r} leads outside the config's folder; set crm.allow_outside_folder: true to allow it")
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

    def setup(self) -> SetupReport:
        """Nothing to prepare: the files are the CRM. Says which files are read and written."""
        return SetupReport(done=[f"contacts are read from {self.contacts_path}", f"tasks are written to {self.tasks_path}"])

    def list_owners(self) -> list[Owner]:
        return sorted(self._load_owners().values(), key=lambda o: o.id)

    def read_contacts(self, ctx: ReadContext) -> Iterator[ContactBatch]:
        """Every contact, page by page (not incremental); referrals are added at the end.

        Both files are read whole before anything is yielded: contacts.csv, and tasks.csv
        (its referrals, and the task states this run plans from). A file that cannot be read
        raises UnreadableFile here, before the sync has used any of it.
        """
        self._now = ctx.started_at
        tasks = self._load_run_tasks()
        table = self._read(self.contacts_path, "id")
        label = self._label(self.contacts_path)
        require_rule_columns(table, label, ctx.exit_properties)
        bad = [BadRecord(self._label(self.tasks_path), "encoding", w) for w in tasks.warnings]
        bad += [BadRecord(label, "encoding", w) for w in table.warnings]
        bad += self._task_problems(tasks)
        contacts, seen = self._parse_contacts(table, label, bad)
        people = ExistingPeople(contacts)
        referred, referral_bad = self._referrals(seen, table, people, dry_run=ctx.dry_run)
        contacts = people.contacts() + referred
        self._names = {c.id: c.full_name for c in contacts}
        self._reach = {c.id: (c.phone, c.email) for c in contacts}
        self._all_rows_readable = not self._unreadable
        self._unreadable = False
        bad += referral_bad
        for start in range(0, max(len(contacts), 1), self.page_size):
            page = contacts[start:start + self.page_size]
            last = start + self.page_size >= len(contacts)
            yield ContactBatch(page, bad if last else [])

    def _parse_contacts(self, table: csvtable.Table, label: str, bad: list[BadRecord]) -> tuple[list[Contact], dict[str, int]]:
        """contacts.csv rows as Contacts (in file order); malformed rows reported and skipped."""
        seen: dict[str, int] = {}
        contacts: list[Contact] = []
        for err in table.errors:
            bad.append(BadRecord(f"{label}:{err.line}", "row", f"{err.message}: row skipped"))
            self._unreadable = True
        header = table.header
        for item in table.records:
            source = f"{label}:{item.line}"
            if len(item.values) > len(header):
                bad.append(BadRecord(source, "row", f"{len(item.values)} values but {len(header)} columns (a stray comma?): row skipped"))
                self._unreadable = True
                continue
            contact, problems = parse_contact(csvio.as_dict(header, item.values), source)
            bad.extend(problems)
            if contact is None:
                self._unreadable = True
                continue
            contact = known_owner(contact, self._load_owners(), source, bad)
            if contact.id in seen:
                bad.append(BadRecord(source, "id", f"duplicate id {contact.id!r} (first on line {seen[contact.id]}): row skipped", contact.id))
                continue
            seen[contact.id] = item.line
            contacts.append(contact)
        return contacts, seen

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
        """Every task in tasks.csv (not incremental). A row with a value that cannot be understood
        is left out (its task stays as it was; the problem was reported with the contacts). A
        known key with no row is not a deletion: it is listed by `missing_tasks()`."""
        table = self._run_tasks if self._run_tasks is not None else self._read(self.tasks_path, "key", missing_ok=True)
        self._run_tasks = None
        fallback = self._completion_fallback()
        present: set[str] = set()
        for record in table.records:
            row = csvio.as_dict(table.header, record.values)
            key = row.get("key", "").strip()
            if not key:
                continue
            present.add(key)
            if key in self._skipped_keys or task_row_problems(row, ""):
                continue
            yield state_of(row, self._completed_at(row, fallback), self._parse(row.get("due_utc", "")))
        self._skipped_keys = set()
        self._missing = sorted(k for k in keys if k not in present)

    def missing_tasks(self) -> list[str]:
        """Keys of known open tasks whose row was not in tasks.csv at the last read (a stale copy
        saved over it, a row deleted by hand): the sync writes them back from its state."""
        return list(self._missing)

    def find_tasks(self, keys: Sequence[str]) -> dict[str, str]:
        wanted = set(keys)
        table = self._read(self.tasks_path, "key", missing_ok=True)
        found: dict[str, str] = {}
        for record in table.records:
            row = csvio.as_dict(table.header, record.values)
            if row.get("key") in wanted and row.get("key") not in found:
                found[row["key"]] = row.get("task_id", "")
        return found

    def create_tasks(self, tasks: Sequence[CreateTask]) -> list[WriteResult]:
        self._check_batch(tasks)
        if self._names is None:
            self._names = self._read_names()
        names = self._names
        owners = self._load_owners()

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
                phone, email = self._reach.get(task.contact_id, ("", ""))
                owner = owners.get(task.owner_id)
                row = row_for(task, task_id_for(task.key, len(existing)), names.get(task.contact_id, ""), self._clock(),
                              phone=phone, email=email, owner_name=owner.full_name if owner else "")
                rows.append(row)
                by_key.setdefault(task.key, []).append(row)
                results.append(WriteResult(task.key, True, crm_id=row["task_id"]))
                changed = True
            if changed:
                rows.sort(key=sort_key)  # by recruiter and due time, for the person reading the file
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
                    row["closed_at"] = self._clock().isoformat().replace("+00:00", "Z")  # a lost state rebuilds from it
                    changed = True
                results.append(WriteResult(task.key, True, crm_id=row.get("task_id", "")))
            return results, changed

        return self._merge_write(tasks, apply)

    # ------------------------------------------------------------------ internals

    def _check_batch(self, items: Sequence[Any]) -> None:
        if len(items) > self.capabilities.max_batch:
            raise ValueError(f"batch of {len(items)} is larger than max_batch {self.capabilities.max_batch}")

    def _merge_write(self, items: Sequence[Any], apply: Any) -> list[WriteResult]:
        """Re-read tasks.csv under the lock, apply our change to what is there now, write atomically.

        A file that cannot be read whole (or has a malformed row) is never rewritten: the
        write fails (retryable) and the file stays as the recruiter left it."""
        path = self.tasks_path
        label = self._label(path)
        with csvio.file_lock(path):
            for _ in range(5):
                try:
                    table = self._read(path, "key", missing_ok=True)
                except csvtable.UnreadableFile as exc:
                    return [WriteResult(getattr(i, "key", ""), False, error=f"{exc}; not written", retryable=True) for i in items]
                if table.errors:
                    message = f"{label}:{table.errors[0].line}: {table.errors[0].message}; fix the file, the next run will write"
                    return [WriteResult(getattr(i, "key", ""), False, error=message, retryable=True) for i in items]
                header = list(table.header) + [c for c in TASK_COLUMNS if c not in table.header]
                rows = [csvio.as_dict(header, r.values) for r in table.records]
                results, changed = apply(rows)
                if not changed:
                    return results
                self._stamp_completions(rows)
                try:
                    csvio.atomic_write_rows(path, header, rows, unchanged_since=table.signature,
                                            delimiter=table.dialect.delimiter, bom=True)
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
        table = self._read(self.contacts_path, "id")
        names = {}
        for record in table.records:
            row = csvio.as_dict(table.header, record.values)
            names[row.get("id", "").strip()] = " ".join(p for p in (row.get("first_name", "").strip(), row.get("last_name", "").strip()) if p)
            self._reach[row.get("id", "").strip()] = (row.get("phone", "").strip(), row.get("email", "").strip())
        return names

    def _read(self, path: Path, key: str, *, missing_ok: bool = False) -> csvtable.Table:
        return csvtable.read_table_whole(path, self._label(path), key, encoding=self.encoding,
                                         delimiter=self.delimiter, missing_ok=missing_ok)

    def _load_run_tasks(self) -> csvtable.Table:
        """tasks.csv for this run: read whole, and with no malformed row (a row that cannot be
        read might be any task: nothing is planned from the file, and it is never rewritten)."""
        table = self._read(self.tasks_path, "key", missing_ok=True)
        if table.errors:
            first = table.errors[0]
            raise csvtable.UnreadableFile(self._label(self.tasks_path), first.line, "row", first.message,
                                          "fix or remove that row (the rest of the file is fine); nothing was planned")
        self._run_tasks = table
        return table

    def _task_problems(self, table: csvtable.Table) -> list[BadRecord]:
        """Values in tasks.csv that cannot be understood (status, outcome, completed_at): each
        reported with file:line and field; the row's task stays as it was until it is fixed."""
        label = self._label(self.tasks_path)
        bad: list[BadRecord] = []
        skipped: set[str] = set()
        for record in table.records:
            row = csvio.as_dict(table.header, record.values)
            problems = task_row_problems(row, f"{label}:{record.line}")
            if problems:
                skipped.add(row.get("key", "").strip())
                bad.extend(problems)
        self._skipped_keys = skipped
        return bad

    def _load_owners(self) -> dict[str, Owner]:
        if self._owners is None:
            self._owners = {}
            if self.owners_path is not None:
                self._owners = owners_from_table(self._read(self.owners_path, "id"), self._label(self.owners_path))
        return self._owners

    def _referrals(self, seen: Mapping[str, int], contacts: csvtable.Table, people: ExistingPeople, *,
                   dry_run: bool) -> tuple[list[Contact], list[BadRecord]]:
        """Contacts for referrals recorded on done tasks (see connector/crm/local/referrals.py)."""
        tasks = self._run_tasks if self._run_tasks is not None else self._read(self.tasks_path, "key", missing_ok=True)
        added, new_rows, bad = referred_people(tasks, self._label(self.tasks_path), self._skipped_keys, seen, people)
        if new_rows and not dry_run:
            bad += append_contacts(self.contacts_path, self._label(self.contacts_path), contacts, new_rows,
                                   reread=lambda: self._read(self.contacts_path, "id"))
        return added, bad
