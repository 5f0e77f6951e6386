"""Nothing lost at the human edge: spreadsheet accidents on the local CRM, through the real CLI.

Each accident starts from the shipped examples after one sync and a recruiter edit (a task
marked done with a note). It ends with a located error (exit 2, file untouched) or a
graceful read (exit 0); either way no enrollment ended, no task closed or duplicated, and
after the good file is back the next sync runs and every recruiter edit is still there.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from support.examples import copy_examples

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 3, 2, 14, 0, tzinfo=timezone.utc)  # Monday
EDIT_NOTE = "Left a voicemail, will try again"


def cadence(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "connector.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def first_error(result: subprocess.CompletedProcess) -> str:
    """The first stderr line that is not a log line."""
    lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("ts=")]
    return lines[0] if lines else ""


def rows_of(text: str, delimiter: str = ",") -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""), delimiter=delimiter))


def as_csv(rows: list[dict[str, str]], header: list[str], *, delimiter: str = ",", line_end: str = "\n") -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, delimiter=delimiter, lineterminator=line_end)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


@dataclass
class Workspace:
    dir: Path

    @property
    def config(self) -> str:
        return str(self.dir / "recruiting.yaml")

    @property
    def tasks(self) -> Path:
        return self.dir / "tasks.csv"

    @property
    def contacts(self) -> Path:
        return self.dir / "contacts.csv"

    def sync(self, when: datetime, *extra: str) -> subprocess.CompletedProcess:
        return cadence("sync", self.config, "--now", when.isoformat(), *extra)

    def ended(self) -> dict[tuple[str, str, str], int]:
        status = cadence("status", self.config, "--json")
        assert status.returncode == 0, status.stderr
        return {(e["cadence"], e["status"], e["reason"]): e["count"] for e in json.loads(status.stdout)["ended"]}

    def task_rows(self) -> list[dict[str, str]]:
        return rows_of(self.tasks.read_bytes().decode("utf-8-sig"))


def recruiter_edit(ws: Workspace) -> str:
    """Mark c001's open call done with a note (no outcome: the cadence moves on). Returns its key."""
    text = ws.tasks.read_bytes().decode("utf-8-sig")
    rows = rows_of(text)
    header = list(rows[0])
    [row] = [r for r in rows if r["contact_id"] == "c001" and r["status"] == "open"]
    row.update(status="done", completed_at=(T0 + timedelta(hours=1)).isoformat(), note=EDIT_NOTE)
    ws.tasks.write_text(as_csv(rows, header), encoding="utf-8", newline="")
    return row["key"]


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    """The examples after a first sync at T0 and a recruiter's edit."""
    workspace = Workspace(copy_examples(tmp_path / "examples"))
    first = workspace.sync(T0)
    assert first.returncode == 0, first.stderr
    recruiter_edit(workspace)
    return workspace


def assert_nothing_lost(ws: Workspace, ended_before: dict, edit_key: str | None = None) -> None:
    """No enrollment ended beyond `ended_before`, no task closed by crm-cadence, no key twice."""
    assert ws.ended() == ended_before
    rows = ws.task_rows()
    keys = [r["key"] for r in rows]
    assert len(keys) == len(set(keys)), "a task was duplicated"
    assert not [r for r in rows if r["closed_reason"]], "a task was closed"


def restore_and_check_edit(ws: Workspace, good: bytes, when: datetime, ended_before: dict) -> None:
    """Put the good file back: the next sync runs and the recruiter's edit is still there."""
    ws.tasks.write_bytes(good)
    again = ws.sync(when)
    assert again.returncode == 0, again.stderr
    assert ws.ended() == ended_before
    edited = [r for r in ws.task_rows() if r["note"] == EDIT_NOTE]
    assert len(edited) == 1 and edited[0]["status"] == "done"
    keys = [r["key"] for r in ws.task_rows()]
    assert len(keys) == len(set(keys))


# ------------------------------------------------------------------- tasks.csv cannot be read

def _semicolons_and_a_wrong_setting(text: str) -> bytes:
    return as_csv(rows_of(text), list(rows_of(text)[0]), delimiter=";").encode()


def _stray_quote(text: str) -> bytes:
    return text.replace(",done,,", ',done,,She said "call back', 1).replace(",open,,,", ',open,,,She said "call back,', 1).encode()


def _undecodable(text: str) -> bytes:
    return text.encode("utf-8").replace(b"Maya", b"Ma\x81ya", 1)


def _cut_mid_record(text: str) -> bytes:
    data = text.encode("utf-8")
    return data[: len(data) - 40]


UNREADABLE_TASKS: dict[str, tuple[Callable[[str], bytes], str]] = {
    "empty (0 bytes)": (lambda text: b"", r"tasks.csv:1: file: the file is empty"),
    "blank lines only": (lambda text: b"\r\n\r\n", r"tasks.csv:1: file: the file is empty"),
    "stray quote in a note": (_stray_quote, r"tasks.csv:\d+: row: broken quoting"),
    "undecodable bytes": (_undecodable, r"tasks.csv:\d+: encoding: byte 0x81 is not UTF-8"),
    "no key column": (lambda text: text.replace("key,", "Key ID,", 1).encode(), r"tasks.csv:1: header: no 'key' column"),
    "save cut short": (_cut_mid_record, r"tasks.csv:\d+: "),
}


@pytest.mark.parametrize("accident", list(UNREADABLE_TASKS), ids=list(UNREADABLE_TASKS))
def test_an_unreadable_tasks_file_stops_the_run_and_is_left_untouched(ws: Workspace, accident: str) -> None:
    """Exit 2 with file:line: field: message, nothing planned or ended, the file byte for byte as it was; then restore."""
    good = ws.tasks.read_bytes()
    ended = ws.ended()
    damage, message = UNREADABLE_TASKS[accident]
    broken = damage(good.decode("utf-8-sig"))
    ws.tasks.write_bytes(broken)
    result = ws.sync(T0 + timedelta(days=1, hours=1))
    assert result.returncode == 2, result.stdout + result.stderr
    assert __import__("re").match(r"error: " + message, first_error(result)), first_error(result)
    assert "Traceback" not in result.stderr
    assert ws.tasks.read_bytes() == broken, "the unreadable file was rewritten"
    assert ws.ended() == ended
    restore_and_check_edit(ws, good, T0 + timedelta(days=1, hours=2), ended)


def test_a_configured_delimiter_that_does_not_fit_is_a_located_error(ws: Workspace) -> None:
    """`delimiter: ","` set in the config and a file saved with ';': exit 2 naming the separator, file untouched."""
    config = Path(ws.config)
    config.write_text(config.read_text(encoding="utf-8").replace("  tasks: tasks.csv", "  tasks: tasks.csv\n  delimiter: \",\"", 1),
                      encoding="utf-8")
    good = ws.tasks.read_bytes()
    broken = _semicolons_and_a_wrong_setting(good.decode("utf-8-sig"))
    ws.tasks.write_bytes(broken)
    result = ws.sync(T0 + timedelta(days=1, hours=1))
    assert result.returncode == 2
    assert first_error(result).startswith("error: tasks.csv:1: header: no 'key' column") and "';' separators?" in first_error(result)
    assert ws.tasks.read_bytes() == broken


# ------------------------------------------------------------------- what Excel writes is read

def _excel_bom_crlf(text: str) -> bytes:
    rows = rows_of(text)
    return b"\xef\xbb\xbf" + as_csv(rows, list(rows[0]), line_end="\r\n").encode()


def _excel_semicolon(text: str) -> bytes:
    rows = rows_of(text)
    return as_csv(rows, list(rows[0]), delimiter=";", line_end="\r\n").encode()


def _excel_cp1252(text: str) -> bytes:
    rows = rows_of(text)
    return as_csv(rows, list(rows[0]), delimiter=";", line_end="\r\n").encode("cp1252", errors="replace")


EXCEL_SAVES = {"BOM + CRLF + comma": _excel_bom_crlf, "semicolon": _excel_semicolon, "cp1252 with é and semicolons": _excel_cp1252}


@pytest.mark.parametrize("save", list(EXCEL_SAVES), ids=list(EXCEL_SAVES))
def test_tasks_saved_by_excel_are_read_and_the_edit_applies(ws: Workspace, save: str) -> None:
    """An Excel re-save of tasks.csv is read whole: the done task moves its cadence on; nothing else ends."""
    ended = ws.ended()
    ws.tasks.write_bytes(EXCEL_SAVES[save](ws.tasks.read_bytes().decode("utf-8-sig")))
    result = ws.sync(T0 + timedelta(days=1, hours=1), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert any(c["contact_id"] == "c001" for c in report["created"]), "the recruiter's done task did not move c001 on"
    if save.startswith("cp1252"):
        assert {"source": "tasks.csv", "field": "encoding"}.items() <= next(
            b for b in report["bad_records"] if b["field"] == "encoding").items()
    assert ws.ended() == ended
    data = ws.tasks.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf"), "tasks.csv is written as UTF-8 with BOM"
    rows = rows_of(data.decode("utf-8-sig"), delimiter=";" if save != "BOM + CRLF + comma" else ",")
    assert [r for r in rows if r["note"] == EDIT_NOTE and r["status"] == "done"]
    assert any("José" in r["contact_name"] for r in rows), "accents survive"
    assert not [r for r in rows if r["closed_reason"]]


@pytest.mark.parametrize("save", ["BOM + CRLF + comma", "semicolon", "cp1252 with é and semicolons"])
def test_contacts_saved_by_excel_are_read(ws: Workspace, save: str) -> None:
    """contacts.csv re-saved by Excel keeps every contact: names with accents, no one deleted, nothing ended."""
    ended = ws.ended()
    rows = rows_of(ws.contacts.read_text(encoding="utf-8"))
    header = list(rows[0])
    if save == "BOM + CRLF + comma":
        data = b"\xef\xbb\xbf" + as_csv(rows, header, line_end="\r\n").encode()
    elif save == "semicolon":
        data = as_csv(rows, header, delimiter=";", line_end="\r\n").encode()
    else:
        data = as_csv(rows, header, line_end="\r\n").encode("cp1252", errors="replace")
    ws.contacts.write_bytes(data)
    result = ws.sync(T0 + timedelta(days=2), "--json")  # past the daily sweep: a misread would look like deletions
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["counts"].get("contacts_gone", 0) == 0
    if save.startswith("cp1252"):
        assert any(b["field"] == "encoding" and "cp1252" in b["message"] for b in report["bad_records"])
    assert ws.ended() == ended
    assert not [r for r in ws.task_rows() if r["closed_reason"]]


# ------------------------------------------------------------------- contacts.csv accidents

def test_an_empty_contacts_file_stops_the_run(ws: Workspace) -> None:
    """contacts.csv truncated to 0 bytes: exit 2 at the sweep, no task closed, no one exited; restored, all is well."""
    good, ended = ws.contacts.read_bytes(), ws.ended()
    ws.contacts.write_bytes(b"")
    result = ws.sync(T0 + timedelta(days=2))
    assert result.returncode == 2 and first_error(result).startswith("error: contacts.csv:1: file: the file is empty")
    assert ws.contacts.read_bytes() == b""
    assert_nothing_lost(ws, ended)
    ws.contacts.write_bytes(good)
    assert ws.sync(T0 + timedelta(days=2, hours=1)).returncode == 0
    assert_nothing_lost(ws, ended)


def test_a_damaged_column_name_stops_the_run_instead_of_losing_the_column(ws: Workspace) -> None:
    """Two stray quotes in the header (`f"irst_name`, `d"o_not_contact`: the line still parses) would make
    those columns vanish, and everyone marked do not contact reachable: exit 2 naming the file, line 1 and
    the column; restored, all is well (found by the contacts.csv fuzz test)."""
    good, ended = ws.contacts.read_bytes(), ws.ended()
    text = good.decode("utf-8-sig")
    assert "do_not_contact" in text.splitlines()[0]
    text = text.replace("first_name", 'f"irst_name', 1).replace("do_not_contact", 'd"o_not_contact', 1)
    ws.contacts.write_bytes(text.encode("utf-8"))
    result = ws.sync(T0 + timedelta(days=2))
    assert result.returncode == 2
    assert first_error(result).startswith("error: contacts.csv:1: header: the column name 'f\"irst_name' is damaged")
    assert_nothing_lost(ws, ended)
    ws.contacts.write_bytes(good)
    assert ws.sync(T0 + timedelta(days=2, hours=1)).returncode == 0
    assert_nothing_lost(ws, ended)


def test_a_contacts_file_with_only_its_header_is_held_as_a_mass_change(ws: Workspace) -> None:
    """Every row gone from contacts.csv: the safety valve holds the run (exit 2) before anything is written;
    --allow-mass-exit then proceeds and the contacts exit."""
    good, ended = ws.contacts.read_bytes(), ws.ended()
    tasks_before = ws.tasks.read_bytes()
    ws.contacts.write_bytes(good.splitlines(keepends=True)[0])
    held = ws.sync(T0 + timedelta(days=2))
    assert held.returncode == 2
    assert first_error(held).startswith("error: mass change held: 20 enrolled contacts are gone from the CRM")
    assert "--allow-mass-exit" in first_error(held)
    assert ws.tasks.read_bytes() == tasks_before and ws.ended() == ended
    confirmed = ws.sync(T0 + timedelta(days=2), "--allow-mass-exit", "--json")
    assert confirmed.returncode == 0, confirmed.stderr
    assert json.loads(confirmed.stdout)["counts"]["contacts_gone"] == 20
    assert sum(n for (c, s, why), n in ws.ended().items() if "deleted in the CRM" in why) == 20


def test_a_few_deleted_contacts_pass_the_valve(ws: Workspace) -> None:
    """Two contacts removed from contacts.csv is an ordinary deletion: they exit, the run is not held."""
    rows = rows_of(ws.contacts.read_text(encoding="utf-8"))
    kept = [r for r in rows if r["id"] not in ("c003", "c004")]
    ws.contacts.write_text(as_csv(kept, list(rows[0])), encoding="utf-8")
    result = ws.sync(T0 + timedelta(days=2), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["counts"]["contacts_gone"] == 2


def test_semicolon_contacts_with_a_configured_comma_name_the_separator(ws: Workspace) -> None:
    """A semicolon contacts.csv with `delimiter: ","` in the config: exit 2, "saved with ';' separators?"."""
    config = Path(ws.config)
    config.write_text(config.read_text(encoding="utf-8").replace("  tasks: tasks.csv", "  tasks: tasks.csv\n  delimiter: \",\"", 1),
                      encoding="utf-8")
    rows = rows_of(ws.contacts.read_text(encoding="utf-8"))
    ws.contacts.write_text(as_csv(rows, list(rows[0]), delimiter=";"), encoding="utf-8")
    result = ws.sync(T0 + timedelta(days=1))
    assert result.returncode == 2
    assert first_error(result).startswith("error: contacts.csv:1: header: no 'id' column") and "';' separators?" in first_error(result)


# ------------------------------------------------------------------- rows missing from tasks.csv

def test_a_stale_copy_saved_over_tasks_csv_loses_nothing(ws: Workspace) -> None:
    """The recruiter saves a copy opened before the last sync: the rows it lacks are written back, still open;
    no cadence ends and the edits in the copy are kept."""
    stale = ws.tasks.read_bytes()  # opened now, with the edit...
    ended = ws.ended()
    ws.tasks.write_bytes(stale)
    second = ws.sync(T0 + timedelta(days=1, hours=1), "--json")  # ...while a sync appends new tasks
    assert second.returncode == 0, second.stderr
    appended = {t["key"] for t in json.loads(second.stdout)["created"]}
    assert appended
    ws.tasks.write_bytes(stale)  # the stale copy is saved over them
    third = ws.sync(T0 + timedelta(days=1, hours=2), "--json")
    assert third.returncode == 0, third.stderr
    report = json.loads(third.stdout)
    assert report["counts"]["tasks_restored"] == len(appended)
    rows = {r["key"]: r for r in ws.task_rows()}
    assert appended <= set(rows) and all(rows[k]["status"] == "open" for k in appended)
    assert ws.ended() == ended
    assert_nothing_lost(ws, ended)
    assert [r for r in rows.values() if r["note"] == EDIT_NOTE]


def test_a_deleted_row_comes_back_and_cancel_is_the_status_column(ws: Workspace) -> None:
    """Deleting a row is not cancelling: it comes back. status=cancelled moves the cadence on, and ends nothing."""
    ended = ws.ended()
    rows = ws.task_rows()
    header = list(rows[0])
    [victim] = [r for r in rows if r["contact_id"] == "c002" and r["status"] == "open"]
    ws.tasks.write_text(as_csv([r for r in rows if r is not victim], header), encoding="utf-8")
    result = ws.sync(T0 + timedelta(hours=3), "--json")
    assert result.returncode == 0 and json.loads(result.stdout)["counts"]["tasks_restored"] == 1
    assert next(r for r in ws.task_rows() if r["key"] == victim["key"])["status"] == "open"
    rows = ws.task_rows()
    for r in rows:
        if r["key"] == victim["key"]:
            r["status"] = "cancelled"
    ws.tasks.write_text(as_csv(rows, header), encoding="utf-8")
    moved = ws.sync(T0 + timedelta(days=1, hours=1), "--json")
    assert moved.returncode == 0
    assert any(c["contact_id"] == "c002" for c in json.loads(moved.stdout)["created"]), "cancel moves on to the next step"
    assert ws.ended() == ended


# ------------------------------------------------------------------- values a recruiter types

@pytest.mark.parametrize(("column", "value", "message"), [
    ("outcome", "interested!", "outcome: unknown outcome 'interested!'"),
    ("status", "maybe later", "status: unknown status 'maybe later'"),
    ("completed_at", "yesterday", "completed_at: not a date 'yesterday'"),
])
def test_an_unknown_value_is_reported_and_changes_nothing(ws: Workspace, column: str, value: str, message: str) -> None:
    """An unknown outcome, status or date: reported with file:line and field; the task stays open, no next step."""
    rows = ws.task_rows()
    header = list(rows[0])
    [row] = [r for r in rows if r["contact_id"] == "c006" and r["status"] == "open"]
    row.update({"status": "done", column: value})
    ws.tasks.write_text(as_csv(rows, header), encoding="utf-8")
    ended = ws.ended()
    result = ws.sync(T0 + timedelta(days=1, hours=1), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    bad = [b for b in report["bad_records"] if b["source"].startswith("tasks.csv:")]
    assert any(f"{b['field']}: {b['message']}".startswith(message) for b in bad), bad
    assert not [c for c in report["created"] if c["contact_id"] == "c006"], "the cadence moved on"
    assert ws.ended() == ended


@pytest.mark.parametrize("spelling", ["skip", "skipped", "canceled", "cancelled"])
def test_skipped_and_cancelled_move_on_and_never_end_the_cadence(ws: Workspace, spelling: str) -> None:
    """skip / skipped / canceled / cancelled: this touch will not happen; the next step is planned, nothing ends."""
    rows = ws.task_rows()
    header = list(rows[0])
    [row] = [r for r in rows if r["contact_id"] == "c006" and r["status"] == "open"]
    row["status"] = spelling
    ws.tasks.write_text(as_csv(rows, header), encoding="utf-8")
    ended = ws.ended()
    result = ws.sync(T0 + timedelta(days=1, hours=1), "--json")
    assert result.returncode == 0, result.stderr
    assert any(c["contact_id"] == "c006" for c in json.loads(result.stdout)["created"])
    assert ws.ended() == ended


def test_an_explicit_outcome_on_a_cancelled_task_still_counts(ws: Workspace) -> None:
    """cancelled + do_not_contact: the recruiter's outcome ends the cadence for good (only an outcome does)."""
    rows = ws.task_rows()
    header = list(rows[0])
    [row] = [r for r in rows if r["contact_id"] == "c006" and r["status"] == "open"]
    row.update(status="cancelled", outcome="do_not_contact")
    ws.tasks.write_text(as_csv(rows, header), encoding="utf-8")
    result = ws.sync(T0 + timedelta(days=1, hours=1), "--json")
    assert result.returncode == 0
    assert any(n["contact_id"] == "c006" and n["kind"] == "exit" for n in json.loads(result.stdout)["notes"])


# ------------------------------------------------------------------- referrals

def test_a_referral_of_an_existing_contact_creates_no_second_contact(ws: Workspace) -> None:
    """A referral naming someone already in contacts.csv (same email, other case) adds no contact and no second cadence."""
    rows = ws.task_rows()
    header = list(rows[0])
    contacts_before = ws.contacts.read_bytes()
    [row] = [r for r in rows if r["contact_id"] == "c006" and r["status"] == "open"]
    row.update(status="done", outcome="referral", referred_first_name="Olivia", referred_last_name="Chen",
               referred_email="OLIVIA.CHEN@example.com")
    ws.tasks.write_text(as_csv(rows, header), encoding="utf-8")
    result = ws.sync(T0 + timedelta(days=1, hours=1), "--json")
    assert result.returncode == 0, result.stderr
    assert ws.contacts.read_bytes() == contacts_before, "a second contact was added"
    enrolled = [n for n in json.loads(result.stdout)["notes"] if n["kind"] == "enroll"]
    assert not [n for n in enrolled if n["contact_id"].startswith("ref-")]


def test_a_referral_of_a_new_person_by_phone_variant_is_added_once(ws: Workspace) -> None:
    """A referral whose phone matches an existing contact once normalised (spaces, dashes) adds no one."""
    contacts = {r["id"]: r for r in rows_of(ws.contacts.read_text(encoding="utf-8"))}
    phone = contacts["c006"]["phone"]
    assert phone.startswith("+1")
    spaced = f"({phone[2:5]}) {phone[5:8]}-{phone[8:]}"
    rows = ws.task_rows()
    header = list(rows[0])
    contacts_before = ws.contacts.read_bytes()
    [row] = [r for r in rows if r["contact_id"] == "c001" and r["status"] == "done"]
    row.update(outcome="referral", referred_first_name="G.", referred_phone="+1 " + spaced)
    ws.tasks.write_text(as_csv(rows, header), encoding="utf-8")
    result = ws.sync(T0 + timedelta(days=1, hours=1))
    assert result.returncode == 0, result.stderr
    assert ws.contacts.read_bytes() == contacts_before


# ------------------------------------------------------------------- a save in progress

def _slow_in_place_save(path: Path, data: bytes, seconds: float) -> None:
    """Save like a slow spreadsheet: truncate, then write the bytes in place, bit by bit."""
    import time

    chunk = max(1, len(data) // 200)
    pause = seconds / 200
    with open(path, "r+b") as f:
        f.truncate(0)
        for start in range(0, len(data), chunk):
            f.write(data[start:start + chunk])
            f.flush()
            os.utime(path)
            time.sleep(pause)


@pytest.mark.parametrize("seconds", [1.5, 8.0], ids=["short save: read after it", "long save: refused"])
def test_a_sync_during_a_slow_in_place_save_never_plans_from_half_a_file(ws: Workspace, seconds: float) -> None:
    """A sync started while tasks.csv is being rewritten in place waits for the save to finish (then reads it whole)
    or refuses the file (exit 2): no enrollment ends, no task is closed or restored twice, the save is complete."""
    import threading
    import time

    good = ws.tasks.read_bytes()
    ended = ws.ended()
    writer = threading.Thread(target=_slow_in_place_save, args=(ws.tasks, good, seconds))
    writer.start()
    time.sleep(0.3)
    result = ws.sync(T0 + timedelta(hours=3), "--json")
    writer.join()
    assert result.returncode in (0, 2), result.stderr
    print(f"save of {seconds}s: sync exit {result.returncode}: {first_error(result) or 'read after the save'}")
    if result.returncode == 2:
        assert "kept changing while being read" in first_error(result)
    else:
        assert json.loads(result.stdout)["counts"].get("tasks_restored", 0) == 0
    assert ws.tasks.read_bytes() == good or result.returncode == 0
    assert_nothing_lost(ws, ended)
