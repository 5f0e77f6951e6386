"""`cadence agenda` and `cadence report`: what recruiters and their leads look at.

Both read the state file only (what the last sync planned and what the CRM last said):
no CRM request, nothing written to the state.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import click

from connector.clikit import echo_json, fail, load_config_or_exit, parse_now


def _state(config: Path) -> Any:
    from connector.crm.base import ConfigError
    from connector.views.state import open_state

    loaded = load_config_or_exit(config)
    try:
        return open_state(loaded)
    except ConfigError as exc:
        fail(str(exc))


def _owners(view: Any, owner: str | None) -> list[Any]:
    if not owner:
        return [o for o in view.owners.values() if o.id or any(t.owner_id == "" for t in view.tasks)]
    found = view.find_owner(owner)
    if not found:
        known = ", ".join(f"{o.name} ({o.id})" for o in view.owners.values() if o.id) or "none yet: run `cadence sync` first"
        fail(f"--owner: no recruiter {owner!r} in {view.path} (known: {known})")
    if len(found) > 1:
        fail(f"--owner: {owner!r} matches {len(found)} recruiters ({', '.join(o.name for o in found)}); use the id")
    return found


@click.command("agenda")
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--owner", help="A recruiter: id, name, first name or email (default: everyone).")
@click.option("--day", "day", type=click.DateTime(["%Y-%m-%d"]), help="The day to show, YYYY-MM-DD (default: today).")
@click.option("--week", is_flag=True, help="The whole week (Monday to Sunday) holding --day or today.")
@click.option("--now", help="As of this ISO 8601 time (default: now): what counts as overdue and today.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def agenda_command(config: Path, owner: str | None, day: datetime | None, week: bool, now: str | None, as_json: bool) -> None:
    """A recruiter's tasks in their own time zone, grouped by day, overdue first.

    Each task shows the local time, channel, contact, phone or email and subject. Reads the
    state file only: no CRM request.

    \b
    Examples:
      cadence agenda examples/recruiting.yaml --owner Dana
      cadence agenda examples/recruiting.yaml --owner o3 --week
    """
    from connector.views import agenda
    from connector.views.runtext import terminal_width

    moment = parse_now(now)
    view = _state(config)
    try:
        owners = _owners(view, owner)
        agendas = agenda.build(view, owners, moment, day.date() if day else None, week)
    finally:
        view.store.close()
    if as_json:
        echo_json(agenda.to_dict(agendas, moment))
        return
    if not agendas:
        click.echo(f"no tasks in {view.path} yet: run `cadence sync {config}` first")
        return
    click.echo(agenda.render(agendas, moment, terminal_width()), nl=False)



@click.command("report")
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory for cadence-report.html (created when missing).")
@click.option("--weeks", default=6, show_default=True, type=click.IntRange(1, 26), help="Weeks shown per recruiter.")
@click.option("--now", help="As of this ISO 8601 time (default: now).")
def report_command(config: Path, out_dir: Path, weeks: int, now: str | None) -> None:
    """A static HTML report with pictures: each recruiter's weeks against capacity, each
    cadence's shape, a funnel per cadence and step with reply rates.

    One self-contained file (no script, no network needed to view it), from the state file
    only: no CRM request.

    \b
    Example:
      cadence report examples/recruiting.yaml --out report/
    """
    from connector.views import report

    moment = parse_now(now)
    view = _state(config)
    try:
        try:
            path = report.write(view, out_dir, moment, weeks)
        except OSError as exc:
            fail(f"--out: cannot write the report in {out_dir}: {exc.strerror or exc}")
    finally:
        view.store.close()
    click.echo(f"report written to {path}")
    click.echo(f"open it in a browser: file://{path.resolve()}")
