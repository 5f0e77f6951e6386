"""Config errors name the file, line, column and field path, with a message a person can act on."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.configfile import ConfigFileError, Problem, load_config

VALID = """\
version: 1
scripts:
  intro:
    subject: "Call {{contact.first_name}}"
cadences:
  - id: outreach
    name: Outreach
    steps:
      - id: call
        channel: call
        wait: 2 days
        script: intro
      - id: email
        channel: email
        wait: 1 week
        subject: "Hi {{contact.first_name}}"
"""


def problems(tmp_path: Path, text: str, files: dict[str, str] | None = None) -> list[Problem]:
    """Write the config (and any extra files) to tmp_path and return the problems loading it raises."""
    for name, content in (files or {}).items():
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
    path = tmp_path / "cadence.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigFileError) as caught:
        load_config(path)
    return caught.value.problems


def only(found: list[Problem]) -> Problem:
    assert len(found) == 1, [str(p) for p in found]
    return found[0]


def test_valid_base_config_loads(tmp_path: Path) -> None:
    """The base text every error test edits is itself valid."""
    path = tmp_path / "cadence.yaml"
    path.write_text(VALID)
    assert load_config(path).config.cadences[0].id == "outreach"


def test_unknown_key_points_at_the_key_with_did_you_mean(tmp_path: Path) -> None:
    """A misspelt key is located at the key and suggests the model's nearest field name."""
    p = only(problems(tmp_path, VALID.replace("        wait: 2 days", "        wiat: 2 days")))
    assert (p.line, p.col, p.path) == (11, 9, "cadences[0].steps[0].wiat")
    assert p.message == "unknown key; did you mean 'wait'?"
    assert str(p) == f"{tmp_path / 'cadence.yaml'}:11:9: cadences[0].steps[0].wiat: unknown key; did you mean 'wait'?"


def test_bad_duration_points_at_the_value(tmp_path: Path) -> None:
    """An unparseable wait names the value and shows how durations are written."""
    p = only(problems(tmp_path, VALID.replace("wait: 1 week", "wait: 1 fortnight")))
    assert (p.line, p.col, p.path) == (15, 15, "cadences[0].steps[1].wait")
    assert "'1 fortnight' is not a duration" in p.message and "2 business days" in p.message


def test_bad_time_zone_suggests_the_iana_name(tmp_path: Path) -> None:
    """A wrong calendar time zone is located at its value with a did-you-mean."""
    text = VALID.replace("version: 1\n", "version: 1\ncalendar:\n  timezone: America/NewYork\n")
    p = only(problems(tmp_path, text))
    assert (p.line, p.col, p.path) == (3, 13, "calendar.timezone")
    assert p.message == "unknown time zone 'America/NewYork'; did you mean 'America/New_York'?"


def test_bad_country_code(tmp_path: Path) -> None:
    """An unknown country code is located at its value and says which codes are meant."""
    text = VALID.replace("version: 1\n", "version: 1\ncalendar:\n  country: XX\n")
    p = only(problems(tmp_path, text))
    assert (p.line, p.col, p.path) == (3, 12, "calendar.country")
    assert "unknown or unsupported country code 'XX'" in p.message


def test_bad_template_variable_in_yaml(tmp_path: Path) -> None:
    """An unknown {{variable}} in a subject is located at the subject with a did-you-mean."""
    p = only(problems(tmp_path, VALID.replace("Call {{contact.first_name}}", "Call {{contact.frist_name}}")))
    assert (p.line, p.col, p.path) == (4, 14, "scripts.intro.subject")
    assert p.message == "unknown template variable {{contact.frist_name}}; did you mean {{contact.first_name}}?"


def test_bad_template_variables_in_markdown_body_name_the_md_file_and_line(tmp_path: Path) -> None:
    """Every unknown variable in a body file is reported at its own line and column of the .md file."""
    text = VALID.replace('    subject: "Call {{contact.first_name}}"\n', '    subject: "Call"\n    body_file: scripts/intro.md\n')
    body = "# Call {{contact.first_name}}\n\nAsk {{ owner.frist }} and\nthank {{referer.full_name}}.\n"
    found = problems(tmp_path, text, {"scripts/intro.md": body})
    md = str(tmp_path / "scripts" / "intro.md")
    assert [(p.file, p.line, p.col, p.path) for p in found] == [
        (md, 3, 5, "scripts.intro.body_file"),
        (md, 4, 7, "scripts.intro.body_file"),
    ]
    assert "did you mean {{owner.first_name}}?" in found[0].message
    assert "did you mean {{referrer.full_name}}?" in found[1].message


def test_missing_body_file_is_located_at_the_body_file_key(tmp_path: Path) -> None:
    """A body_file that does not exist is reported at its value, with a nearby file suggested."""
    text = VALID.replace('    subject: "Call {{contact.first_name}}"\n', '    subject: "Call"\n    body_file: scripts/intro.md\n')
    p = only(problems(tmp_path, text, {"scripts/intro_call.md": "hello"}))
    assert (p.file, p.line, p.col, p.path) == (str(tmp_path / "cadence.yaml"), 5, 16, "scripts.intro.body_file")
    assert p.message == f"file not found: {tmp_path / 'scripts' / 'intro.md'}; did you mean 'scripts/intro_call.md'?"


def test_body_and_body_file_together_is_an_error(tmp_path: Path) -> None:
    """A script gives its body inline or in a file, not both."""
    text = VALID.replace('    subject: "Call {{contact.first_name}}"\n', '    subject: "Call"\n    body: hi\n    body_file: b.md\n')
    p = only(problems(tmp_path, text, {"b.md": "hello"}))
    assert (p.line, p.path, p.message) == (6, "scripts.intro.body_file", "give `body` or `body_file`, not both")


def test_unknown_script_reference_points_at_the_step(tmp_path: Path) -> None:
    """A step naming a script that does not exist is located at its `script` value."""
    p = only(problems(tmp_path, VALID.replace("script: intro", "script: intro-call")))
    assert (p.line, p.col, p.path) == (12, 17, "cadences[0].steps[0].script")
    assert p.message == "unknown script 'intro-call'; did you mean 'intro'?"


@pytest.mark.parametrize(
    ("addition", "line", "path"),
    [
        ("    referral_cadence: outreachh\n", 8, "cadences[0].referral_cadence"),
        ("    not_now: {snooze: 30 days, reengage_into: nurture}\n", 8, "cadences[0].not_now.reengage_into"),
    ],
)
def test_unknown_cadence_reference(tmp_path: Path, addition: str, line: int, path: str) -> None:
    """referral_cadence and not_now.reengage_into must name a cadence in the file."""
    text = VALID.replace("    name: Outreach\n", "    name: Outreach\n" + addition)
    p = only(problems(tmp_path, text))
    assert (p.line, p.path) == (line, path)
    assert "unknown cadence" in p.message and ("did you mean 'outreach'?" in p.message or "known: outreach" in p.message)


def test_wrong_type_says_what_was_expected(tmp_path: Path) -> None:
    """A value of the wrong type says what is expected and what was given."""
    text = VALID.replace("version: 1\n", "version: 1\nguards:\n  daily_capacity: lots\n")
    p = only(problems(tmp_path, text))
    assert (p.line, p.col, p.path) == (3, 19, "guards.daily_capacity")
    assert p.message == "expected a whole number, got 'lots'"


def test_missing_required_key_points_at_the_parent_mapping(tmp_path: Path) -> None:
    """A missing required key is reported at the mapping that should hold it."""
    p = only(problems(tmp_path, VALID.replace("        channel: email\n", "")))
    assert (p.line, p.col, p.path) == (13, 9, "cadences[0].steps[1].channel")
    assert p.message == "missing required key 'channel'"


def test_missing_cadences_points_at_the_top(tmp_path: Path) -> None:
    """A config without cadences is told so at line 1."""
    p = only(problems(tmp_path, "version: 1\n"))
    assert (p.line, p.col, p.path, p.message) == (1, 1, "cadences", "missing required key 'cadences'")


def test_literal_error_lists_the_allowed_values(tmp_path: Path) -> None:
    """A value outside a fixed set lists the allowed values and the nearest one."""
    p = only(problems(tmp_path, VALID.replace("channel: email", "channel: e-mail")))
    assert (p.line, p.col, p.path) == (14, 18, "cadences[0].steps[1].channel")
    assert p.message == "value 'e-mail' is not allowed; use one of: call, email, linkedin, meeting, todo; did you mean 'email'?"


def test_skip_if_union_reports_one_problem_for_a_bad_name(tmp_path: Path) -> None:
    """A misspelt skip_if name gives one message (not one per union member) with a did-you-mean."""
    p = only(problems(tmp_path, VALID.replace("        script: intro\n", "        script: intro\n        skip_if: [no_fone]\n")))
    assert (p.line, p.col, p.path) == (13, 19, "cadences[0].steps[0].skip_if[0]")
    assert p.message.endswith("did you mean 'no_phone'?")


def test_condition_alias_in_maps_to_its_yaml_key(tmp_path: Path) -> None:
    """Errors on the `in` operator (field `in_`) are located at the YAML `in` key's value."""
    text = VALID.replace("    name: Outreach\n", "    name: Outreach\n    enroll_when:\n      all:\n        - {property: country, in: US}\n")
    p = only(problems(tmp_path, text))
    assert (p.line, p.col, p.path, p.message) == (10, 35, "cadences[0].enroll_when.all[0].in", "expected a list, got 'US'")


def test_model_level_error_points_at_the_condition(tmp_path: Path) -> None:
    """A condition with two operators is located at the condition mapping."""
    text = VALID.replace("    name: Outreach\n", "    name: Outreach\n    enroll_when:\n      any:\n        - property: country\n          equals: US\n          exists: true\n")
    p = only(problems(tmp_path, text))
    assert (p.line, p.col, p.path) == (10, 11, "cadences[0].enroll_when.any[0]")
    assert p.message.startswith("give exactly one of")


def test_unknown_outcome_key_points_at_the_key(tmp_path: Path) -> None:
    """A bad key in `on:` is located at the key itself and suggests the outcome meant."""
    text = VALID.replace("    name: Outreach\n", "    name: Outreach\n    on:\n      replyed: finish\n")
    p = only(problems(tmp_path, text))
    assert (p.line, p.col, p.path) == (9, 7, "cadences[0].on.replyed")
    assert p.message.startswith("key 'replyed' is not allowed") and p.message.endswith("did you mean 'replied'?")


def test_duplicate_ids_point_at_the_second_use(tmp_path: Path) -> None:
    """A step id or cadence id used twice is reported where it is used the second time."""
    text = VALID.replace("      - id: email\n", "      - id: call\n") + VALID.split("cadences:\n")[1].replace("name: Outreach", "name: Again")
    found = problems(tmp_path, text)
    assert [(p.line, p.path) for p in found] == [
        (13, "cadences[0].steps[1].id"),
        (17, "cadences[1].id"),
    ]
    assert found[0].message == "step id 'call' is used twice (first at line 9)"
    assert found[1].message == "cadence id 'outreach' is used twice (first at line 6)"


def test_duplicate_yaml_keys_are_all_reported(tmp_path: Path) -> None:
    """Every repeated key in the YAML is an error located at the repeat."""
    text = VALID.replace("        wait: 2 days\n", "        wait: 2 days\n        wait: 3 days\n").replace(
        "    name: Outreach\n", "    name: Outreach\n    name: Again\n"
    )
    found = problems(tmp_path, text)
    assert [(p.line, p.col, p.path) for p in found] == [(8, 5, "cadences[0].name"), (13, 9, "cadences[0].steps[0].wait")]
    assert found[1].message == "duplicate key (first given at line 12)"


def test_yaml_syntax_error_has_the_parser_location(tmp_path: Path) -> None:
    """Unparseable YAML is one problem at the line and column the parser reports."""
    p = only(problems(tmp_path, VALID.replace("    name: Outreach", "    name: Outreach: again")))
    assert (p.line, p.col, p.path) == (7, 19, "")
    assert p.message == "YAML syntax error: mapping values are not allowed here"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "the file is empty; a config needs at least a `cadences:` list"),
        ("# nothing but a comment\n", "the file is empty; a config needs at least a `cadences:` list"),
        ("- a\n- b\n", "expected settings (key: value) at the top level, got a list"),
    ],
)
def test_empty_or_non_mapping_file(tmp_path: Path, content: str, message: str) -> None:
    """An empty file or one without top-level settings is one problem at line 1."""
    p = only(problems(tmp_path, content))
    assert (p.line, p.col, p.message) == (1, 1, message)


def test_missing_file_is_a_problem_not_a_traceback(tmp_path: Path) -> None:
    """A config path that does not exist raises ConfigFileError naming it."""
    with pytest.raises(ConfigFileError) as caught:
        load_config(tmp_path / "nope.yaml")
    assert str(caught.value) == f"{tmp_path / 'nope.yaml'}:1:1: no such file"


def test_all_problems_are_reported_in_file_order(tmp_path: Path) -> None:
    """Several independent mistakes are all reported at once, sorted by line, in plain words."""
    text = (
        VALID.replace("version: 1\n", "version: 1\ncalendar:\n  timezone: Europe/Berln\n  country: XX\n")
        .replace("wait: 2 days", "wait: soon")
        .replace("script: intro", "script: intro2")
        .replace("        channel: email\n", "        chanel: email\n")
    )
    found = problems(tmp_path, text)
    assert [p.path for p in found] == [
        "calendar.timezone",
        "calendar.country",
        "cadences[0].steps[0].wait",
        "cadences[0].steps[0].script",
        "cadences[0].steps[1].channel",
        "cadences[0].steps[1].chanel",
    ]
    assert [p.line for p in found] == sorted(p.line for p in found)
    for p in found:
        assert "Value error" not in p.message and "http" not in p.message and "Input should" not in p.message


def test_config_file_error_message_lists_every_problem(tmp_path: Path) -> None:
    """str(ConfigFileError) is one FILE:LINE:COL line per problem."""
    text = VALID.replace("wait: 2 days", "wait: soon").replace("wait: 1 week", "wait: later")
    with pytest.raises(ConfigFileError) as caught:
        (tmp_path / "c.yaml").write_text(text)
        load_config(tmp_path / "c.yaml")
    lines = str(caught.value).splitlines()
    assert len(lines) == 2 and all(line.startswith(f"{tmp_path / 'c.yaml'}:") for line in lines)


def test_body_file_outside_the_config_folder_is_refused(tmp_path):
    """A body_file that is absolute or climbs out of the config's folder is a located error, not read."""
    from connector.configfile import ConfigFileError, load_config

    for name in ("/etc/hostname", "../outside.md"):
        (tmp_path / "outside.md").write_text("hi", encoding="utf-8")
        sub = tmp_path / "cfg"
        sub.mkdir(exist_ok=True)
        path = sub / "c.yaml"
        path.write_text(
            "scripts:\n  s:\n    subject: Hi\n    body_file: " + name + "\n"
            "cadences:\n  - id: a\n    name: A\n    steps: [{id: x, channel: call, script: s}]\n", encoding="utf-8")
        try:
            load_config(path)
        except ConfigFileError as err:
            (problem,) = err.problems
            assert (problem.line, problem.path) == (4, "scripts.s.body_file") and "outside" in problem.message
        else:
            raise AssertionError(f"{name} was accepted")


def test_complex_key_is_a_located_problem(tmp_path):
    """A mapping used as a key (`? all:` in YAML) is reported at its line, not as a crash (found by Hypothesis)."""
    from connector.configfile import ConfigFileError, load_config

    path = tmp_path / "c.yaml"
    path.write_text("cadences:\n  - id: a\n    ? all:\n      - x\n    name: A\n", encoding="utf-8")
    try:
        load_config(path)
    except ConfigFileError as err:
        (problem,) = err.problems
        assert problem.line == 3 and "plain name" in problem.message
    else:
        raise AssertionError("accepted")
