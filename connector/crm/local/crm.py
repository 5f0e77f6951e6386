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

Writing tasks.csv costs what is written, not what the file holds: a run reads the file once
(with the contacts), then

- `create_tasks` APPENDS each batch's rows (one write, one fsync) to the file it read, while
  that file is still exactly as this process last saw it (inode, modification time, size) and
  is UTF-8 with a BOM with every column (`taskappend.py`). The rows are in tasks.csv, durably,
  before the results are returned: a task the sync records as created is in the file, even if
  the process is killed the next instant (nothing is buffered; a buffer flushed at the end of
  the run would let the ledger say "created" about rows a crash loses). An append cut short
  (a kill, a full disk) never leaves half a row: see taskappend.py.
- Anything else (the recruiter saved the file since, a save without the BOM: cp1252 or plain
  UTF-8, a missing column, a done row whose completion time must be filled in) takes the old
  path once: re-read under the lock, merge our rows into what is there now, rewrite
  atomically (temp file, fsync, rename; redone if the file changes meanwhile). Then appends
  resume on the rewritten file.
- `close_tasks` edits rows, so it re-reads, merges and rewrites (closes are few per run).
- `close()` (the end of a run) sorts the rows appended during the run into place (by
  recruiter, then due time), only when rows were appended: one atomic rewrite that moves the
  bytes of whole rows (where each row is was noted when the file was read and appended to),
  or, if the file changed since, a read-merge-rewrite.

So a first sync of n contacts writes tasks.csv's header, appends n/500 batches, and rewrites it
once (never once per batch of 500, which made a first sync superlinear); a recruiter's edit
saved during a run is merged like any other: the next write sees a file it does not know and
merges into it. A task row saved over by a stale copy is written back by the next run
(`missing_tasks`), as before.

Files are read whole or not at all (`csvtable`): a file that cannot be read as a table
stops the run before anything is planned or written (`UnreadableFile`, exit 2). A task row
missing from tasks.csv is never a deletion: its task stays open in the state and the sync
writes the row back (`missing_tasks`). tasks.csv is written as UTF-8 with a byte-order
mark (what Excel opens correctly), with the separator it was saved with (and, while rows are
only added to it, the line ends it was saved with).

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

from . import csvio, csvtable, taskappend
from .alltasks import ListsTasksFromFile
from .contacts import (
    known_owner,
    owners_from_table,
    parse_contact_record,
    parse_when,
    record_columns,
    require_rule_columns,
)
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
        self._known: taskappend.KnownFile | None = None  # tasks.csv as last read or written (appends need it)
        self._stamps_due = False  # a done row waits for its completion time: the next write rewrites the file
        self._unsorted = False  # rows were appended since tasks.csv was last sorted: `close` sorts it
        self.files_replaced = 0  # tasks.csv rewritten whole (atomically) by this object
        self.appends = 0  # batches of rows appended to tasks.csv by this object

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
        """The end of a run: rows appended during it are sorted into place (`sort_tasks_file`)."""
        try:
            self.sort_tasks_file()
        except OSError as exc:
            log.warning("%s: rows appended by this run could not be sorted into place: %s", self._label(self.tasks_path), exc)

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
        columns = record_columns(header)
        for item in table.records:
            source = f"{label}:{item.line}"
            if len(item.values) > len(header):
                bad.append(BadRecord(source, "row", f"{len(item.values)} values but {len(header)} columns (a stray comma?): row skipped"))
                self._unreadable = True
                continue
            contact, problems = parse_contact_record(columns, item.values, source)
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
        table = self._run_tasks if self._run_tasks is not None else self._read_tasks()
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
        table = self._read_tasks()
        found: dict[str, str] = {}
        for record in table.records:
            row = csvio.as_dict(table.header, record.values)
            if row.get("key") in wanted and row.get("key") not in found:
                found[row["key"]] = row.get("task_id", "")
        return found

    def create_tasks(self, tasks: Sequence[CreateTask]) -> list[WriteResult]:
        """New rows appended to tasks.csv and fsynced before this returns (see the module docstring):
        a task reported created is in the file. A file this process does not know as it is now is
        read, merged and rewritten instead (`_rewrite`), once; later batches append again."""
        self._check_batch(tasks)
        if self._names is None:
            self._names = self._read_names()
        path, label = self.tasks_path, self._label(self.tasks_path)

        def apply(rows: list[dict[str, str]]) -> tuple[list[WriteResult], bool]:
            index: dict[str, tuple[str, int]] = {}
            for row in rows:
                first, count = index.get(row.get("key", ""), (row.get("task_id", ""), 0))
                index[row.get("key", "")] = (first, count + 1)
            results, added = self._plan_creates(tasks, index)
            if added:
                rows.extend(added)
                rows.sort(key=sort_key)  # by recruiter and due time, for the person reading the file
                self._unsorted = False
            return results, bool(added)

        with csvio.file_lock(path):
            taskappend.recover(path)
            for _ in range(5):
                known = self._known_file()
                if known is None and not path.exists():
                    try:
                        known = self._new_tasks_file()
                    except csvio.ChangedWhileWriting:
                        continue  # someone else created it meanwhile: merge into theirs
                    except OSError as exc:
                        return [WriteResult(t.key, False, error=f"{label}: {exc.strerror or exc}", retryable=True) for t in tasks]
                if known is None or not known.appendable or self._stamps_due:
                    results = self._rewrite(tasks, apply)
                    if results is None:
                        continue  # the recruiter saved while we merged: merge again
                    return results
                results, added = self._plan_creates(tasks, known.tasks)
                if not added:
                    return results
                data, lengths = known.encode(added)
                try:
                    identity, at, gap = taskappend.append(path, data, known)
                except csvio.ChangedWhileWriting:
                    self._known = None
                    continue  # saved over (or replaced) while we appended: merge on what is there now
                except taskappend.AppendUncertain as exc:  # written into in place while we appended
                    self._known = None
                    if self.unique_keys:
                        continue  # merge again: the rows that are in the file answer for their keys
                    return [WriteResult(t.key, False, error=f"{label}: {exc.strerror}", unknown=True) for t in tasks]
                except OSError as exc:
                    return [WriteResult(t.key, False, error=f"{label}: {exc.strerror or exc}", retryable=True) for t in tasks]
                known.appended(added, lengths, at, gap, identity)
                self.appends += 1
                self._unsorted = True
                return results
        return [WriteResult(t.key, False, error=f"{label} keeps changing; try again", retryable=True) for t in tasks]

    def _plan_creates(self, tasks: Sequence[CreateTask], index: Mapping[str, tuple[str, int]]
                      ) -> tuple[list[WriteResult], list[dict[str, str]]]:
        """Each task's result and the rows to add, given the file's tasks (key -> (first row's
        task id, rows with the key)); a key already there is answered with its task (unique_keys)."""
        names, owners, reach = self._names or {}, self._load_owners(), self._reach
        owner_names: dict[str, str] = {}  # owner id -> the owner's name (or "") in this batch
        batch: dict[str, tuple[str, int]] = {}
        results: list[WriteResult] = []
        added: list[dict[str, str]] = []
        for task in tasks:
            if not task.key or not task.contact_id:
                results.append(WriteResult(task.key, False, error="a task needs a key and a contact id"))
                continue
            first, count = batch.get(task.key) or index.get(task.key) or ("", 0)
            if count and self.unique_keys:
                results.append(WriteResult(task.key, True, crm_id=first))
                continue
            phone, email = reach.get(task.contact_id, ("", ""))
            owner_name = owner_names.get(task.owner_id)
            if owner_name is None:
                owner = owners.get(task.owner_id)
                owner_name = owner_names[task.owner_id] = owner.full_name if owner else ""
            row = row_for(task, task_id_for(task.key, count), names.get(task.contact_id, ""), self._clock(),
                          phone=phone, email=email, owner_name=owner_name)
            added.append(row)
            batch[task.key] = (first if count else row["task_id"], count + 1)
            results.append(WriteResult(task.key, True, crm_id=row["task_id"]))
        added.sort(key=sort_key)
        return results, added

    def close_tasks(self, tasks: Sequence[CloseTask]) -> list[WriteResult]:
        """Closing edits rows: tasks.csv is read, merged and rewritten (closes are few per run)."""
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

    def sort_tasks_file(self) -> None:
        """Rows appended since tasks.csv was last sorted are put in their place (by recruiter and due
        time): one rewrite, at the end of a run (`close`). While the file is still as this process
        left it, its rows' bytes are known (`KnownFile.layout`) and are reordered without parsing
        the file again; otherwise it is read, merged and rewritten. A file that cannot be rewritten
        now keeps its rows where they are (nothing is lost: they are only out of order)."""
        if not self._unsorted:
            return
        if not self._stamps_due and self._sort_known_bytes():
            self._unsorted = False
            return

        def apply(rows: list[dict[str, str]]) -> tuple[list[WriteResult], bool]:
            rows.sort(key=sort_key)
            self._unsorted = False
            return [], True

        self._merge_write([], apply)
        self._unsorted = False

    # ------------------------------------------------------------------ internals

    def _check_batch(self, items: Sequence[Any]) -> None:
        if len(items) > self.capabilities.max_batch:
            raise ValueError(f"batch of {len(items)} is larger than max_batch {self.capabilities.max_batch}")

    def _sort_known_bytes(self) -> bool:
        """The end-of-run sort on the bytes this process knows the rows by; False when it cannot."""
        path = self.tasks_path
        with csvio.file_lock(path):
            taskappend.recover(path)
            known = self._known_file()
            if known is None or known.layout is None:
                return False
            data, st = csvtable.read_stable(path, self._label(path), missing_ok=True, trusted=known.identity)
            if data is None or st is None or csvtable.identity_of(st) != known.identity:
                return False
            ordered = known.sorted_bytes(data)
            if ordered is None:
                return False
            try:
                written = csvio.atomic_write_bytes(path, ordered[0], unchanged_since=(st.st_mtime_ns, st.st_size))
            except csvio.ChangedWhileWriting:
                return False
            known.identity, known.layout = csvtable.identity_of(written), ordered[1]
            self.files_replaced += 1
            return True

    def _new_tasks_file(self) -> taskappend.KnownFile:
        """tasks.csv with its header only (atomically), to append the first rows to."""
        dialect = csvtable.Dialect("utf-8", self.delimiter or ",", True, "\n")
        written = csvio.atomic_write_rows(self.tasks_path, TASK_COLUMNS, [], unchanged_since=None,
                                          delimiter=dialect.delimiter, bom=True)
        self.files_replaced += 1
        known = taskappend.KnownFile.of(csvtable.identity_of(written), TASK_COLUMNS, dialect, [])
        known.layout, known.header_end = [], written.st_size
        self._known = known
        return known

    def _known_file(self) -> taskappend.KnownFile | None:
        """What this process knows of tasks.csv, when the file is still exactly what it knew."""
        known = self._known
        if known is None:
            return None
        try:
            current = csvtable.identity_of(os.stat(self.tasks_path))
        except FileNotFoundError:
            return None
        return known if current == known.identity else None

    def _merge_write(self, items: Sequence[Any], apply: Any) -> list[WriteResult]:
        """Under the lock: `_rewrite`, again while the recruiter's saves keep interrupting it."""
        label = self._label(self.tasks_path)
        with csvio.file_lock(self.tasks_path):
            taskappend.recover(self.tasks_path)
            for _ in range(5):
                results = self._rewrite(items, apply)
                if results is not None:
                    return results
        return [WriteResult(getattr(i, "key", ""), False, error=f"{label} keeps changing; try again", retryable=True) for i in items]

    def _rewrite(self, items: Sequence[Any], apply: Any) -> list[WriteResult] | None:
        """Re-read tasks.csv (the lock held), apply our change to what is there now, write it
        atomically; None when the recruiter saved it meanwhile (merge again).

        A file that cannot be read whole (or has a malformed row) is never rewritten: the
        write fails (retryable) and the file stays as the recruiter left it."""
        path = self.tasks_path
        label = self._label(path)
        try:
            table = self._read_tasks()
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
            written = csvio.atomic_write_rows(path, header, rows, unchanged_since=table.signature,
                                              delimiter=table.dialect.delimiter, bom=True)
        except csvio.ChangedWhileWriting:
            return None
        except OSError as exc:
            return [WriteResult(getattr(i, "key", ""), False, error=f"{label}: {exc.strerror}", retryable=True) for i in items]
        self.files_replaced += 1
        self._stamps_due = False
        self._known = taskappend.KnownFile.of(csvtable.identity_of(written), header,
                                              csvtable.Dialect("utf-8", table.dialect.delimiter, True, "\n"),
                                              ((r.get("key", ""), r.get("task_id", "")) for r in rows))
        return results

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
        self._stamps_due = True
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

    def _read_tasks(self, *, line_starts: bool = False) -> csvtable.Table:
        """tasks.csv read whole, without an append a killed run left partial (taskappend.cut_partial)."""
        known = self._known
        return csvtable.read_table_whole(self.tasks_path, self._label(self.tasks_path), "key", encoding=self.encoding,
                                         delimiter=self.delimiter, missing_ok=True,
                                         trusted=known.identity if known else None,
                                         cut=taskappend.cut_partial(self.tasks_path), line_starts=line_starts)

    def _load_run_tasks(self) -> csvtable.Table:
        """tasks.csv for this run: read whole, and with no malformed row (a row that cannot be
        read might be any task: nothing is planned from the file, and it is never rewritten).
        What is read is what this run's first create appends to, if the file is still the same."""
        table = self._read_tasks(line_starts=True)
        if table.errors:
            first = table.errors[0]
            raise csvtable.UnreadableFile(self._label(self.tasks_path), first.line, "row", first.message,
                                          "fix or remove that row (the rest of the file is fine); nothing was planned")
        self._run_tasks = table
        self._known = None
        if table.identity is not None:
            k = table.header.index("key")
            t = table.header.index("task_id") if "task_id" in table.header else -1
            pairs = ((r.values[k] if k < len(r.values) else "", r.values[t] if 0 <= t < len(r.values) else "")
                     for r in table.records)
            self._known = taskappend.KnownFile.of(table.identity, table.header, table.dialect, pairs).with_layout(table)
        table.line_starts = None  # not needed beyond this
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
        tasks = self._run_tasks if self._run_tasks is not None else self._read_tasks()
        added, new_rows, bad = referred_people(tasks, self._label(self.tasks_path), self._skipped_keys, seen, people)
        if new_rows and not dry_run:
            bad += append_contacts(self.contacts_path, self._label(self.contacts_path), contacts, new_rows,
                                   reread=lambda: self._read(self.contacts_path, "id"))
        return added, bad
