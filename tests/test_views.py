"""`agenda`, `report` and `status` on three simulated weeks, read the way a recruiter reads them.

The examples are synced every weekday through the real CLI (`--now`), a recruiter works
tasks.csv in between (recording replies, not-nows, an opt-out), then the views are run in
subprocesses and checked against tasks.csv and the state: names, local times, counts. The
report is opened in a real headless Chromium, which must find the expected elements; its
screenshot is saved under test-artifacts/ (or $CADENCE_TEST_ARTIFACTS).
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

ROOT = Path(__file__).resolve().parent.parent
START = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)  # Monday, 07:00 in New York
DAYS = 17  # to Wednesday of the third week
NOW = START + timedelta(days=DAYS - 1, hours=3)  # Wed 2026-03-18 15:00 UTC, 11:00 in New York
NAMES = {"o1": "Dana Whitfield", "o2": "Marcus Lee", "o3": "Anika Sharma"}
ZONES = {"o1": "America/New_York", "o2": "America/Los_Angeles", "o3": "Europe/London"}
OUTCOMES: dict[tuple[str, str], dict[str, str]] = {
    ("c001", "intro-call"): {"outcome": "replied"},
    ("c002", "intro-call"): {"outcome": "not now"},
    ("c014", "intro-call"): {"outcome": "replied"},
    ("c012", "intro-email"): {"outcome": "meeting_booked"},
    ("c010", "intro-call"): {"outcome": "opted_out"},
}
LEFT_UNDONE = {"c006", "c019"}  # the recruiter never gets to these: their tasks go overdue


def cadence(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "connector.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=180)


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def work_the_queue(tasks_csv: Path, until: datetime) -> None:
    with open(tasks_csv, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        header, rows = list(reader.fieldnames or []), list(reader)
    for row in rows:
        due = datetime.fromisoformat(row["due_utc"].replace("Z", "+00:00"))
        if row["status"] == "open" and due <= until and row["contact_id"] not in LEFT_UNDONE:
            row.update(status="done", completed_at=(due + timedelta(minutes=20)).isoformat())
            row.update(OUTCOMES.get((row["contact_id"], row["step"]), {}))
    with open(tasks_csv, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    ws = tmp_path_factory.mktemp("views") / "examples"
    shutil.copytree(ROOT / "examples", ws, ignore=shutil.ignore_patterns("tasks.csv", "cadence-state*"))
    config = str(ws / "recruiting.yaml")
    for day in range(DAYS):
        now = START + timedelta(days=day)
        if now.weekday() >= 5:
            continue
        result = cadence("sync", config, "--now", now.isoformat(), "--json")
        assert result.returncode == 0, result.stderr
        if now + timedelta(days=3) < NOW:  # the last two days' work is still to do
            work_the_queue(ws / "tasks.csv", now + timedelta(hours=23))
    return {"ws": ws, "config": config, "tasks": read_rows(ws / "tasks.csv")}


def due_utc(row: dict[str, str]) -> datetime:
    return datetime.fromisoformat(row["due_utc"].replace("Z", "+00:00"))


def open_rows(history: dict[str, Any], owner: str) -> list[dict[str, str]]:
    return [r for r in history["tasks"] if r["owner_id"] == owner and r["status"] == "open"]


# ----------------------------------------------------------------------------- agenda


def test_agenda_lists_a_recruiters_week_in_their_own_zone(history: dict[str, Any]) -> None:
    """Anika's week: every open task of hers due this week, at its London time, and overdue ones first."""
    out = cadence("agenda", history["config"], "--owner", "Anika", "--week", "--now", NOW.isoformat(), "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    [anika] = data["owners"]
    assert (anika["owner"], anika["timezone"]) == ("Anika Sharma", "Europe/London")
    london = ZoneInfo("Europe/London")
    monday = date(2026, 3, 16)
    expected = {r["key"]: due_utc(r).astimezone(london) for r in open_rows(history, "o3")
                if due_utc(r) >= NOW and monday <= due_utc(r).astimezone(london).date() <= monday + timedelta(days=6)}
    listed = {t["key"]: t for d in anika["days"] for t in d["tasks"]}
    assert set(listed) == set(expected) and expected
    for key, local in expected.items():
        assert listed[key]["time"] == f"{local:%H:%M}" and listed[key]["due_local"] == local.isoformat()
    overdue = {r["key"] for r in open_rows(history, "o3") if due_utc(r) < NOW}
    assert {t["key"] for t in anika["overdue"]} == overdue


def test_agenda_text_shows_overdue_first_with_phone_and_local_time(history: dict[str, Any]) -> None:
    """Dana's day as text: her name and zone, overdue calls first with the contact's phone, today's tasks after."""
    out = cadence("agenda", history["config"], "--owner", "o1", "--now", NOW.isoformat())
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert text.startswith("Dana Whitfield: Wed 18 Mar 2026, times in America/New_York")
    overdue = [r for r in open_rows(history, "o1") if due_utc(r) < NOW]
    assert overdue, "the simulation leaves Grace's call undone"
    grace = next(r for r in overdue if r["contact_id"] == "c006")
    local = due_utc(grace).astimezone(ZoneInfo("America/New_York"))
    line = next(line for line in text.splitlines() if "Grace Kim" in line)
    assert f"{local:%a %d %b %H:%M}" in line and "+15125550133" in line
    assert text.index("Overdue") < text.index("\nWed 18 Mar")


def test_agenda_text_gives_the_contacts_own_time_beside_a_call(history: dict[str, Any]) -> None:
    """Aarav's follow-up call shows at 03:15 on Anika's London clock and at 09:00 on his Kathmandu clock."""
    out = cadence("agenda", history["config"], "--owner", "anika.sharma@example.com", "--day", "2026-03-20",
                  "--now", NOW.isoformat())
    assert out.returncode == 0, out.stderr
    line = next(line for line in out.stdout.splitlines() if "Aarav Shrestha" in line)
    assert line.split()[:2] == ["03:15", "call"] and "+9779801234567" in line and "09:00 +0545" in line


def test_agenda_unknown_owner_is_a_clear_error(history: dict[str, Any]) -> None:
    """An unknown --owner exits 2 and lists the recruiters there are, by name."""
    out = cadence("agenda", history["config"], "--owner", "Zed", "--now", NOW.isoformat())
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "Dana Whitfield (o1)" in out.stderr and "Anika Sharma (o3)" in out.stderr


# ----------------------------------------------------------------------------- report


class _Elements(HTMLParser):
    """The tags, classes, data attributes and text of a DOM as Chromium serialised it."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def having(self, tag: str, cls: str) -> list[dict[str, str]]:
        return [a for t, a in self.found if t == tag and cls in a.get("class", "").split()]


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("Chromium is not installed: `apt-get install chromium` (.ci/run installs it)")
    return path


def browse(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
         f"--user-data-dir={profile}", *extra, page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120,
    )


@pytest.fixture(scope="module")
def report(history: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out_dir = history["ws"] / "report"
    result = cadence("report", history["config"], "--out", str(out_dir), "--now", NOW.isoformat())
    assert result.returncode == 0, result.stderr
    page = out_dir / "cadence-report.html"
    dom = browse(page, tmp_path_factory.mktemp("chromium"), "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    parsed = _Elements()
    parsed.feed(dom.stdout)
    return {"page": page, "html": page.read_text(encoding="utf-8"), "dom": parsed, "stdout": result.stdout}


def test_report_is_one_self_contained_file(report: dict[str, Any]) -> None:
    """No script, no stylesheet link, no image or font fetched: the file is all there is."""
    text = report["html"]
    assert "<script" not in text and "<link" not in text and "@import" not in text and "<img" not in text
    assert re.findall(r"url\((.)", text) == ["#"] * text.count("url(")  # only references inside the page
    assert re.findall(r"https?://[^\s\"']+", text.replace("http://www.w3.org/", "")) == []
    assert str(report["page"]) in report["stdout"]


def test_report_shows_each_recruiter_against_capacity(report: dict[str, Any], history: dict[str, Any]) -> None:
    """Chromium finds a heat map per recruiter, with their name, zone and the open and overdue counts of tasks.csv."""
    dom = report["dom"]
    heatmaps = {a["data-owner"] for a in dom.having("figure", "heatmap")}
    assert heatmaps == {"o1", "o2", "o3"}
    assert any(tag == "svg" for tag, _ in dom.found)
    text = re.sub(r"\s+", " ", "".join(dom.text))
    for owner, name in NAMES.items():
        assert f"{name}: tasks per day" in text  # drawn inside the SVG, as text
        rows = open_rows(history, owner)
        overdue = sum(1 for r in rows if due_utc(r) < NOW)
        assert f"{name}, {ZONES[owner]}, capacity 40 a day: {overdue} overdue, {len(rows)} open" in text


def test_report_shows_each_cadence_shape_and_funnel(report: dict[str, Any], history: dict[str, Any]) -> None:
    """Every cadence has a timeline of its steps; the funnel counts done tasks and replies per step like tasks.csv."""
    dom = report["dom"]
    assert {a["id"] for a in dom.having("article", "cadence")} == {
        "cadence-passive-outreach", "cadence-warm-referral", "cadence-hiring-manager-checkin", "cadence-not-now-nurture"}
    assert {a["data-cadence"] for a in dom.having("figure", "shape")} >= {"passive-outreach", "warm-referral"}
    text = " ".join(dom.text)
    assert "1. intro-call" in text and "5. close-the-loop" in text
    done_intro = sum(1 for r in history["tasks"] if r["step"] == "intro-call" and r["status"] == "done")
    replied_intro = sum(1 for r in history["tasks"] if r["step"] == "intro-call" and r["outcome"] == "replied")
    row = _funnel_row(report["html"], "passive-outreach", "intro-call")
    assert row[3] == str(done_intro) and row[5] == str(replied_intro)
    assert row[9] == f"{replied_intro / done_intro:.0%}"


def _funnel_row(html: str, cadence_id: str, step: str) -> list[str]:
    article = html[html.index(f'id="cadence-{cadence_id}"'):]
    article = article[: article.index("</article>")]
    row = article[article.index(f'<tr data-step="{step}">'):]
    row = row[: row.index("</tr>")]
    cells = _Elements()
    cells.feed(row)
    return [c.strip() for c in cells.text if c.strip()]


def test_report_screenshot_is_saved(report: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> None:
    """Chromium renders the page to a PNG, kept as a test artifact for a person to look at."""
    artifacts = Path(os.environ.get("CADENCE_TEST_ARTIFACTS", ROOT / "test-artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    shot = artifacts / "report.png"
    shot.unlink(missing_ok=True)
    result = browse(report["page"], tmp_path_factory.mktemp("chromium-shot"), f"--screenshot={shot}",
                    "--window-size=1200,2400")
    assert result.returncode == 0, result.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


# ----------------------------------------------------------------------------- status


def test_status_names_recruiters_and_counts_like_the_task_file(history: dict[str, Any]) -> None:
    """status --json: each recruiter by name and zone, open and overdue as in tasks.csv; the text has no
    'not yet sent' column on the local CRM (nothing waits to be sent there)."""
    out = cadence("status", history["config"], "--now", NOW.isoformat(), "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    for o in data["owners"]:
        rows = open_rows(history, o["owner_id"])
        assert (o["owner"], o["timezone"]) == (NAMES[o["owner_id"]], ZONES[o["owner_id"]])
        assert (o["open"], o["overdue"]) == (len(rows), sum(1 for r in rows if due_utc(r) < NOW))
    text = cadence("status", history["config"], "--now", NOW.isoformat()).stdout
    assert "not yet sent" not in text and "Anika Sharma    Europe/London" in text
    assert "as of Wed 18 Mar 2026 11:00 EDT (America/New_York)" in text


def test_status_gives_reply_and_meeting_rates_per_step_and_exits_by_reason(history: dict[str, Any]) -> None:
    """Per step: done tasks and replies as tasks.csv records them, the rates, and endings grouped by kind."""
    data = json.loads(cadence("status", history["config"], "--now", NOW.isoformat(), "--json").stdout)
    steps = {(s["cadence"], s["step"]): s for s in data["steps"]}
    for step in ("intro-call", "intro-email"):
        rows = [r for r in history["tasks"] if r["cadence"] == "passive-outreach v1" and r["step"] == step]
        s = steps[("passive-outreach", step)]
        assert s["done"] == sum(1 for r in rows if r["status"] == "done")
        assert s["replied"] == sum(1 for r in rows if r["outcome"] == "replied")
        assert s["meeting"] == sum(1 for r in rows if r["outcome"] == "meeting_booked")
        assert s["reply_rate"] == pytest.approx((s["replied"] + s["meeting"]) / s["done"])
    assert steps[("passive-outreach", "intro-email")]["meeting_rate"] == pytest.approx(1 / steps[("passive-outreach", "intro-email")]["done"])
    exits = {(e["cadence"], e["kind"]): e["count"] for e in data["exits"]}
    # "not now": the one recorded on a task, and Arjun, already BAD_TIMING when he would have enrolled
    assert exits[("passive-outreach", "replied")] == 2 and exits[("passive-outreach", "not now")] == 2
    assert exits[("passive-outreach", "meeting")] == 1 and exits[("passive-outreach", "opted out")] == 1
    text = cadence("status", history["config"], "--now", NOW.isoformat()).stdout
    intro = next(line for line in text.splitlines() if "1. intro-call" in line)
    assert intro.split()[-2:] == [f"{steps[('passive-outreach', 'intro-call')]['reply_rate']:.0%}", "0%"]
