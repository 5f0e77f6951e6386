"""Inputs cannot exhaust or escape (issue 17): YAML alias bombs, local CRM paths outside the
config's folder, spreadsheet formulas in the CSV files the tool writes.

The alias-bomb tests run the CLI in a subprocess under an address-space and CPU limit
(`resource.setrlimit` in `preexec_fn`): a run that tried to expand the bomb is killed by the
limit and fails the exit-code assertion. No wall-clock time is asserted."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# 9 levels of 9 aliases: 9**9 (387 million) strings once expanded, 390 bytes of text.
BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9) if prev else ', '.join(['lol'] * 9)}]\n"
    for prev, name in zip(["", "a", "b", "c", "d", "e", "f", "g", "h"], "abcdefghi", strict=True)
)

MEMORY_LIMIT = 768 * 1024 * 1024  # a normal `cadence check` runs in under 300 MB of address space
CPU_SECONDS = 30


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))


def cli_limited(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "connector.cli", *map(str, args)], cwd=cwd, preexec_fn=_limited,
                          capture_output=True, text=True, timeout=300)


def test_the_bomb_is_small() -> None:
    assert len(BOMB.encode()) < 450 and BOMB.count("*") == 72


@pytest.mark.parametrize("where", ["top", "cadences"])
def test_a_yaml_alias_bomb_in_a_config_is_refused_at_its_line(tmp_path: Path, where: str) -> None:
    """`cadence check` on a billion-laughs config exits 2 with a located line, within the
    memory and CPU limit (it used over 4 GB and 120 s before)."""
    text = BOMB if where == "top" else BOMB.replace("i: &i", "cadences: &i")
    config = tmp_path / "bomb.yaml"
    config.write_text(text, encoding="utf-8")
    result = cli_limited("check", config)
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr
    assert f"{config}:6:8: the alias *e takes this file past 100,000 values" in result.stderr


def test_a_yaml_alias_bomb_in_a_fleet_file_is_refused_at_its_line(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text("state: postgresql://nobody@127.0.0.1:1/x\n" + BOMB.replace("i: &i", "accounts: &i"),
                     encoding="utf-8")
    result = cli_limited("fleet", "status", fleet)
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr
    assert f"{fleet}:7:8: the alias *e takes this file past 100,000 values" in result.stderr


def test_ordinary_aliases_and_merge_keys_still_load(tmp_path: Path) -> None:
    from connector.configfile import load_config

    config = tmp_path / "cadence.yaml"
    first = ("  - id: c0\n    name: C0\n    steps: &steps\n"
             "      - &call {id: call, channel: call, window: '09:00-17:00', subject: Hi}\n"
             "      - {<<: *call, id: again, wait: 2 days}\n")
    others = "".join(f"  - id: c{i}\n    name: C{i}\n    steps: *steps\n" for i in range(1, 20))
    config.write_text("cadences:\n" + first + others, encoding="utf-8")
    loaded = load_config(config)
    assert len(loaded.config.cadences) == 20


def test_the_bound_counts_expanded_values_not_text() -> None:
    from connector.yamlbounds import alias_bomb

    assert alias_bomb(BOMB) is not None
    assert alias_bomb(BOMB, limit=10**10) is None
    assert alias_bomb("a: &a [1, 2, 3]\nb: [*a, *a]\n", limit=8) is None
    found = alias_bomb("a: &a [1, 2, 3]\nb: [*a, *a, *a]\n", limit=8)
    assert found is not None and (found.line, found.col, found.alias) == (2, 13, "a")
    assert alias_bomb("a: [unclosed\n") is None  # the loader locates syntax errors itself


# ----------------------------------------------------------------- local CRM paths confined

CADENCE = ("calendar: {timezone: America/New_York, country: US}\n"
           "cadences:\n  - id: a\n    name: A\n    enroll_when: {all: [{property: lifecycle_stage, equals: lead}]}\n"
           "    steps:\n      - {id: call, channel: call, subject: 'Call {{contact.first_name}}'}\n")
CONTACTS = "id,first_name,phone,timezone,country,lifecycle_stage\nc1,Ada,+1 555 0100,America/New_York,US,lead\n"
MONDAY = "2026-03-02T14:00:00Z"


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "connector.cli", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def workspace(tmp_path: Path, crm: str) -> Path:
    folder = tmp_path / "cfg"
    folder.mkdir()
    (folder / "contacts.csv").write_text(CONTACTS, encoding="utf-8")
    config = folder / "cadence.yaml"
    config.write_text(f"crm:\n  type: local\n{crm}" + CADENCE, encoding="utf-8")
    return config


def test_a_contacts_file_outside_the_config_folder_is_refused_and_never_shown(tmp_path: Path) -> None:
    """`contacts: /etc/passwd` passed `check` and `plan` printed its first line; now both exit 2 at the line."""
    config = workspace(tmp_path, "  contacts: /etc/passwd\n")
    for command in ("check", "plan"):
        result = cli(command, config, "--now", MONDAY) if command == "plan" else cli(command, config)
        assert result.returncode == 2, result.stderr
        assert f"{config}:3:13: crm.contacts: '/etc/passwd' is outside the config's folder" in result.stderr
        assert "root:" not in result.stdout + result.stderr and "Traceback" not in result.stderr


def test_a_tasks_file_outside_the_config_folder_is_never_written(tmp_path: Path) -> None:
    """`tasks: ../../anything` was overwritten by a sync; now the sync refuses it and touches nothing."""
    victim = tmp_path / "anything"
    victim.write_text("precious\n", encoding="utf-8")
    config = workspace(tmp_path, "  tasks: ../anything\n")
    result = cli("sync", config, "--now", MONDAY)
    assert result.returncode == 2, result.stderr
    assert f"{config}:3:10: crm.tasks: '../anything' is outside the config's folder" in result.stderr
    assert victim.read_text(encoding="utf-8") == "precious\n"
    assert not (config.parent / "cadence-state.sqlite").exists()


def test_a_symlink_leading_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("id,first_name\nsecret-row,Secret\n", encoding="utf-8")
    config = workspace(tmp_path, "  contacts: people.csv\n")
    (config.parent / "people.csv").symlink_to(secret)
    result = cli("check", config)
    assert result.returncode == 2 and "crm.contacts: 'people.csv' is outside the config's folder" in result.stderr
    # and the default file names too, when the CRM is built from settings that bypass the config loader
    from connector.crm.base import ConfigError
    from connector.crm.local import LocalCRM

    (config.parent / "tasks.csv").symlink_to(tmp_path / "elsewhere.csv")
    with pytest.raises(ConfigError, match=r"crm\.tasks: 'tasks\.csv' leads outside the config's folder"):
        LocalCRM({}, base_dir=config.parent)


def test_files_inside_the_folder_and_the_explicit_option_still_work(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "contacts.csv").write_text(CONTACTS, encoding="utf-8")
    config = workspace(tmp_path, f"  contacts: {shared / 'contacts.csv'}\n  allow_outside_folder: true\n")
    assert cli("check", config).returncode == 0
    (tmp_path / "x").mkdir()
    inside = workspace(tmp_path / "x", "  contacts: ./sub/../contacts.csv\n  tasks: out/tasks.csv\n")
    (inside.parent / "sub").mkdir()
    (inside.parent / "out").mkdir()
    result = cli("sync", inside, "--now", MONDAY)
    assert result.returncode == 0, result.stderr
    assert (inside.parent / "out" / "tasks.csv").exists()
