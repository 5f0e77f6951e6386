"""`cadence check` and `cadence schema`: exit codes, one problem per line, JSON output, no tracebacks."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from connector.commands.config import check_command, schema_command

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
PROBLEM_LINE = re.compile(r"^.+:\d+:\d+: (\S+: )?.+$")
VALID = """\
scripts:
  intro: {subject: "Call {{contact.first_name}}"}
cadences:
  - id: outreach
    name: Outreach
    steps:
      - {id: call, channel: call, script: intro}
      - {id: email, channel: email, wait: 2 days, subject: Hi}
"""
BROKEN = VALID.replace("wait: 2 days", "wait: 2 dayz").replace("script: intro", "script: intro2").replace("id: outreach", "id: outreach\n    nmae: x")

needs_cli = pytest.mark.skipif(not (ROOT / "connector" / "cli.py").exists(), reason="connector/cli.py (the lead's) not written yet")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cadence.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def invoke(*args: str):
    return CliRunner().invoke(check_command, list(args))


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "connector.cli", *args], capture_output=True, text=True, cwd=ROOT, timeout=60)


def test_valid_config_prints_a_one_line_summary(tmp_path: Path) -> None:
    """A valid config exits 0 with `FILE: OK: counts, CRM type` on stdout and nothing on stderr."""
    path = write(tmp_path, VALID)
    result = invoke(str(path))
    assert result.exit_code == 0 and result.stderr == ""
    assert result.stdout == f"{path}: OK: 1 cadence, 2 steps, 1 script, CRM local\n"


def test_invalid_config_lists_every_problem_and_exits_2(tmp_path: Path) -> None:
    """Each problem is one FILE:LINE:COL: field: message line on stderr; exit code 2; stdout empty."""
    path = write(tmp_path, BROKEN)
    result = invoke(str(path))
    assert result.exit_code == 2 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines == [
        f"{path}:5:5: cadences[0].nmae: unknown key; did you mean 'name'?",
        f"{path}:8:43: cadences[0].steps[0].script: unknown script 'intro2'; did you mean 'intro'?",
        f"{path}:9:43: cadences[0].steps[1].wait: '2 dayz' is not a duration; write e.g. '2 business days', '3 days', '1 week' or '4 hours'",
    ]
    assert "Traceback" not in result.output


def test_json_output_for_valid_and_invalid_configs(tmp_path: Path) -> None:
    """--json prints {ok, problems, warnings, summary} on stdout, with the same exit codes."""
    good = invoke("--json", str(write(tmp_path, VALID)))
    assert good.exit_code == 0
    assert json.loads(good.stdout) == {
        "ok": True,
        "problems": [],
        "warnings": [],
        "summary": {"file": str(tmp_path / "cadence.yaml"), "cadences": 1, "steps": 2, "scripts": 1, "crm": "local"},
    }
    bad = invoke("--json", str(write(tmp_path, BROKEN)))
    assert bad.exit_code == 2
    data = json.loads(bad.stdout)
    assert data["ok"] is False and data["summary"] is None and len(data["problems"]) == 3
    assert data["problems"][0] == {"file": str(tmp_path / "cadence.yaml"), "line": 5, "col": 5, "path": "cadences[0].nmae", "message": "unknown key; did you mean 'name'?"}


def test_missing_path_is_a_clear_error_with_exit_2(tmp_path: Path) -> None:
    """A config path that does not exist exits 2 with a message naming it, in text and JSON modes."""
    missing = tmp_path / "nope.yaml"
    result = invoke(str(missing))
    assert result.exit_code == 2 and result.stderr == f"error: {missing}: no such config file\n"
    as_json = invoke("--json", str(missing))
    assert as_json.exit_code == 2
    assert json.loads(as_json.stdout)["problems"] == [{"file": str(missing), "line": 1, "col": 1, "path": "", "message": "no such file"}]


def test_shipped_examples_check_ok() -> None:
    """`check` accepts every shipped example."""
    for path in sorted(EXAMPLES.glob("*.yaml")):
        result = invoke(str(path))
        assert result.exit_code == 0 and ": OK: " in result.stdout, result.stderr


def test_schema_prints_the_config_json_schema() -> None:
    """`schema` prints valid JSON whose properties include `cadences`."""
    result = CliRunner().invoke(schema_command, [])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert "cadences" in schema["properties"] and schema["title"] == "crm-cadence config"


@needs_cli
def test_subprocess_check_valid_and_invalid(tmp_path: Path) -> None:
    """Through the real CLI: exit 0 and a summary when valid, exit 2 and located problems when not."""
    ok = run_cli("check", "examples/recruiting.yaml")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout == "examples/recruiting.yaml: OK: 4 cadences, 13 steps, 11 scripts, CRM local\n"
    bad = run_cli("check", str(write(tmp_path, BROKEN)))
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    lines = bad.stderr.splitlines()
    assert len(lines) == 3 and all(PROBLEM_LINE.match(line) for line in lines)


@needs_cli
def test_subprocess_errors_never_show_a_traceback(tmp_path: Path) -> None:
    """Missing files, syntax errors and empty files all exit 2 without a traceback."""
    (tmp_path / "syntax.yaml").write_text("cadences: [\n")
    (tmp_path / "empty.yaml").write_text("")
    for target in (tmp_path / "nope.yaml", tmp_path / "syntax.yaml", tmp_path / "empty.yaml", tmp_path):
        result = run_cli("check", str(target))
        assert result.returncode == 2, (target, result.stderr)
        assert "Traceback" not in result.stderr + result.stdout and str(target) in result.stderr


@needs_cli
def test_subprocess_schema_is_json() -> None:
    """`cadence schema` prints the JSON Schema on stdout."""
    result = run_cli("schema")
    assert result.returncode == 0, result.stderr
    assert "cadences" in json.loads(result.stdout)["properties"]


def test_calling_hours_beyond_the_law_are_a_located_warning(tmp_path: Path) -> None:
    """call: 06:00-23:00 is not silently narrowed: a warning at channels.call's line, exit 0; the same for a call step's window."""
    text = VALID.replace("scripts:", 'channels:\n  call: "06:00-23:00"\nscripts:').replace(
        "script: intro}", 'script: intro, window: "07:00-09:00"}')
    result = invoke(str(write(tmp_path, text)))
    assert result.exit_code == 0 and result.stdout.endswith("CRM local (2 warnings)\n")
    lines = result.stderr.splitlines()
    assert lines[0] == (f"{tmp_path / 'cadence.yaml'}:2:9: channels.call: warning: 06:00-23:00 goes outside the legal "
                        "calling hours 08:00-21:00 (contact-local, US TCPA): calls are kept within 08:00-21:00")
    assert lines[1].startswith(f"{tmp_path / 'cadence.yaml'}:9:") and "cadences[0].steps[0].window: warning: 07:00-09:00" in lines[1]


def test_a_missing_local_crm_file_is_an_error_at_its_key(tmp_path: Path) -> None:
    """crm.contacts naming a file that does not exist: exit 2, located at the key."""
    text = "crm:\n  type: local\n  contacts: people.csv\n" + VALID
    result = invoke(str(write(tmp_path, text)))
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith(f"{tmp_path / 'cadence.yaml'}:3:13: crm.contacts: the local CRM's contacts file")
    (tmp_path / "people.csv").write_text("id\n", encoding="utf-8")
    assert invoke(str(write(tmp_path, text))).exit_code == 0


def test_a_bad_channel_window_is_reported_at_its_own_key(tmp_path: Path) -> None:
    """A bad email window is at channels.email (its line), not at `channels`."""
    text = VALID.replace("scripts:", 'channels:\n  call: "09:00-17:00"\n  email: "9-5"\nscripts:')
    result = invoke(str(write(tmp_path, text)))
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0].startswith(f"{tmp_path / 'cadence.yaml'}:3:10: channels.email: ")


@pytest.mark.parametrize("text, line, col", [
    ('cadences:\n  - id: a\n    name: "A\n    steps: []\n', 3, 11),
    ('a: "x\nb: "y"\n', 1, 4),
    ('scripts:\n  s: {subject: "Hi}\ncadences: []\n', 2, 16),
])
def test_an_unclosed_quote_is_reported_on_its_own_line(tmp_path: Path, text: str, line: int, col: int) -> None:
    """YAML notices an unclosed quote lines later; check points at the quote that was opened."""
    result = invoke(str(write(tmp_path, text)))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{tmp_path / 'cadence.yaml'}:{line}:{col}: YAML syntax error: this quoted string is never closed")
