"""What `cadence sync` and `cadence plan` print for a person, through the real CLI.

Not on a terminal: the summary on stdout, key=value log lines on stderr. On a terminal (a
real pseudo-terminal): the summary and no log lines. Either way: an aligned table of the
created tasks with each recruiter's name and local time (zone named), repeated reasons
grouped with a count, and last lines saying where the tasks went and what to do next.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOW = "2026-03-02T12:00:00Z"


@pytest.fixture()
def examples(tmp_path: Path) -> Path:
    ws = tmp_path / "examples"
    shutil.copytree(ROOT / "examples", ws, ignore=shutil.ignore_patterns("tasks.csv", "cadence-state*"))
    return ws


def cadence(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "connector.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def on_terminal(*args: str, cwd: Path) -> str:
    """The CLI with stdout and stderr on one pseudo-terminal; everything it printed."""
    leader, follower = pty.openpty()
    env = dict(os.environ, TERM="xterm", COLUMNS="150")
    process = subprocess.Popen([sys.executable, "-m", "connector.cli", *args], cwd=cwd, stdin=follower,
                               stdout=follower, stderr=follower, env=env, close_fds=True)
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            break
        try:
            data = os.read(leader, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    process.wait(timeout=60)
    os.close(leader)
    assert process.returncode == 0
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(chunks).decode("utf-8", "replace")).replace("\r", "")


def test_sync_summary_is_a_table_with_names_and_local_times(examples: Path) -> None:
    """Created tasks are listed per recruiter by name, due on the recruiter's clock with the zone named, columns aligned."""
    out = cadence("sync", "examples/recruiting.yaml", "--now", NOW, cwd=examples.parent)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "sync for account local, Mon 02 Mar 07:00 EST (America/New_York): ok in " + lines[0].split(" in ")[-1]
    header = next(i for i, line in enumerate(lines) if line.startswith("recruiter "))
    maya = next(line for line in lines if "Maya Thompson" in line and "call" in line)
    assert maya.startswith("Dana Whitfield ") and "Mon 02 Mar 09:00 EST" in maya
    zoe = next(line for line in lines if "Zoë Müller" in line)
    assert zoe.startswith("Anika Sharma ") and "Mon 02 Mar 12:00 GMT" in zoe  # 13:00 in Berlin, Anika is in London
    column = lines[header].index("channel")
    rows = lines[header + 1: header + 20]
    assert all(row[column:].split()[0] in ("call", "email") for row in rows), rows


def test_repeated_reasons_are_grouped_with_a_count(examples: Path) -> None:
    """Fourteen contacts enrolled for the same reason make one line with 14x and a few names, not fourteen lines
    (Arjun, already BAD_TIMING, and Emily, already UNQUALIFIED, match the rule too but are not enrolled)."""
    out = cadence("sync", "examples/recruiting.yaml", "--now", NOW, cwd=examples.parent)
    enrolled = [line for line in out.stdout.splitlines() if "matches the enrollment rule of 'Passive" in line]
    assert len(enrolled) == 1 and enrolled[0].lstrip().startswith("14x") and "and 11 more" in enrolled[0]
    assert "enrolled in passive-outreach" in enrolled[0]
    skipped = [line for line in out.stdout.splitlines() if "passive-outreach/intro-call: no phone number" in line]
    assert len(skipped) == 1 and skipped[0].lstrip().startswith("2x")


def test_last_lines_say_where_the_tasks_went_and_what_next(examples: Path) -> None:
    """The sync ends with the tasks.csv path and the next commands; the plan says nothing was written."""
    out = cadence("sync", "examples/recruiting.yaml", "--now", NOW, cwd=examples.parent)
    last = out.stdout.splitlines()[-2:]
    assert last[0].startswith("Tasks are in examples/tasks.csv (19 new): open it, set status to done")
    assert "cadence agenda examples/recruiting.yaml --owner NAME" in last[1]
    plan = cadence("plan", "examples/recruiting.yaml", "--now", "2026-03-03T12:00:00Z", cwd=examples.parent)
    assert plan.stdout.splitlines()[-1] == "Nothing to create or close now. Tasks so far are in examples/tasks.csv."


def test_log_lines_only_off_a_terminal_or_when_asked(examples: Path) -> None:
    """Piped: key=value lines on stderr; --log-format json: JSON lines; on a terminal: the summary, no log lines."""
    piped = cadence("sync", "examples/recruiting.yaml", "--now", NOW, cwd=examples.parent)
    assert "level=info logger=connector.sync" in piped.stderr and "level=info" not in piped.stdout
    screen = on_terminal("sync", "examples/recruiting.yaml", "--now", "2026-03-03T12:00:00Z", cwd=examples.parent)
    assert "sync for account local" in screen and "Tasks are in examples/tasks.csv" in screen
    assert "level=info" not in screen and "run started" not in screen and "intents recorded" not in screen
    asked = cadence("sync", "examples/recruiting.yaml", "--now", "2026-03-04T12:00:00Z", "--log-format", "json",
                    cwd=examples.parent)
    assert asked.stderr.startswith('{"ts": ') and '"msg": "run started"' in asked.stderr


def test_no_contact_is_shown_both_queued_and_enrolled(examples: Path) -> None:
    """A first paced sync queues new contacts in its first planning pass and starts the queue's head in
    the second: a contact the second pass started is reported as enrolled only, never also as queued."""
    out = cadence("sync", "examples/recruiting.yaml", "--now", NOW, "--json", cwd=examples.parent)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    notes = report["notes"]
    enrolled = {n["contact_id"] for n in notes if n["kind"] in ("enroll", "reengage")}
    queued = {n["contact_id"] for n in notes if n["kind"] == "queue"}
    assert len(enrolled) == 20 and not enrolled & queued  # Arjun and Emily: lead status already set
    assert report["counts"].get("queued", 0) == len(queued)
    assert report["counts"]["notes"] == len(notes)
