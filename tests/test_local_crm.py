"""The local CSV CRM: bad rows reported and skipped, atomic writes, recruiter edits kept, referrals, the registry."""

from __future__ import annotations

import csv
import io
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest
from support.conformance import SEED_CONTACTS, make_task
from support.local import LocalRecruiter, make_workspace, read_csv, seed_local, write_csv

from connector.configfile import load_config
from connector.crm import registry
from connector.crm.base import ConfigError, ReadContext, UnreadableInput
from connector.crm.local import LocalCRM, csvio, taskappend
from connector.sync import run_sync
from sequences.config import Config
from sequences.records import CloseTask, TaskStatus

NOW = datetime(2026, 3, 2, 14, 0, tzinfo=timezone.utc)


def read(crm: LocalCRM, dry_run: bool = False):
    batches = list(crm.read_contacts(ReadContext(since=None, started_at=NOW, dry_run=dry_run)))
    return [c for b in batches for c in b.contacts], [r for b in batches for r in b.bad]


def raw_contacts(tmp_path: Path, text: str) -> LocalCRM:
    (tmp_path / "contacts.csv").write_text(text, encoding="utf-8")
    return LocalCRM({}, base_dir=tmp_path)


# ------------------------------------------------------------------------ reading contacts


def test_bad_rows_are_reported_with_file_line_and_field_and_skipped(tmp_path: Path) -> None:
    """Rows without an id, with a duplicate id, or with broken quoting are skipped and named by file:line and field."""
    crm = raw_contacts(tmp_path, (
        "id,first_name,email,timezone\n"
        "c1,Ada,ada@example.com,America/New_York\n"
        ",NoId,x@example.com,\n"
        "c1,Again,again@example.com,\n"
        'c3,"Broken,b@example.com,\n'
        "c4,Dee,dee@example.com,Europe/Paris\n"
    ))
    contacts, bad = read(crm)
    assert [c.id for c in contacts] == ["c1", "c4"]
    found = {(b.source, b.field) for b in bad}
    assert ("contacts.csv:3", "id") in found
    assert ("contacts.csv:4", "id") in found
    assert ("contacts.csv:5", "row") in found
    dup = next(b for b in bad if b.source == "contacts.csv:4")
    assert "duplicate id 'c1' (first on line 2)" in dup.message


def test_bad_optional_fields_are_emptied_with_a_reason(tmp_path: Path) -> None:
    """A bad time zone, email or phone is left empty (the contact is kept) and each is reported."""
    crm = raw_contacts(tmp_path, (
        "id,first_name,email,phone,timezone,country\n"
        "c1,Ada,not-an-email,call me maybe,Mars/Base,US\n"
    ))
    contacts, bad = read(crm)
    assert len(contacts) == 1
    c = contacts[0]
    assert (c.email, c.phone, c.timezone) == ("", "", "")
    assert {b.field for b in bad} == {"email", "phone", "timezone"}
    assert all(b.source == "contacts.csv:2" and b.record_id == "c1" for b in bad)


def test_unclear_stop_values_are_read_as_stop(tmp_path: Path) -> None:
    """An unknown opt-out channel means opted out of everything; an unclear do_not_contact means true."""
    crm = raw_contacts(tmp_path, "id,opted_out,do_not_contact\nc1,email;carrier pigeon,maybe\nc2,phone,no\n")
    contacts, bad = read(crm)
    by_id = {c.id: c for c in contacts}
    assert by_id["c1"].opted_out == frozenset({"email", "all"}) and by_id["c1"].do_not_contact
    assert by_id["c2"].opted_out == frozenset({"call"}) and not by_id["c2"].do_not_contact
    assert {b.field for b in bad} == {"opted_out", "do_not_contact"}


def test_extra_columns_become_properties(tmp_path: Path) -> None:
    """Columns beyond the documented ones are available as contact properties."""
    crm = raw_contacts(tmp_path, "id,first_name,role,submission_status\nc1,Ada,hiring_manager,submitted\n")
    contacts, _ = read(crm)
    assert contacts[0].prop("role") == "hiring_manager"
    assert contacts[0].prop("submission_status") == "submitted"


def test_a_file_without_an_id_column_is_unreadable_input(tmp_path: Path) -> None:
    """contacts.csv with no id column stops the read with a located error (file:line: field: message)."""
    crm = raw_contacts(tmp_path, "name,email\nAda,ada@example.com\n")
    with pytest.raises(UnreadableInput, match=r"contacts.csv:1: header: no 'id' column"):
        read(crm)


def test_contacts_come_in_pages(tmp_path: Path) -> None:
    """Contacts are yielded page by page, `page_size` at a time."""
    rows = [{"id": f"c{i:03}", "first_name": f"P{i}"} for i in range(7)]
    crm = LocalCRM({"page_size": 3}, base_dir=seed_local(tmp_path, rows))
    batches = list(crm.read_contacts(ReadContext(since=None)))
    assert [len(b.contacts) for b in batches] == [3, 3, 1]


def test_unknown_settings_and_missing_files_are_config_errors(tmp_path: Path) -> None:
    """A misspelt setting or a missing contacts file is reported naming the key."""
    seed_local(tmp_path)
    with pytest.raises(ConfigError, match=r"crm.contact: not a setting"):
        LocalCRM({"contact": "x.csv"}, base_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"crm.contacts: file not found"):
        LocalCRM({"contacts": "nope.csv"}, base_dir=tmp_path)


def test_owners_are_read_with_days_off(tmp_path: Path) -> None:
    """owners.csv beside the config gives owners with their time zone and days off."""
    seed_local(tmp_path, owners=[{"id": "o1", "first_name": "Dana", "timezone": "America/New_York", "days_off": "2026-03-13;2026-03-16"}])
    owners = LocalCRM({}, base_dir=tmp_path).list_owners()
    assert [o.id for o in owners] == ["o1"]
    assert len(owners[0].days_off) == 2


# ------------------------------------------------------------------------- writing tasks


def test_tasks_file_has_the_documented_columns(tmp_path: Path) -> None:
    """A created task appears in tasks.csv as an open row with key, ids, due times and the script body."""
    crm = LocalCRM({}, base_dir=seed_local(tmp_path))
    task = make_task("c1")
    [result] = crm.create_tasks([task])
    [row] = read_csv(tmp_path / "tasks.csv")
    assert row["key"] == task.key and row["task_id"] == result.crm_id
    assert row["status"] == "open" and row["contact_name"] == "Ada Lovelace"
    assert row["due_utc"] == "2026-03-03T14:00:00Z"
    assert row["body"] == task.body
    assert {"outcome", "completed_at", "note", "referred_first_name", "referred_email"} <= set(row)


def test_creating_an_existing_key_returns_the_same_task(tmp_path: Path) -> None:
    """The local CRM keeps task keys unique: a repeated create answers with the existing task, adds no row."""
    crm = LocalCRM({}, base_dir=seed_local(tmp_path))
    task = make_task("c1")
    first = crm.create_tasks([task])[0]
    again = crm.create_tasks([task])[0]
    assert again.ok and again.crm_id == first.crm_id
    assert len(read_csv(tmp_path / "tasks.csv")) == 1


def test_recruiter_edits_survive_later_writes(tmp_path: Path) -> None:
    """Status, outcome, notes and extra columns a recruiter set are kept when crm-cadence writes again."""
    crm = LocalCRM({}, base_dir=seed_local(tmp_path))
    a, b = make_task("c1", 0), make_task("c2", 1)
    crm.create_tasks([a])
    recruiter = LocalRecruiter(tmp_path)
    recruiter.complete_task(a.key, outcome="not now", note="call in spring")
    rows = read_csv(tmp_path / "tasks.csv")
    write_csv(tmp_path / "tasks.csv", list(rows[0]) + ["my_column"], [rows[0] | {"my_column": "keep me"}])
    crm.create_tasks([b])
    crm.close_tasks([CloseTask(a.key, "c1", "", "enrollment ended")])
    by_key = {r["key"]: r for r in read_csv(tmp_path / "tasks.csv")}
    assert by_key[a.key]["status"] == "done"  # a close never undoes the recruiter's "done"
    assert by_key[a.key]["outcome"] == "not now"
    assert by_key[a.key]["note"] == "call in spring"
    assert by_key[a.key]["my_column"] == "keep me"
    assert by_key[b.key]["status"] == "open"


def test_an_edit_saved_during_a_merge_is_merged_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """If the recruiter saves tasks.csv between crm-cadence's read and rename, the write is redone on the new content."""
    crm = LocalCRM({}, base_dir=seed_local(tmp_path))
    a, b = make_task("c1", 0), make_task("c2", 1)
    crm.create_tasks([a, b])
    original = csvio.atomic_write_rows
    calls = []

    def racing(*args, **kwargs):
        if not calls:
            LocalRecruiter(tmp_path).complete_task(a.key, outcome="replied")
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(csvio, "atomic_write_rows", racing)
    crm.close_tasks([CloseTask(b.key, "c2", "", "enrollment ended")])  # a close edits rows: read, merge, rewrite
    by_key = {r["key"]: r for r in read_csv(tmp_path / "tasks.csv")}
    assert len(calls) == 2
    assert by_key[a.key]["status"] == "done" and by_key[a.key]["outcome"] == "replied"
    assert by_key[b.key]["status"] == "cancelled"


@pytest.mark.parametrize("save", ["replaces the file", "writes in place"])
def test_an_edit_saved_during_an_append_is_merged_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, save: str) -> None:
    """The recruiter saves tasks.csv while crm-cadence appends to it (as Excel does: a new file renamed over it; or
    in place): the rows end up in the saved file exactly once, and the edit is kept."""
    crm = LocalCRM({}, base_dir=seed_local(tmp_path))
    a, b = make_task("c1", 0), make_task("c2", 1)
    crm.create_tasks([a])
    original = taskappend._write_marker
    saves = []

    def save_meanwhile(*args, **kwargs):
        original(*args, **kwargs)
        if not saves:  # after the append checked the file, before it wrote
            if save == "replaces the file":
                copy = tmp_path / "copy"
                copy.mkdir()
                shutil.copy(tmp_path / "tasks.csv", copy / "tasks.csv")
                LocalRecruiter(copy).complete_task(a.key, outcome="replied")
                os.replace(copy / "tasks.csv", tmp_path / "tasks.csv")
            else:
                LocalRecruiter(tmp_path).complete_task(a.key, outcome="replied")
            saves.append(1)

    monkeypatch.setattr(taskappend, "_write_marker", save_meanwhile)
    [result] = crm.create_tasks([b])
    rows = read_csv(tmp_path / "tasks.csv")
    by_key = {r["key"]: r for r in rows}
    assert saves and result.ok
    assert by_key[a.key]["status"] == "done" and by_key[a.key]["outcome"] == "replied"
    assert by_key[b.key]["task_id"] == result.crm_id and len(rows) == 2


def test_a_failed_append_leaves_the_old_file_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A disk that fills up in the middle of an append: the part written is cut back, the batch is retryable,
    tasks.csv is byte for byte what it was, and no marker is left behind."""
    crm = LocalCRM({}, base_dir=seed_local(tmp_path))
    crm.create_tasks([make_task("c1", 0)])
    before = (tmp_path / "tasks.csv").read_bytes()
    real_write = os.write

    def half_then_full(fd, data):
        if b"conf-" not in bytes(data):  # the marker: written whole
            return real_write(fd, data)
        real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_full)
    results = crm.create_tasks([make_task("c2", 1), make_task("c3", 2)])
    monkeypatch.setattr(os, "write", real_write)
    assert all(not r.ok and r.retryable for r in results)
    assert (tmp_path / "tasks.csv").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".tasks")) == [".tasks.csv.lock"]


def test_a_failed_rewrite_leaves_the_old_file_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash before the rename leaves tasks.csv exactly as it was and no temp file behind."""
    crm = LocalCRM({}, base_dir=seed_local(tmp_path))
    task = make_task("c1", 0)
    crm.create_tasks([task])
    before = (tmp_path / "tasks.csv").read_bytes()

    def boom(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    results = crm.close_tasks([CloseTask(task.key, "c1", "", "enrollment ended")])
    assert not results[0].ok and results[0].retryable
    assert (tmp_path / "tasks.csv").read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def _killed_mid_append(tmp_path: Path, tasks: list) -> None:
    """A child process appends `tasks` and is killed after writing part of the rows (os._exit: no clean-up)."""
    pid = os.fork()
    if pid == 0:  # the child: the CRM as a run would use it, killed in the middle of its write
        try:
            crm = LocalCRM({}, base_dir=tmp_path)
            read(crm)

            real_write = os.write

            def write_part(fd, data):
                if fd > 2 and len(data) > 200 and b"conf-" in bytes(data[:2000]):
                    real_write(fd, bytes(data[: len(data) // 2]))
                    os._exit(9)
                return real_write(fd, data)

            os.write = write_part
            crm.create_tasks(tasks)
        finally:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 9, "the child was not killed in the middle of its append"


def test_an_append_cut_short_by_a_kill_is_never_read_and_is_cut_off(tmp_path: Path) -> None:
    """A run killed in the middle of appending leaves half a row at the end of tasks.csv: the next read sees the
    file without it (no 'ends in the middle of a record', nothing planned from half a row), a dry run leaves it as
    it is, and the next write cuts it off before adding its own rows."""
    crm = LocalCRM({}, base_dir=seed_local(tmp_path))
    a = make_task("c1", 0)
    crm.create_tasks([a])
    whole = (tmp_path / "tasks.csv").read_bytes()
    b, c = make_task("c2", 1), make_task("c3", 2)
    _killed_mid_append(tmp_path, [b, c])
    torn = (tmp_path / "tasks.csv").read_bytes()
    assert len(torn) > len(whole) and torn.startswith(whole)  # half a batch is in the file
    assert (tmp_path / ".tasks.csv.append").exists()
    fresh = LocalCRM({}, base_dir=tmp_path)
    read(fresh, dry_run=True)
    assert [s.key for s in fresh.read_task_changes(None, {})] == [a.key]
    assert fresh.find_tasks([a.key, b.key, c.key]) == {a.key: crm.find_tasks([a.key])[a.key]}
    assert (tmp_path / "tasks.csv").read_bytes() == torn  # reading changed nothing
    results = fresh.create_tasks([b, c])
    assert all(r.ok for r in results)
    rows = read_csv(tmp_path / "tasks.csv")
    assert sorted(r["key"] for r in rows) == sorted([a.key, b.key, c.key])
    assert not (tmp_path / ".tasks.csv.append").exists()


def test_a_broken_tasks_file_is_not_overwritten(tmp_path: Path) -> None:
    """When tasks.csv has a row with broken quoting, writes are refused (retryable) rather than dropping that row."""
    crm = LocalCRM({}, base_dir=seed_local(tmp_path))
    crm.create_tasks([make_task("c1", 0)])
    with open(tmp_path / "tasks.csv", "a", encoding="utf-8") as f:
        f.write('x,"unclosed,\n')
    before = (tmp_path / "tasks.csv").read_bytes()
    [result] = crm.create_tasks([make_task("c2", 1)])
    assert not result.ok and result.retryable and "tasks.csv:" in result.error
    assert (tmp_path / "tasks.csv").read_bytes() == before


def test_done_without_completed_at_uses_the_read_time_and_is_then_filled_in(tmp_path: Path) -> None:
    """A task marked done with no completed_at counts as done at min(file mtime, run start); the next write records it."""
    crm = LocalCRM({}, base_dir=seed_local(tmp_path))
    a = make_task("c1", 0)
    crm.create_tasks([a])
    LocalRecruiter(tmp_path).complete_task(a.key)
    read(crm)  # the run's start (NOW) is earlier than the file's mtime here
    [state] = [s for s in crm.read_task_changes(None, {}) if s.key == a.key]
    assert state.status is TaskStatus.COMPLETED and state.completed_at == NOW
    crm.create_tasks([make_task("c2", 1)])
    row = next(r for r in read_csv(tmp_path / "tasks.csv") if r["key"] == a.key)
    assert row["completed_at"] == "2026-03-02T14:00:00Z"


def test_recruiter_spellings_of_status_and_outcome_are_understood(tmp_path: Path) -> None:
    """'Done'/'x' and 'Not now'/'opt-out' are read as completed with the matching outcome."""
    crm = LocalCRM({}, base_dir=seed_local(tmp_path))
    a, b = make_task("c1", 0), make_task("c2", 1)
    crm.create_tasks([a, b])
    LocalRecruiter(tmp_path).edit_task(a.key, status="Done", outcome="Not now")
    LocalRecruiter(tmp_path).edit_task(b.key, status="x", outcome="opt-out")
    states = {s.key: s for s in crm.read_task_changes(None, {})}
    assert states[a.key].outcome.value == "not_now" and states[a.key].status is TaskStatus.COMPLETED
    assert states[b.key].outcome.value == "opted_out"


def test_a_missing_row_is_not_a_deletion(tmp_path: Path) -> None:
    """A task row gone from tasks.csv reads as nothing (never DELETED) and is listed as missing, to be restored."""
    crm = LocalCRM({}, base_dir=seed_local(tmp_path))
    task = make_task("c1")
    [res] = crm.create_tasks([task])
    write_csv(tmp_path / "tasks.csv", ["key"], [])
    assert list(crm.read_task_changes(None, {task.key: res.crm_id})) == []
    assert crm.missing_tasks() == [task.key]


def test_a_run_appends_each_batch_and_rewrites_tasks_csv_once_at_its_end(tmp_path: Path) -> None:
    """A first run that creates 7 tasks in batches of 2: tasks.csv is created with its header, the four batches are
    appended to that same file (it is never re-read and replaced per batch, which made a first sync superlinear),
    each batch is in the file when the sync records it, and the end of the run sorts the file once."""
    config = make_workspace(tmp_path / "ws")
    loaded = load_config(config)
    path = config.parent / "tasks.csv"
    crm = LocalCRM(loaded.config.crm.model_dump(exclude={"type"}), base_dir=loaded.directory)
    after_batch: list[tuple[int, int]] = []

    def hook(point: str) -> None:
        if point == "after_crm_write":  # the batch's results are about to be recorded as created
            after_batch.append((path.stat().st_ino, len(read_csv(path))))

    report = run_sync(loaded, now=NOW, crm=crm, hook=hook)
    assert report.status == "ok" and report.counts["created"] == 7
    assert [n for _, n in after_batch] == [2, 4, 6, 7]
    assert len({inode for inode, _ in after_batch}) == 1, "tasks.csv was replaced between two batches of one run"
    assert (crm.files_replaced, crm.appends) == (1, 4)  # the header, then every batch appended
    crm.close()  # the end of the run (run_sync closes a CRM it built itself)
    assert crm.files_replaced == 2
    rows = read_csv(path)
    assert len(rows) == 7 and [(r["owner"], r["due_utc"]) for r in rows] == sorted((r["owner"], r["due_utc"]) for r in rows)
    crm.close()
    assert crm.files_replaced == 2  # nothing appended since: nothing to sort


@pytest.mark.parametrize("line_end", ["\n", "\r\n", ""], ids=["LF", "CRLF (Excel)", "no line end after the last row"])
def test_the_end_of_run_sort_moves_whole_rows_into_a_full_rewrites_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                         line_end: str) -> None:
    """The end of a run sorts the rows it appended into place by moving the bytes of whole rows (the file is not
    parsed again): a note over two lines, the recruiter's own column and their line ends come back as they were,
    in the order a full read-merge-rewrite gives."""
    zoe = [dict(c, first_name="Zoë") if c["id"] == "c2" else c for c in SEED_CONTACTS]  # a name that is not ASCII
    first = LocalCRM({}, base_dir=seed_local(tmp_path, zoe))
    first.create_tasks([make_task("c1", 3), make_task("c3", 0, owner_id="o2")])
    first.close()
    rows = read_csv(tmp_path / "tasks.csv")
    rows[0]["note"] = "Called twice.\nTry the office line."
    header = [*rows[0], "my_column"]
    rows[-1]["my_column"] = "keep me"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator=line_end or "\n", restval="")
    writer.writeheader()
    writer.writerows(rows)
    text = out.getvalue() if line_end else out.getvalue()[:-1]
    (tmp_path / "tasks.csv").write_bytes(b"\xef\xbb\xbf" + text.encode())  # as Excel saves "CSV UTF-8"
    run = LocalCRM({}, base_dir=tmp_path)
    read(run)
    run.create_tasks([make_task("c2", 1), make_task("c1", 0)])
    run.create_tasks([make_task("c3", 2, owner_id="o2")])
    before_sort = (tmp_path / "tasks.csv").read_bytes()
    rewrites: list[int] = []
    original = csvio.atomic_write_rows
    monkeypatch.setattr(csvio, "atomic_write_rows", lambda *a, **k: rewrites.append(1) or original(*a, **k))
    run.close()
    sorted_by_bytes = read_csv(tmp_path / "tasks.csv")
    assert not rewrites, "the end-of-run sort parsed and rewrote the file instead of moving its rows"
    assert sorted(map(str, sorted_by_bytes)) == sorted(map(str, read_csv_bytes(before_sort)))  # every row, whole
    # the order a full read-merge-rewrite gives (a CRM that does not know the file sorts it that way)
    (tmp_path / "tasks.csv").write_bytes(before_sort)
    full = LocalCRM({}, base_dir=tmp_path)
    full._unsorted = True
    full.close()
    assert rewrites and sorted_by_bytes == read_csv(tmp_path / "tasks.csv")
    assert [r["contact_name"] for r in sorted_by_bytes] == ["Ada Lovelace", "Zoë Hopper", "Ada Lovelace",
                                                            "Alan Turing", "Alan Turing"]
    assert sorted_by_bytes[2]["note"] == "Called twice.\nTry the office line."
    assert sorted_by_bytes[3]["my_column"] == "keep me"


def read_csv_bytes(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


# ------------------------------------------------------------------------------ referrals


def test_a_referral_on_a_done_task_becomes_a_contact_once(tmp_path: Path) -> None:
    """A done task with outcome referral and the referred person's name adds that contact to contacts.csv, once."""
    crm = LocalCRM({}, base_dir=seed_local(tmp_path))
    task = make_task("c1")
    crm.create_tasks([task])
    LocalRecruiter(tmp_path).complete_task(task.key, outcome="referral", referred_first_name="Katherine",
                                           referred_last_name="Johnson", referred_email="kj@example.com")
    contacts, _bad = read(crm, dry_run=True)
    assert "Katherine" in {c.first_name for c in contacts}
    assert len(read_csv(tmp_path / "contacts.csv")) == len(SEED_CONTACTS)  # a dry run writes nothing
    contacts, _ = read(crm)
    referred = next(c for c in contacts if c.first_name == "Katherine")
    assert referred.referred_by == "c1" and referred.owner_id == "o1" and referred.id.startswith("ref-")
    rows = read_csv(tmp_path / "contacts.csv")
    assert rows[-1]["id"] == referred.id and rows[-1]["referred_by"] == "c1"
    contacts, _ = read(crm)
    assert [c.id for c in contacts].count(referred.id) == 1
    assert len(read_csv(tmp_path / "contacts.csv")) == len(SEED_CONTACTS) + 1


def test_a_referral_without_a_name_is_reported(tmp_path: Path) -> None:
    """Outcome referral with no referred person is a bad record naming tasks.csv and its line."""
    crm = LocalCRM({}, base_dir=seed_local(tmp_path))
    task = make_task("c1")
    crm.create_tasks([task])
    LocalRecruiter(tmp_path).complete_task(task.key, outcome="referral")
    _, bad = read(crm)
    assert [(b.source, b.field) for b in bad] == [("tasks.csv:2", "referred_first_name")]


def test_referral_rows_get_missing_columns(tmp_path: Path) -> None:
    """If contacts.csv has no referred_by column, it is added (existing rows kept) when a referral is written."""
    write_csv(tmp_path / "contacts.csv", ["id", "first_name", "owner_id"], [{"id": "c1", "first_name": "Ada", "owner_id": "o1"}])
    crm = LocalCRM({}, base_dir=tmp_path)
    task = make_task("c1")
    crm.create_tasks([task])
    LocalRecruiter(tmp_path).complete_task(task.key, outcome="referral", referred_first_name="Kay")
    read(crm)
    rows = read_csv(tmp_path / "contacts.csv")
    assert rows[0]["id"] == "c1" and rows[1]["referred_by"] == "c1" and rows[1]["first_name"] == "Kay"


# ------------------------------------------------------------------------------ registry


def _loaded(tmp_path: Path, crm: dict) -> SimpleNamespace:
    config = Config.model_validate({"crm": crm, "cadences": [{"id": "a", "name": "A", "steps": [{"id": "s", "channel": "call", "subject": "x"}]}]})
    return SimpleNamespace(config=config, directory=tmp_path, path=tmp_path / "c.yaml")


def test_registry_builds_the_local_crm_from_entry_points(tmp_path: Path) -> None:
    """`crm: {type: local}` builds a LocalCRM from the installed entry point with paths relative to the config."""
    seed_local(tmp_path)
    crm = registry.load_crm(_loaded(tmp_path, {"type": "local", "contacts": "contacts.csv"}))
    assert isinstance(crm, LocalCRM) and crm.contacts_path == tmp_path / "contacts.csv"
    assert {"local", "hubspot"} <= set(registry.installed())


def test_unknown_crm_lists_the_installed_ones(tmp_path: Path) -> None:
    """An unknown CRM name is an error that suggests a close name and lists what is installed."""
    with pytest.raises(registry.UnknownCRMError, match=r"unknown CRM 'hubspto'; did you mean 'hubspot'\? \(installed: .*local"):
        registry.load_crm(_loaded(tmp_path, {"type": "hubspto"}))


def test_register_adds_a_crm_for_the_block_only(tmp_path: Path) -> None:
    """register() makes a factory available inside the with-block; only_registered() hides entry points."""
    made = []

    def factory(settings, *, base_dir, env):
        made.append(settings)
        return "fake"

    with registry.register("fake", factory), registry.only_registered():
        assert registry.installed() == ["fake"]
        assert registry.load_crm(_loaded(tmp_path, {"type": "fake", "x": 1})) == "fake"
    assert made == [{"x": 1}]
    assert "fake" not in registry.installed()


def test_a_plugin_that_fails_to_import_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A CRM plugin whose import fails gives an error naming the plugin and the import error."""
    from importlib.metadata import EntryPoint

    broken = EntryPoint(name="broken", value="no_such_module_xyz:CRM", group=registry.GROUP)
    monkeypatch.setattr(registry, "_entry_points", lambda: {"broken": broken})
    with pytest.raises(registry.PluginLoadError, match=r"plugin 'broken' \(no_such_module_xyz:CRM\) failed to load: ModuleNotFoundError"):
        registry.load_crm(_loaded(tmp_path, {"type": "broken"}))
