"""`cadence setup hubspot`, `cadence emulator hubspot` and `cadence demo`."""

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
from connector.configfile import load_config
from connector.crm.base import ConfigError, CRMError
from connector.logs import redact

UTC = timezone.utc


@click.group("setup")
def setup_group() -> None:
    """Prepare a CRM account for crm-cadence."""


@setup_group.command("hubspot")
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False))
def setup_hubspot(config_path: str) -> None:
    """Check the token and scopes, and create the task-key property (idempotent).

    The token is read from HUBSPOT_ACCESS_TOKEN (or the variable `crm.token_env` names),
    never from the config file. HUBSPOT_BASE_URL points at another host, e.g. the emulator.
    """
    from connector.crm.hubspot.adapter import HubSpotCRM
    from connector.crm.hubspot.http import answer_text

    loaded = load_config_or_exit(config_path)
    if loaded.config.crm.type != "hubspot":
        fail(f"{config_path}: crm.type is {loaded.config.crm.type!r}; `setup hubspot` needs crm.type: hubspot")
    try:
        crm = HubSpotCRM.from_config(loaded.config.crm.model_dump(exclude={"type"}))
        for line in crm.setup().done:
            click.echo(line)
        owners = crm.list_owners()
    except ConfigError as err:
        fail(str(err))
    except CRMError as err:  # refused, rate-limited, unreachable: one line, the token never in it
        fail(redact(str(err)), code=1)
    except Exception as err:
        if getattr(err, "status", None) is None:
            raise
        fail(answer_text(err), code=1)  # an answer nobody expected (a proxy's 4xx...): status and message only
    click.echo(f"ok: token accepted, {len(owners)} owners visible, tasks can carry their key")


@click.group("emulator")
def emulator_group() -> None:
    """Local stand-ins for CRMs, for trying crm-cadence without an account."""


def _mount_emulator() -> None:
    from connector.crm.hubspot.emulator.cli import emulator_hubspot

    emulator_group.add_command(emulator_hubspot, "hubspot")


_mount_emulator()


# ------------------------------------------------------------------------------- demo

DEMO_CONFIG = """\
# Written by `cadence demo`: the HubSpot path against the bundled emulator.
crm:
  type: hubspot
  tier: pro
calendar: {timezone: America/New_York, country: US}
guards:
  min_gap: 1 day
  touch_budget: {touches: 3, per: 7 days}
  daily_capacity: 25
scripts:
  intro:
    subject: "Call {{contact.first_name}} at {{contact.company}}"
    body: |
      Introduce yourself and the role. Offer to do the legwork: "I'll send the details and follow up,
      so you don't have to chase anything."
    objections:
      - objection: "I don't know of any jobs."
        answer: "No problem. Who do you think I should speak to?"
      - objection: "I don't do the hiring."
        answer: "Understood. Who does? I'd be grateful for a name."
cadences:
  - id: passive-outreach
    name: Passive candidate outreach
    enroll_when: {all: [{property: email, exists: true}], any: [{property: lifecycle_stage, in: [lead, subscriber, marketingqualifiedlead, salesqualifiedlead]}]}
    steps:
      - {id: intro-call, channel: call, script: intro, priority: high, skip_if: [no_phone]}
      - {id: follow-up-email, channel: email, wait: 2 business days, subject: "{{contact.first_name}}, following up"}
      - {id: linkedin, channel: linkedin, wait: 3 days, subject: "Connect with {{contact.full_name}}"}
"""


@click.command("demo")
@click.option("--contacts", default=12, show_default=True, help="sample contacts in the emulated portal")
@click.option("--seed", default=7, show_default=True, help="seed for the sample data")
def demo_command(contacts: int, seed: int) -> None:
    """Run the HubSpot sync end to end against the bundled emulator (no account needed).

    Starts the emulator with sample contacts, syncs a simulated Monday, shows the tasks as
    HubSpot holds them, runs again to show nothing is duplicated, then has a recruiter
    complete a task and shows the next step appearing two business days later.
    """
    from connector.crm.hubspot.emulator import HubSpotEmulator
    from connector.sync import run_sync

    console = Console(width=130)
    start = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)  # a Monday, 08:00 in New York
    emu = HubSpotEmulator(rate_limit="pro")
    clock = emu.freeze_clock(start - timedelta(days=1))
    emu.seed_owners(3, seed=seed)
    emu.seed_contacts(contacts, seed=seed)
    emu.start()
    try:
        with tempfile.TemporaryDirectory(prefix="cadence-demo-") as tmp:
            path = Path(tmp) / "demo.yaml"
            path.write_text(DEMO_CONFIG, encoding="utf-8")
            env = dict(os.environ, HUBSPOT_ACCESS_TOKEN=emu.token or "", HUBSPOT_BASE_URL=emu.base_url)
            loaded = load_config(path)
            from connector.crm.hubspot.adapter import HubSpotCRM

            setup_crm = HubSpotCRM.from_config(loaded.config.crm.model_dump(exclude={"type"}), env=env)
            setup_crm.setup()
            console.rule(f"HubSpot emulator at {emu.base_url} with {contacts} contacts")

            def sync(now: datetime, title: str) -> Any:
                clock.set_wall(now)
                before = emu.total_requests()
                report = run_sync(loaded, now=now, env=env)
                console.print(f"[bold]{title}[/]: {now:%a %d %b %H:%M} UTC: created {report.counts['created']}, "
                              f"closed {report.counts['closed']}, {emu.total_requests() - before} HubSpot requests, "
                              f"status {report.status}")
                return report

            sync(start, "First sync")
            _show_tasks(console, emu, "Tasks in HubSpot after the first sync")
            sync(start + timedelta(minutes=5), "Second sync, nothing changed")
            task_id = _first_open_task(emu)
            if task_id is None:
                console.print("no task was created: nothing more to show")
                return
            done_at = start + timedelta(hours=2)
            clock.set_wall(done_at)
            emu.complete_task(task_id, at=done_at)
            contact = emu.contacts_for_task(task_id)
            console.print(f"A recruiter completes task {task_id} (contact {contact[0] if contact else '?'}), no answer.")
            report = sync(start + timedelta(hours=3), "Sync after the recruiter's work")
            for note in list(report.skipped) + list(report.notes):
                console.print(f"  {note}")
            for item in report.created:
                console.print(f"  next step for {item.contact_name or item.contact_id}: {item.channel} due {item.due_text}")
            _show_tasks(console, emu, "Open tasks in HubSpot now", only_open=True)
    finally:
        emu.stop()


def _tasks(emu: Any) -> list[tuple[str, dict]]:
    """(id, properties) of the live tasks in the emulator, oldest first."""
    ids = sorted(int(i) for i in emu.state.stores["tasks"].records)
    return [(str(i), emu.get_task(i) or {}) for i in ids]


def _first_open_task(emu: Any) -> str | None:
    """The open task the demo's recruiter completes: a call, of the contact with the lowest id.

    Chosen by contact, not by task id: task ids follow the push order, which follows the task
    keys, which include the emulator's (random) port, so "the first task" changed from run to
    run, and some contacts have no next step to show.
    """
    open_tasks = [(tid, props) for tid, props in _tasks(emu) if props.get("hs_task_status") != "COMPLETED"]
    calls = [tid for tid, props in open_tasks if props.get("hs_task_type") == "CALL"] or [tid for tid, _ in open_tasks]

    def contact_order(tid: str) -> tuple[int, str]:
        contacts = emu.contacts_for_task(tid)
        return (min((int(c) for c in contacts), default=1 << 62), tid)

    return min(calls, key=contact_order, default=None)


def _show_tasks(console: Console, emu: Any, title: str, only_open: bool = False) -> None:
    from zoneinfo import ZoneInfo

    from connector.crm.hubspot.mapping import parse_time, to_contact
    from connector.crm.hubspot.settings import ContactProperties
    from sequences.calendar import resolve_zone

    owners = {o["id"]: f"{o.get('firstName', '')} {o.get('lastName', '')}".strip() for o in emu.state.owners}
    table = Table(title=title)
    for col in ("task", "contact", "owner", "due (contact-local)", "type", "status", "subject"):
        table.add_column(col)
    for task_id, props in _tasks(emu):
        if only_open and props.get("hs_task_status") == "COMPLETED":
            continue
        contact_ids = emu.contacts_for_task(task_id)
        cprops = (emu.get_contact(contact_ids[0]) if contact_ids else None) or {}
        zone, _ = resolve_zone(to_contact(contact_ids[0] if contact_ids else "", cprops, ContactProperties()),
                               "America/New_York")
        due = parse_time(props.get("hs_timestamp"))
        local = due.astimezone(ZoneInfo(zone)) if due else None
        name = f"{cprops.get('firstname') or ''} {cprops.get('lastname') or ''}".strip()
        table.add_row(task_id, name, owners.get(props.get("hubspot_owner_id") or "", ""),
                      f"{local:%a %d %b %H:%M} {zone}" if local else "", props.get("hs_task_type") or "",
                      props.get("hs_task_status") or "", props.get("hs_task_subject") or "")
    console.print(table)
