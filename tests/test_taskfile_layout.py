"""tasks.csv made for a spreadsheet: recruiter columns first, sorted by recruiter and due time,
the contact's phone and email, the due time to the minute, the body in one cell."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent


def cadence(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "connector.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def test_tasks_csv_reads_like_a_recruiters_list(tmp_path: Path) -> None:
    """After two syncs: header starts with owner, due, zone, contact, phone, email; rows by owner then due time."""
    ws = tmp_path / "examples"
    shutil.copytree(ROOT / "examples", ws, ignore=shutil.ignore_patterns("tasks.csv", "cadence-state*"))
    for now in ("2026-03-02T12:00:00Z", "2026-03-04T12:00:00Z"):
        assert cadence("sync", "examples/recruiting.yaml", "--now", now, cwd=tmp_path).returncode == 0
    raw = (ws / "tasks.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM: Excel shows the accents right
    with open(ws / "tasks.csv", newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        header, rows = list(reader.fieldnames or []), list(reader)
    assert header[:8] == ["owner", "due", "time_zone", "contact_name", "phone", "email", "channel", "subject"]
    assert header[-1] == "body"
    assert [(r["owner"], r["due_utc"]) for r in rows] == sorted((r["owner"], r["due_utc"]) for r in rows)
    assert {r["owner"] for r in rows} == {"Dana Whitfield", "Marcus Lee", "Anika Sharma"}
    with open(ws / "contacts.csv", newline="", encoding="utf-8-sig") as f:
        contacts = {c["id"]: c for c in csv.DictReader(f)}
    for r in rows:
        local = datetime.fromisoformat(r["due_local"])
        assert r["due"] == f"{local:%Y-%m-%d %H:%M}"
        assert local.utcoffset() == local.astimezone(ZoneInfo(r["time_zone"])).utcoffset()
        contact = contacts[r["contact_id"]]
        # a phone number that begins with + is shown as text ('+1 ...), never evaluated (formula injection)
        phone = "'" + contact["phone"] if contact["phone"].startswith("+") else contact["phone"]
        assert (r["phone"], r["email"]) == (phone, contact["email"])
    maya = next(r for r in rows if r["contact_id"] == "c001")
    assert (maya["due"], maya["time_zone"]) == ("2026-03-02 09:00", "America/New_York")
    assert maya["body"].startswith("## Call Maya Thompson") and "If they say..." in maya["body"]  # one cell
