"""Loading a valid config: body files resolved beside the config, YAML features kept, results typed."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from connector.configfile import ConfigFileError, LoadedConfig, Problem, load_config
from sequences.config import Config

CONFIG = """\
crm: {type: local, contacts: contacts.csv, tasks: tasks.csv}
calendar:
  owner_days_off:
    o1: [2026-03-13, 2026-03-16]
scripts:
  intro:
    subject: "Call {{contact.first_name}}"
    body_file: scripts/intro.md
cadences:
  - id: outreach
    name: Outreach
    enroll_when:
      all:
        - {property: country, in: [US, CA]}
    steps:
      - id: call
        channel: call
        priority: high
        script: intro
      - id: email
        channel: email
        wait: 2 business days
        subject: "Hi {{contact.first_name}}"
"""


def write(tmp_path: Path, config: str = CONFIG, body: str = "Hello {{contact.first_name}}\n") -> Path:
    """Write a config and its script body under tmp_path/conf and return the config path."""
    (tmp_path / "conf" / "scripts").mkdir(parents=True)
    (tmp_path / "conf" / "scripts" / "intro.md").write_text(body, encoding="utf-8")
    path = tmp_path / "conf" / "cadence.yaml"
    path.write_text(config, encoding="utf-8")
    return path


def test_load_returns_the_validated_config_and_its_directory(tmp_path: Path) -> None:
    """load_config returns the Config, the path as given and the config's absolute directory."""
    path = write(tmp_path)
    loaded = load_config(path)
    assert isinstance(loaded, LoadedConfig) and isinstance(loaded.config, Config)
    assert loaded.path == path and loaded.directory == path.parent.resolve() and loaded.directory.is_absolute()
    assert loaded.config.crm.type == "local" and loaded.config.crm.model_extra == {"contacts": "contacts.csv", "tasks": "tasks.csv"}


def test_body_file_is_read_relative_to_the_config_not_the_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A script's body_file is resolved beside the config and its text becomes the body."""
    write(tmp_path, body="Olá {{contact.first_name}} ✓\n")
    monkeypatch.chdir(tmp_path)
    loaded = load_config(Path("conf/cadence.yaml"))
    script = loaded.config.scripts["intro"]
    assert script.body == "Olá {{contact.first_name}} ✓\n" and script.body_file == "scripts/intro.md"


def test_anchors_and_merge_keys_work(tmp_path: Path) -> None:
    """YAML anchors, aliases and `<<:` merge keys load as plain values."""
    text = CONFIG.replace(
        "      - id: call\n        channel: call\n",
        "      - &first\n        id: call\n        channel: call\n",
    ) + "      - <<: *first\n        id: call-again\n        wait: 1 week\n"
    steps = load_config(write(tmp_path, text)).config.cadences[0].steps
    assert [(s.id, s.channel.value, s.priority, s.script, str(s.wait)) for s in steps] == [
        ("call", "call", "high", "intro", "0 days"),
        ("email", "email", "medium", None, "2 business days"),
        ("call-again", "call", "high", "intro", "1 week"),
    ]


def test_in_alias_and_dates_load(tmp_path: Path) -> None:
    """The YAML `in` operator fills Condition.in_ and bare YAML dates become dates."""
    loaded = load_config(write(tmp_path))
    condition = loaded.config.cadences[0].enroll_when.all[0]
    assert condition.in_ == ["US", "CA"]
    assert loaded.config.calendar.owner_days_off == {"o1": [date(2026, 3, 13), date(2026, 3, 16)]}


def test_problem_formats_as_file_line_col_path_message() -> None:
    """str(Problem) is FILE:LINE:COL: field.path: message, without the path part when there is none."""
    assert str(Problem("a.yaml", 3, 7, "cadences[0].steps[1].wait", "bad")) == "a.yaml:3:7: cadences[0].steps[1].wait: bad"
    assert str(Problem("a.yaml", 1, 1, "", "no such file")) == "a.yaml:1:1: no such file"
    assert Problem("a.yaml", 1, 2, "x", "m").to_dict() == {"file": "a.yaml", "line": 1, "col": 2, "path": "x", "message": "m"}


def test_problems_are_deduplicated_and_sorted() -> None:
    """ConfigFileError keeps each problem once, ordered by file, line and column."""
    a, b = Problem("a.yaml", 9, 1, "x", "m"), Problem("a.yaml", 2, 5, "y", "n")
    assert ConfigFileError([a, b, a]).problems == [b, a]
