"""`cadence setup salesforce`, `cadence emulator salesforce` and `cadence demo [hubspot|salesforce]`."""

from __future__ import annotations

import os
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from connector.clikit import fail, load_config_or_exit
from connector.commands.hubspot import demo_command, emulator_group, setup_group
from connector.configfile import load_config
from connector.crm.base import ConfigError, CRMError
from connector.logs import redact

UTC = timezone.utc


@setup_group.command("salesforce")
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False))
def setup_salesforce(config_path: str) -> None:
    """Check the org: the task-key External ID field, the picklist values the connector
    writes, the contact fields the config reads. Prints what an admin must add; exit 1 if
    anything is missing. Secrets come from the environment (see README, "Salesforce")."""
    from simple_salesforce.exceptions import SalesforceError

    from connector.crm.salesforce import SalesforceCRM
    from connector.crm.salesforce.http import error_message

    loaded = load_config_or_exit(config_path)
    if loaded.config.crm.type != "salesforce":
        fail(f"{config_path}: crm.type is {loaded.config.crm.type!r}; `setup salesforce` needs crm.type: salesforce")
    try:
        crm = SalesforceCRM.from_config(loaded.config.crm.model_dump(exclude={"type"}))
        report = crm.setup()
    except ConfigError as err:
        fail(str(err))
    except CRMError as err:  # refused, limited, unreachable: one line, never a secret
        fail(redact(str(err)), code=1)
    except SalesforceError as err:  # an answer nobody expected (a proxy's 4xx...): status and message only
        fail(redact(f"Salesforce answered {err.status}: {error_message(err)}"), code=1)
    for line in report.done:
        click.echo(f"ok: {line}")
    for line in report.warnings:
        click.echo(f"warning: {line}")
    for line in report.missing:
        click.echo(f"missing: {line}")
    if not report.ok:
        fail(f"the org is not ready: {len(report.missing)} thing(s) for an admin to add (above)", code=1)
    click.echo("ok: the org is ready for crm-cadence")


def _mount() -> None:
    from connector.crm.salesforce.emulator.cli import emulator_salesforce

    emulator_group.add_command(emulator_salesforce, "salesforce")


_mount()


# ------------------------------------------------------------------------------- demo

DEMO_CONFIG = """\
# Written by `cadence demo salesforce`: the Salesforce path against the bundled emulator.
crm:
  type: salesforce
  auth: client_credentials
  domain: emulator.my
calendar: {timezone: America/New_York, country: US}
guards:
  min_gap: 1 day
  touch_budget: {touches: 3, per: 7 days}
  daily_capacity: 25
cadences:
  - id: passive-outreach
    name: Passive candidate outreach
    enroll_when: {all: [{property: email, exists: true}]}
    steps:
      - {id: intro-call, channel: call, priority: high, subject: "Call {{contact.first_name}}", skip_if: [no_phone]}
      - {id: follow-up-email, channel: email, wait: 2 business days, subject: "{{contact.first_name}}, following up"}
      - {id: linkedin, channel: linkedin, wait: 3 days, subject: "Connect with {{contact.full_name}}"}
"""


class _DemoGroup(click.Group):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # `cadence demo --contacts 5` stays the HubSpot demo; `cadence demo salesforce ...` picks one
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["hubspot", *args]
        return super().parse_args(ctx, args)


@click.group("demo", cls=_DemoGroup, invoke_without_command=True)
@click.pass_context
def demo_group(ctx: click.Context) -> None:
    """Run a sync end to end against a bundled emulator (no account needed): `cadence demo`
    or `cadence demo hubspot` for HubSpot, `cadence demo salesforce` for Salesforce."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(demo_command)


demo_group.add_command(demo_command, "hubspot")


@demo_group.command("salesforce")
@click.option("--contacts", default=12, show_default=True, help="sample contacts in the emulated org")
@click.option("--seed", default=7, show_default=True, help="seed for the sample data")
def demo_salesforce(contacts: int, seed: int) -> None:
    """The Salesforce sync end to end against the bundled emulator: sign in by client
    credentials over HTTPS, check the org, sync a simulated Monday, sync again (nothing
    duplicated), then a recruiter logs a call and the next step appears."""
    from connector.crm.salesforce import SalesforceCRM
    from connector.crm.salesforce.emulator import SalesforceEmulator
    from connector.sync import run_sync

    console = Console(width=130)
    start = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)  # a Monday, 08:00 in New York
    emu = SalesforceEmulator(api_max=15_000)
    clock = emu.freeze_clock(start - timedelta(days=1))
    emu.seed_users(3, seed=seed)
    emu.seed_contacts(contacts, seed=seed)
    emu.start()
    try:
        with tempfile.TemporaryDirectory(prefix="cadence-demo-") as tmp:
            path = Path(tmp) / "demo.yaml"
            path.write_text(DEMO_CONFIG, encoding="utf-8")
            env = dict(os.environ, SALESFORCE_CONSUMER_KEY=emu.consumer_key,
                       SALESFORCE_CONSUMER_SECRET=emu.consumer_secret, SALESFORCE_LOGIN_URL=emu.base_url,
                       SALESFORCE_CA_BUNDLE=emu.ca_file)
            loaded = load_config(path)
            crm = SalesforceCRM.from_config(loaded.config.crm.model_dump(exclude={"type"}), env=env)
            report = crm.setup()
            crm.close()
            console.rule(f"Salesforce emulator at {emu.base_url} (TLS, test CA) with {contacts} contacts")
            for line in report.missing:
                console.print(f"missing: {line}")

            def sync(now: datetime, title: str) -> Any:
                clock.set_wall(now)
                before = emu.total_requests()
                result = run_sync(loaded, now=now, env=env)
                console.print(f"[bold]{title}[/]: {now:%a %d %b %H:%M} UTC: created {result.counts['created']}, "
                              f"closed {result.counts['closed']}, {emu.total_requests() - before} Salesforce requests "
                              f"(token included), status {result.status}")
                return result

            sync(start, "First sync")
            _show_tasks(console, emu, "Tasks in Salesforce after the first sync")
            sync(start + timedelta(minutes=5), "Second sync, nothing changed")
            task = next((t for t in emu.tasks() if not t["IsClosed"] and t.get("Type") == "Call"), None)
            if task is None:
                console.print("no call task was created: nothing more to show")
                return
            done_at = start + timedelta(hours=2)
            clock.set_wall(done_at)
            emu.complete_task(task["Id"], disposition="Left voicemail", at=done_at)
            console.print(f"A recruiter logs the call on task {task['Id']} (contact {task['WhoId']}): Left voicemail.")
            result = sync(start + timedelta(hours=3), "Sync after the recruiter's work")
            for item in result.created:
                console.print(f"  next step for {item.contact_name or item.contact_id}: {item.channel} due {item.due_text}")
            _show_tasks(console, emu, "Open tasks in Salesforce now", only_open=True)
    finally:
        emu.stop()


def _show_tasks(console: Console, emu: Any, title: str, only_open: bool = False) -> None:
    users = {u["Id"]: u["Name"] or f"{u['FirstName']} {u['LastName']}" for u in emu.records["User"].values()}
    contacts = emu.records["Contact"]
    table = Table(title=title)
    for col in ("task", "contact", "owner", "ActivityDate", "reminder (UTC)", "Type", "Priority", "Status", "Subject"):
        table.add_column(col)
    for t in emu.tasks():
        if only_open and t["IsClosed"]:
            continue
        who = contacts.get(t.get("WhoId") or "", {})
        table.add_row(t["Id"], who.get("Name") or "", users.get(t.get("OwnerId") or "", ""), t.get("ActivityDate") or "",
                      (t.get("ReminderDateTime") or "")[:16], t.get("Type") or "", t.get("Priority") or "",
                      t.get("Status") or "", t.get("Subject") or "")
    console.print(table)
