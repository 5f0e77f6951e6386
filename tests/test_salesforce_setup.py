"""`cadence setup salesforce` and `cadence demo salesforce`, in a subprocess against the emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from support.salesforce import env_for, make_crm, prepare
from support.secret_scan import scan_text

from connector.crm.salesforce.emulator import SalesforceEmulator

ROOT = Path(__file__).resolve().parent.parent
CONFIG = """\
crm:
  type: salesforce
  auth: client_credentials
  domain: acme.my
  outcome_field: Outcome__c
  channel_types: {linkedin: LinkedIn}
  fields: {referred_by: Referred_By__c}
cadences:
  - id: c
    name: C
    steps: [{id: s, channel: call, subject: Call}]
"""


def setup(config: Path, emu: SalesforceEmulator) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SALESFORCE_")} | env_for(emu)
    return subprocess.run([sys.executable, "-m", "connector.cli", "setup", "salesforce", str(config)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=60)


def test_setup_says_exactly_what_an_admin_must_add(tmp_path: Path) -> None:
    """An org without the task-key field, the outcome field, a Type value and a Contact field: each is named with
    where to add it (exit 1); once the admin has added them, setup says the org is ready (exit 0)."""
    with SalesforceEmulator(task_key_field=None) as emu:
        prepare(emu)
        emu.remove_field("Contact", "Referred_By__c")
        config = tmp_path / "cadence.yaml"
        config.write_text(CONFIG, encoding="utf-8")

        before = setup(config, emu)
        scan_text(before.stdout + before.stderr, "setup output")
        assert before.returncode == 1, before.stderr
        missing = [line for line in before.stdout.splitlines() if line.startswith("missing:")]
        assert len(missing) == 4, before.stdout
        assert "Activity > Fields & Relationships > New > Text" in missing[0] and "TaskKey__c" in missing[0]
        assert "'External ID'" in missing[0] and "'Unique'" in missing[0]
        assert any("'LinkedIn' to the Task Type picklist" in m for m in missing)
        assert any("outcome field Outcome__c is not on Task" in m for m in missing)
        assert any("Contact has no field Referred_By__c" in m for m in missing)

        emu.add_field("Task", "TaskKey__c", external=True, unique=False)
        emu.add_field("Task", "Outcome__c", picklist=["Connected", "Not now"])
        emu.add_picklist_value("Task", "Type", "LinkedIn")
        emu.add_field("Contact", "Referred_By__c")
        after = setup(config, emu)
        assert after.returncode == 0, after.stdout + after.stderr
        assert "warning: TaskKey__c is not Unique" in after.stdout
        assert after.stdout.rstrip().endswith("ok: the org is ready for crm-cadence")


def test_setup_report_of_a_ready_org(salesforce_emulator: SalesforceEmulator) -> None:
    report = make_crm(salesforce_emulator).setup()
    assert report.ok and not report.warnings, report
    assert any("External ID, Unique" in line for line in report.done)


def test_demo_salesforce_runs_end_to_end() -> None:
    proc = subprocess.run([sys.executable, "-m", "connector.cli", "demo", "salesforce", "--contacts", "6"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "First sync" in proc.stdout and "created 6" in proc.stdout
    assert "Second sync, nothing changed" in proc.stdout and "next step for" in proc.stdout


def test_status_needs_no_credentials(tmp_path: Path) -> None:
    """`cadence status` of a Salesforce config (no `account:`) with no SALESFORCE_* variable set finds the
    state a sync wrote: the account comes from the config alone (the sign-in domain), as for HubSpot."""
    from support.salesforce import START, env_for

    from connector.configfile import load_config
    from connector.sync import run_sync

    config = tmp_path / "cadence.yaml"
    config.write_text(CONFIG.replace("  outcome_field: Outcome__c\n", "")
                      .replace("steps: [{id: s, channel: call, subject: Call}]",
                               "enroll_when: {all: [{property: email, exists: true}]}\n"
                               "    steps: [{id: s, channel: call, subject: Call}]"), encoding="utf-8")
    with SalesforceEmulator() as emu:
        emu.freeze_clock(START.timestamp())
        prepare(emu)
        emu.add_picklist_value("Task", "Type", "LinkedIn")
        emu.add_field("Contact", "Referred_By__c")
        emu.seed_contacts(3, seed=1)
        report = run_sync(load_config(config), now=START, env=env_for(emu))
        assert report.status == "ok" and report.counts["created"] == 3, report.errors

    env = {k: v for k, v in os.environ.items() if not k.startswith("SALESFORCE_")}
    status = subprocess.run([sys.executable, "-m", "connector.cli", "status", str(config), "--json"], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=60)
    assert status.returncode == 0, status.stderr
    assert "Traceback" not in status.stderr
    data = json.loads(status.stdout)
    assert data["account"] == "salesforce:acme.my.salesforce.com"
    assert data["enrollments"] == [{"cadence": "c", "count": 3, "status": "active", "step": "s", "version": 1}]
    assert [r["counts"]["created"] for r in data["runs"]] == [3]


def test_account_from_the_config_alone() -> None:
    """The account id `account_for` derives matches the signed-in adapter's, for each sign-in mode."""
    from connector.crm.salesforce import SalesforceCRM

    assert SalesforceCRM.account_for({"auth": "client_credentials", "domain": "acme.my"}, env={}) == \
        "salesforce:acme.my.salesforce.com"
    assert SalesforceCRM.account_for({"username": "Cadence@Acme.com"}, env={}) == \
        "salesforce:login.salesforce.com/cadence@acme.com"  # orgs share login.salesforce.com: the user tells them apart
    assert SalesforceCRM.account_for({"auth": "session"}, env={"SALESFORCE_INSTANCE_URL": "https://x.my.salesforce.com/"}) \
        == "salesforce:x.my.salesforce.com"
    with SalesforceEmulator() as emu:
        for auth in ("client_credentials", "session"):
            crm = make_crm(emu, auth)
            raw = crm.settings.model_dump()
            assert crm.account_id() == SalesforceCRM.account_for(raw, env=env_for(emu, auth))


def test_check_reports_bad_salesforce_settings_at_their_keys(tmp_path: Path) -> None:
    """`cadence check` validates the crm: block of a Salesforce config without any secret: each problem at its
    file:line:col and key, exit 2."""
    config = tmp_path / "cadence.yaml"
    config.write_text(CONFIG.replace("  domain: acme.my\n", "  domain: login\n  objects: [Contact, Lead, Lead]\n"),
                      encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SALESFORCE_")}
    check = subprocess.run([sys.executable, "-m", "connector.cli", "check", str(config)], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 2 and "Traceback" not in check.stderr
    assert check.stderr.splitlines() == [
        f"{config}:5:12: crm.objects: each object once (Contact, Lead)",
        f"{config}:4:11: crm.domain: the client credentials flow signs in at your My Domain (e.g. acme.my), not login "
        "or test"]
    config.write_text(CONFIG.replace("  domain: acme.my\n", "  domain: acme.my\n  objects: [Contact, Lead]\n"),
                      encoding="utf-8")
    ok = subprocess.run([sys.executable, "-m", "connector.cli", "check", str(config)], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr


def test_setup_an_unexpected_answer_is_one_line_without_a_secret(tmp_path: Path) -> None:
    """A 4xx nobody expected (a proxy, a gateway) while setup reads the org: one line with the
    status, exit 1, no traceback and no secret (the secret scan reads the output)."""
    with SalesforceEmulator() as emu:
        prepare(emu)
        config = tmp_path / "cadence.yaml"
        config.write_text(CONFIG, encoding="utf-8")
        emu.faults.fail_next(1, status=400, path_glob="*describe*")
        result = setup(config, emu)
        scan_text(result.stdout + result.stderr, "setup output after a 400")
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        assert "Salesforce answered 400" in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
