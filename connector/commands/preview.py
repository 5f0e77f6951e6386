"""`cadence preview`: the calendar of touches for a sample contact who never answers."""

from __future__ import annotations

from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo

import click
from rich.console import Console
from rich.table import Table

from connector.clikit import echo_json, fail, load_config_or_exit
from sequences.calendar import zone_or_none
from sequences.preview import preview, sample_contact


@click.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False))
@click.option("--cadence", "cadence_id", help="cadence id (default: the first in the config)")
@click.option("--start", type=click.DateTime(["%Y-%m-%d"]), help="enrollment day, contact-local (default: today)")
@click.option("--timezone", "tz", default="", help="the sample contact's IANA zone (default: the config's)")
@click.option("--country", default="", help="the sample contact's country, for holidays (default: the config's)")
@click.option("--json", "as_json", is_flag=True, help="print a JSON list instead of a table")
def preview_command(config_path: str, cadence_id: str | None, start: datetime | None, tz: str, country: str, as_json: bool) -> None:
    """Show every touch a contact who never answers would get, and each skipped day.

    \b
    Example:
      cadence preview examples/recruiting.yaml --cadence passive-outreach --start 2026-12-21 --country GB
    """
    config = load_config_or_exit(config_path).config
    cadence = config.cadence(cadence_id) if cadence_id else config.cadences[0]
    if cadence is None:
        fail(f"--cadence: no cadence {cadence_id!r} in {config_path} (have: {', '.join(c.id for c in config.cadences)})")
    if tz and zone_or_none(tz) is None:
        fail(f"--timezone: unknown time zone {tz!r} (use an IANA name such as 'Europe/Berlin')")
    contact = sample_contact(timezone=tz or config.calendar.timezone, country=(country or config.calendar.country).upper())
    zone = ZoneInfo(contact.timezone)
    day = start.date() if start else date.today()
    begin = datetime.combine(day, time(0, 0), tzinfo=zone).astimezone(timezone.utc)
    try:
        touches = preview(config, cadence.id, begin, contact)
    except ValueError as err:
        fail(f"{config_path}: {err}")
    if as_json:
        echo_json([
            {"step": t.step, "step_id": t.step_id, "channel": t.channel, "due_local": t.due_local,
             "due_utc": t.due_utc.isoformat(), "timezone": t.timezone, "subject": t.subject,
             "skipped_days": list(t.skipped_days), "moves": list(t.moves)}
            for t in touches
        ])
        return
    table = Table(title=f"{cadence.name} (v{cadence.version}) for a contact who never answers, in {contact.timezone}")
    for col in ("step", "date", "day", "local time", "channel", "subject", "skipped / moved"):
        table.add_column(col)
    for t in touches:
        local = datetime.fromisoformat(t.due_local)
        table.add_row(str(t.step), f"{local:%Y-%m-%d}", f"{local:%a}", f"{local:%H:%M}", t.channel, t.subject,
                      "\n".join(t.skipped_days + t.moves))
    Console(width=140).print(table)
