"""The HubSpot token (the canary) never shows in reprs, errors, CLI output, log lines or the state file."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from support.hubspot import CANARY_TOKEN, env_for, make_crm, prepare

from connector.configfile import load_config
from connector.crm.hubspot.adapter import HubSpotCRM
from connector.crm.hubspot.settings import HubSpotSettings, Secret, load_settings
from connector.sync import run_sync

try:  # the session-wide secret scan, when the plugin module is importable
    from support.secret_scan import scan_text
except ImportError:  # pragma: no cover
    def scan_text(text: Any, where: str = "") -> list:
        return []

NOW = "2026-03-02T14:00:00Z"
NOW_DT = datetime(2026, 3, 2, 14, 0, tzinfo=timezone.utc)
CONFIG = """\
crm:
  type: hubspot
calendar: {timezone: America/New_York, country: US}
cadences:
  - id: outreach
    name: Outreach
    enroll_when: {all: [{property: lifecycle_stage, equals: lead}]}
    steps:
      - {id: call, channel: call, subject: "Call {{contact.first_name}} at {{contact.company}}", skip_if: [no_phone]}
      - {id: email, channel: email, wait: 2 business days, subject: "Follow up with {{contact.full_name}}"}
"""


def no_canary(text: str | bytes, where: str) -> None:
    """Assert the canary is absent, without ever putting it into an assertion message."""
    found = scan_text(text, where)
    data = text.encode("utf-8", "replace") if isinstance(text, str) else text
    assert not found and CANARY_TOKEN.encode() not in data, f"the token leaked into {where}"


@pytest.fixture
def portal(hubspot_emulator: Any, tmp_path: Path) -> tuple[Any, Path]:
    """An emulated portal that accepts the canary, with an owner and three leads; a config for it."""
    emu = hubspot_emulator
    prepare(emu)
    owner = emu.seed_owners(1, seed=2)[0]["id"]
    for first, phone in (("Maya", "+12125550147"), ("Oliver", "+442079460123"), ("Priya", "")):
        emu.create_contact({"firstname": first, "lastname": "Example", "email": f"{first.lower()}@example.com",
                            "phone": phone, "company": "Northwind", "lifecyclestage": "lead", "hubspot_owner_id": owner})
    config = tmp_path / "cadence.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    return emu, config


def _env(emu: Any) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("HUBSPOT_")} | env_for(emu)


def _cli(emu: Any, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "connector.cli", *args], env=_env(emu),
                          capture_output=True, text=True, timeout=120)


def test_reprs_of_the_adapter_its_settings_and_its_secret_hide_the_token(portal: tuple[Any, Path]) -> None:
    """repr()/str()/format() of HubSpotCRM, its settings, its Secret and what load_settings returns never contain the token."""
    emu, _ = portal
    crm = make_crm(emu)
    settings, secret, base_url = load_settings({}, env_for(emu))
    assert secret.reveal() == CANARY_TOKEN and crm._token == secret  # the real token is in there...
    shown = {
        "repr(crm)": repr(crm), "str(crm)": str(crm), "vars(crm)": repr(vars(crm)),
        "repr(settings)": repr(crm.settings), "str(settings)": str(crm.settings),
        "settings json": crm.settings.model_dump_json(), "schema": json.dumps(HubSpotSettings.model_json_schema()),
        "repr(secret)": repr(secret), "str(secret)": str(secret), "f-string": f"{secret} {secret!r} {secret!s}",
        "format": format(secret), "load_settings": repr((settings, secret, base_url)),
        "in a container": repr({"token": secret, "list": [secret]}),
    }
    for where, text in shown.items():  # ...and none of these shows it
        no_canary(text, where)
    assert repr(Secret(CANARY_TOKEN)) == "Secret('********')"


def test_401_fails_the_run_with_an_error_that_names_the_problem_not_the_token(
        portal: tuple[Any, Path], caplog: pytest.LogCaptureFixture) -> None:
    """A revoked token ends the run 'failed' with a 401 error naming the token problem; report, logs and tracebacks hold no token."""
    emu, config = portal
    crm = make_crm(emu)
    emu.revoke_token(CANARY_TOKEN)
    caplog.set_level(logging.DEBUG)
    report = run_sync(load_config(config), now=NOW_DT, crm=crm)
    assert report.status == "failed"
    assert any("401" in e and "token" in e for e in report.errors), report.errors
    no_canary(report.to_text(), "report text")
    no_canary(json.dumps(report.to_dict(), default=str), "report json")
    no_canary(caplog.text, "log records (DEBUG, with tracebacks)")
    for record in caplog.records:
        no_canary(repr(record.__dict__), f"log record {record.name} attributes")


def test_cli_sync_after_401_names_the_problem_on_stderr_without_the_token(portal: tuple[Any, Path]) -> None:
    """`cadence sync` with a revoked token exits 1; stderr says the token was rejected (401) and neither stream contains it."""
    emu, config = portal
    emu.revoke_token(CANARY_TOKEN)
    for extra in ((), ("--json", "--log-format", "json")):
        result = _cli(emu, "sync", str(config), "--now", NOW, *extra)
        no_canary(result.stdout, f"cadence sync {' '.join(extra)} stdout (401)")
        no_canary(result.stderr, f"cadence sync {' '.join(extra)} stderr (401)")
        assert result.returncode == 1, result.stderr
        assert "401" in result.stderr and "token" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


def test_cli_sync_json_output_and_json_log_lines_hold_no_token(portal: tuple[Any, Path]) -> None:
    """`cadence sync --json --log-format json` creates the tasks; its JSON report and every JSON log line are free of the token."""
    emu, config = portal
    make_crm(emu)  # accepts the canary and creates the task-key property
    result = _cli(emu, "sync", str(config), "--now", NOW, "--json", "--log-format", "json")
    no_canary(result.stdout, "cadence sync --json stdout")
    no_canary(result.stderr, "cadence sync --log-format json stderr")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["status"] == "ok" and report["counts"]["created"] == 3
    lines = result.stderr.splitlines()
    assert lines and all(isinstance(json.loads(line), dict) for line in lines)
    text = _cli(emu, "sync", str(config), "--now", NOW, "--log-format", "text")
    no_canary(text.stdout + text.stderr, "cadence sync --log-format text")
    assert text.returncode == 0


def test_cli_setup_hubspot_output_holds_no_token(portal: tuple[Any, Path]) -> None:
    """`cadence setup hubspot` prints what it did (and, with a revoked token, why it failed) without the token."""
    emu, config = portal
    ok = _cli(emu, "setup", "hubspot", str(config))
    no_canary(ok.stdout + ok.stderr, "cadence setup hubspot")
    assert ok.returncode == 0 and "ok: token accepted" in ok.stdout, ok.stderr
    emu.revoke_token(CANARY_TOKEN)
    refused = _cli(emu, "setup", "hubspot", str(config))
    no_canary(refused.stdout + refused.stderr, "cadence setup hubspot (401)")
    assert refused.returncode == 1 and "401" in refused.stderr and "Traceback" not in refused.stderr, refused.stderr


def test_state_file_and_its_neighbours_hold_no_token_after_a_hubspot_sync(portal: tuple[Any, Path]) -> None:
    """After a HubSpot sync (and a failed one), no byte of the SQLite state file, its journal or lock files contains the token."""
    emu, config = portal
    loaded = load_config(config)
    report = run_sync(loaded, now=NOW_DT, crm=make_crm(emu))
    assert report.ok and report.counts["created"] == 3, report.to_text()
    emu.revoke_token(CANARY_TOKEN)
    assert run_sync(loaded, now=NOW_DT.replace(hour=15), crm=make_crm_unchecked(emu)).status == "failed"
    files = [p for p in config.parent.rglob("*") if p.is_file()]
    assert any(p.name.endswith(".sqlite") for p in files), files
    for path in files:
        no_canary(path.read_bytes(), f"state directory file {path.name}")


def test_network_failure_errors_hold_no_token(portal: tuple[Any, Path]) -> None:
    """When HubSpot cannot be reached the run fails with a network error that does not carry the token."""
    emu, config = portal
    crm = make_crm(emu)
    emu.stop()
    crm.call.max_retries = 0
    report = run_sync(load_config(config), now=NOW_DT, crm=crm)
    assert report.status == "failed" and report.errors, report.to_text()
    no_canary(report.to_text(), "report after a network failure")


def make_crm_unchecked(emu: Any) -> HubSpotCRM:
    """An adapter for the canary without `setup()` (which would fail once the token is revoked)."""
    return HubSpotCRM.from_config({}, env=env_for(emu), sleep=lambda s: None, backoff=0.0)


@pytest.mark.parametrize("status", [400, 404, 407, 409])
@pytest.mark.parametrize("path", ["/crm/v3/properties/tasks/groups", "/crm/v3/owners"])
def test_cli_setup_hubspot_behind_a_proxy_echoing_headers_holds_no_token(portal: tuple[Any, Path], status: int,
                                                                         path: str) -> None:
    """A proxy that echoes the request's headers (Authorization included) in an unexpected 4xx made
    `cadence setup hubspot` print the token in a traceback; now one line, no token, exit 1."""
    from support.echo_proxy import echo_proxy

    emu, config = portal
    with echo_proxy(emu.base_url, echo_on=path, status=status) as proxy:
        env = _env(emu) | {"HUBSPOT_BASE_URL": proxy}
        result = subprocess.run([sys.executable, "-m", "connector.cli", "setup", "hubspot", str(config)], env=env,
                                capture_output=True, text=True, timeout=120)
    no_canary(result.stdout + result.stderr, f"cadence setup hubspot behind an echoing proxy ({status} on {path})")
    assert result.returncode == 1, result.stderr[-3000:].replace(CANARY_TOKEN, "<CANARY>")
    assert "Traceback" not in result.stderr and f"{status}" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.parametrize("path", ["/crm/v3/objects/tasks/batch/create", "/crm/v3/objects/contacts"])
def test_a_sync_behind_a_proxy_echoing_headers_keeps_the_token_out_of_reports_and_logs(
        portal: tuple[Any, Path], path: str, caplog: pytest.LogCaptureFixture) -> None:
    """An unexpected 4xx whose headers and body echo the request's Authorization: the error the
    run records, its log lines (checked as emitted, by the secret scan) and the report hold no token."""
    from support.echo_proxy import echo_proxy

    emu, config = portal
    make_crm(emu)  # the portal set up, straight to the emulator
    caplog.set_level(logging.DEBUG)
    with echo_proxy(emu.base_url, echo_on=path, status=400) as proxy:
        crm = HubSpotCRM.from_config({}, env=env_for(emu) | {"HUBSPOT_BASE_URL": proxy}, sleep=lambda s: None, backoff=0.0)
        report = run_sync(load_config(config), now=NOW_DT, crm=crm)
    assert report.errors, report.to_text()
    no_canary(report.to_text(), f"report after an echoed 400 on {path}")
    no_canary(json.dumps(report.to_dict(), default=str), f"report JSON after an echoed 400 on {path}")
    no_canary(caplog.text, f"log lines after an echoed 400 on {path}")
    assert "400" in report.to_text()
