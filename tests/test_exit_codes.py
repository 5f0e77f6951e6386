"""No traceback for anything a user can cause, and one exit-code table for every command, in a subprocess.

0 success (also a sync stopped by SIGTERM after recording its work), 1 the run failed,
2 bad input (or a mass change held for confirmation). README "Exit codes" says the same.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.examples import copy_examples
from support.launch import command as cadence_command

from connector.clikit import STATUS_EXIT

ROOT = Path(__file__).resolve().parent.parent
NOW = "2026-03-02T14:00:00Z"

HUBSPOT = """\
crm: {type: hubspot, base_url: "http://127.0.0.1:9", max_retries: 0, request_timeout: 2}
cadences:
  - id: outreach
    name: Outreach
    steps: [{id: call, channel: call, subject: "Call {{contact.first_name}}"}]
"""


def cadence(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k not in ("HUBSPOT_ACCESS_TOKEN", "HUBSPOT_BASE_URL")} | (env or {})
    return subprocess.run([sys.executable, "-m", "connector.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=full)


def first_error(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("ts=")]
    return lines[0] if lines else ""


def no_traceback(result: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr


@pytest.fixture
def hubspot_config(tmp_path: Path) -> Path:
    path = tmp_path / "hubspot.yaml"
    path.write_text(HUBSPOT, encoding="utf-8")
    return path


@pytest.mark.parametrize("command", ["sync", "plan"])
def test_a_missing_token_is_bad_input_not_a_traceback(hubspot_config: Path, command: str) -> None:
    """sync and plan without HUBSPOT_ACCESS_TOKEN: exit 2, one line naming the variable."""
    result = cadence(command, str(hubspot_config), "--now", NOW)
    no_traceback(result)
    assert result.returncode == 2
    assert first_error(result) == ("error: no HubSpot token: set the HUBSPOT_ACCESS_TOKEN environment variable "
                                   "to a private-app access token")


def test_status_needs_no_token(hubspot_config: Path) -> None:
    """status reads only the state file: no token, no request, exit 0."""
    result = cadence("status", str(hubspot_config))
    no_traceback(result)
    assert result.returncode == 0 and "account hubspot:127.0.0.1:9" in result.stdout


def test_an_unreachable_host_fails_the_run_with_one_line(hubspot_config: Path) -> None:
    """A HubSpot host nobody answers on: exit 1, the report says which CRM and what went wrong."""
    result = cadence("sync", str(hubspot_config), "--now", NOW, env={"HUBSPOT_ACCESS_TOKEN": "pat-test"})
    no_traceback(result)
    assert result.returncode == 1
    assert first_error(result).startswith("error: hubspot:127.0.0.1:9: network error")
    assert "pat-test" not in result.stdout + result.stderr


@pytest.fixture
def examples(tmp_path: Path) -> Path:
    return copy_examples(tmp_path / "examples")


def test_a_state_file_from_a_newer_version_is_refused_by_every_command(examples: Path) -> None:
    """A state file written by a newer crm-cadence: sync, plan and status exit 2 saying so; the file is untouched."""
    config = str(examples / "recruiting.yaml")
    assert cadence("sync", config, "--now", NOW).returncode == 0
    state = examples / "cadence-state.sqlite"
    db = sqlite3.connect(state)
    with db:
        db.execute("INSERT INTO schema_version (version) VALUES (999)")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    before = state.read_bytes()
    for command in ("sync", "plan", "status"):
        result = cadence(command, config)
        no_traceback(result)
        assert result.returncode == 2, (command, result.stderr)
        assert first_error(result).startswith(f"error: {state}: the state file has schema version 999, newer than this "
                                              "crm-cadence")
    assert state.read_bytes() == before


def test_a_state_file_that_is_not_a_database_fails_with_one_line(examples: Path) -> None:
    """A state file overwritten with something else: exit 2, naming the file (tests/test_state_file.py has the rest)."""
    state = examples / "cadence-state.sqlite"
    state.write_text("not a database\n" * 100, encoding="utf-8")
    for command in ("sync", "status"):
        result = cadence(command, str(examples / "recruiting.yaml"))
        no_traceback(result)
        assert result.returncode == 2 and first_error(result).startswith(f"error: {state}: not a crm-cadence state file")


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs /proc (a folder nobody can write, even root)")
def test_a_state_folder_that_cannot_be_written_fails_with_one_line(examples: Path) -> None:
    """`state:` in a folder that cannot be written (read-only): exit 2 naming the path, nothing written to the CRM."""
    config = examples / "ro.yaml"
    config.write_text("state: /proc/crm-cadence-test/cadence-state.sqlite\n"
                      + (examples / "recruiting.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    result = cadence("sync", str(config), "--now", NOW)
    no_traceback(result)
    assert result.returncode == 2 and first_error(result).startswith("error: /proc/crm-cadence-test")
    assert not (examples / "tasks.csv").exists()


def test_an_unreadable_contacts_file_is_bad_input(examples: Path) -> None:
    """contacts.csv that is a folder (or cannot be opened): exit 2 with file:line: field: message."""
    (examples / "contacts.csv").unlink()
    (examples / "contacts.csv").mkdir()
    result = cadence("sync", str(examples / "recruiting.yaml"), "--now", NOW)
    no_traceback(result)
    assert result.returncode == 2 and first_error(result) == "error: contacts.csv:1: file: is a folder, not a file"


def test_a_sync_stopped_by_sigterm_exits_0_and_the_next_run_resumes(examples: Path) -> None:
    """SIGTERM during a sync: it records the batch in flight, says 'stopped', exits 0; the next run finishes the job."""
    config = str(examples / "recruiting.yaml")
    env = {k: v for k, v in os.environ.items() if k != "HUBSPOT_ACCESS_TOKEN"}
    proc = subprocess.Popen([*cadence_command(pause_at="after_intents:3"), "sync", config, "--now", NOW], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:  # the signal handlers are in place once the run has started
        seen.append(line)
        if 'msg="run started"' in line:
            break
    time.sleep(0.5)  # inside the paused run
    proc.send_signal(signal.SIGTERM)
    out, rest = proc.communicate(timeout=60)
    err = "".join(seen) + rest
    assert "Traceback" not in err
    assert proc.returncode == 0, err
    assert ": stopped in" in out.splitlines()[0]
    again = cadence("sync", config, "--now", NOW, "--json")
    assert again.returncode == 0 and '"created": [' in again.stdout


def test_the_readme_states_the_exit_code_table() -> None:
    """README has one exit-code table; its rows are the codes the CLI uses for each report status."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Exit codes"):]
    section = section[: section.index("\n## ")] if "\n## " in section else section
    rows = dict(re.findall(r"^\| (\d) \| (.+?) \|$", section, re.M))
    assert set(rows) == {"0", "1", "2"}
    for status, code in STATUS_EXIT.items():
        assert f"`{status}`" in rows[str(code)], (status, code)
