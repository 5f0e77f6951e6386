"""`cadence preview`: the calendar of touches for a sample contact who never answers."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, time, timezone
from typing import Any
from zoneinfo import ZoneInfo

import click
from rich.console import Console
from rich.table import Table

from connector.clikit import echo_json, fail, load_config_or_exit
from sequences._country_zones import COUNTRY_ZONE
from sequences.calendar import zone_or_none
from sequences.config import Condition, Rule
from sequences.preview import preview, sample_contact
from sequences.rules import holds, matches


@click.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False))
@click.option("--cadence", "cadence_id", help="cadence id (default: the first in the config)")
@click.option("--start", type=click.DateTime(["%Y-%m-%d"]), help="enrollment day, contact-local (default: today)")
@click.option("--timezone", "tz", default="", help="the sample contact's IANA zone (default: the country's, when it "
              "keeps one clock, else the config's)")
@click.option("--country", default="", help="the sample contact's country (ISO code), for holidays (default: the config's)")
@click.option("--set", "props", multiple=True, metavar="KEY=VALUE",
              help="a property of the sample contact, e.g. --set role=hiring_manager (repeatable)")
@click.option("--json", "as_json", is_flag=True, help="print a JSON list instead of a table")
def preview_command(config_path: str, cadence_id: str | None, start: datetime | None, tz: str, country: str,
                    props: tuple[str, ...], as_json: bool) -> None:
    """Show every touch a contact who never answers would get, and each skipped day.

    \b
    Examples:
      cadence preview examples/recruiting.yaml --cadence passive-outreach --start 2026-12-21 --country GB
      cadence preview examples/recruiting.yaml --cadence hiring-manager-checkin \\
          --set role=hiring_manager --set submission_status=submitted
    """
    config = load_config_or_exit(config_path).config
    cadence = config.cadence(cadence_id) if cadence_id else config.cadences[0]
    if cadence is None:
        fail(f"--cadence: no cadence {cadence_id!r} in {config_path} (have: {', '.join(c.id for c in config.cadences)})")
    if tz and zone_or_none(tz) is None:
        fail(f"--timezone: unknown time zone {tz!r} (use an IANA name such as 'Europe/Berlin')")
    code = (country or config.calendar.country).strip().upper()
    if country and code not in _countries():
        fail(f"--country: unknown country {country!r} (use an ISO 3166 code such as GB, DE or IN)")
    zone_name, zone_note = _zone_for(tz, country and code, config.calendar.timezone)
    contact = _with_properties(sample_contact(timezone=zone_name, country=code), props)
    zone = ZoneInfo(contact.timezone)
    day = start.date() if start else date.today()
    begin = datetime.combine(day, time(0, 0), tzinfo=zone).astimezone(timezone.utc)
    try:
        touches = preview(config, cadence.id, begin, contact)
    except ValueError as err:
        fail(f"{config_path}: {err}")
    notes = _explain(cadence, contact, touches)
    if as_json:
        echo_json([
            {"step": t.step, "step_id": t.step_id, "channel": t.channel, "due_local": t.due_local,
             "due_utc": t.due_utc.isoformat(), "timezone": t.timezone, "subject": t.subject,
             "skipped_days": list(t.skipped_days), "moves": list(t.moves)}
            for t in touches
        ])
        for note in notes:
            click.echo(f"note: {note}", err=True)
        return
    from connector.views.runtext import terminal_width

    console = Console(width=terminal_width(), highlight=False)
    console.print(f"{cadence.name} (v{cadence.version}) for a contact who never answers, "
                  f"enrolled {day:%a %d %b %Y}, in {contact.timezone} ({zone_note}), {code} holidays", soft_wrap=True)
    if touches:
        table = Table(box=None, header_style="bold", pad_edge=False)
        for col in ("step", "date", "day", "local time", "channel", "subject", "skipped / moved"):
            table.add_column(col, no_wrap=col not in ("subject", "skipped / moved"), overflow="fold")
        for t in touches:
            local = datetime.fromisoformat(t.due_local)
            table.add_row(str(t.step), f"{local:%Y-%m-%d}", f"{local:%a}", f"{local:%H:%M}", t.channel, t.subject,
                          "\n".join(t.skipped_days + t.moves))
        console.print(table)
    for note in notes:
        console.print(note, soft_wrap=True)


def _countries() -> set[str]:
    """ISO 3166 codes (tzdata's table): what --country accepts."""
    from importlib.resources import files

    table = files("tzdata").joinpath("zoneinfo/iso3166.tab").read_text(encoding="utf-8")
    return {line.split("\t", 1)[0] for line in table.splitlines() if line and not line.startswith("#")}


def _zone_for(tz: str, country: str, default: str) -> tuple[str, str]:
    """(zone, how it was chosen): --timezone, else the country's one clock, else the config's."""
    if tz:
        return tz, "--timezone"
    if country and country in COUNTRY_ZONE:
        return COUNTRY_ZONE[country], f"{country} keeps one clock"
    if country:
        return default, f"{country} has several time zones: the config's; choose one with --timezone"
    return default, "the config's time zone"


def _with_properties(contact: Any, props: tuple[str, ...]) -> Any:
    fields = {f.name for f in dataclasses.fields(contact)} - {"id", "properties", "opted_out", "do_not_contact",
                                                              "last_reply_at", "last_meeting_at", "modified_at",
                                                              "deleted", "merged_into"}
    changes: dict[str, str] = {}
    extra = dict(contact.properties)
    for item in props:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            fail(f"--set: {item!r} is not KEY=VALUE (e.g. --set role=hiring_manager)")
        if key in fields:
            changes[key] = value.strip()
        extra[key] = value.strip()
    return dataclasses.replace(contact, **changes, properties=extra)


def _describe(cond: Condition) -> str:
    for name, word in (("equals", "equals"), ("not_equals", "is not"), ("in_", "is one of"), ("not_in", "is none of"),
                       ("contains", "contains")):
        value = getattr(cond, name)
        if value is not None:
            shown = ", ".join(value) if isinstance(value, list) else value
            return f"{cond.property} {word} {shown}"
    return f"{cond.property} {'is set' if cond.exists else 'is empty'}"


def _rule_text(rule: Rule, contact: Any, want: bool) -> str:
    """The conditions of a rule that stand in the way (want=True: those not holding)."""
    parts = [_describe(c) for c in rule.all if holds(c, contact) != want]
    if want and rule.any and not any(holds(c, contact) for c in rule.any):
        parts.append("one of: " + " / ".join(_describe(c) for c in rule.any))
    return "; ".join(parts) or "its conditions"


def _example_sets(rule: Rule) -> str:
    sets = [f"--set {c.property}={c.equals or (c.in_ or [''])[0]}" for c in rule.all if c.equals or c.in_]
    return " ".join(sets)


def _explain(cadence: Any, contact: Any, touches: list[Any]) -> list[str]:
    """Why the sample gets no touch (or would not be enrolled), in words, with the flags that change it."""
    notes = []
    enroll, leave = cadence.enroll_when, cadence.exit_when
    if enroll is not None and not matches(enroll, contact):
        hint = _example_sets(enroll)
        notes.append(f"note: a real contact like this sample would not be enrolled in {cadence.id}: the enrollment rule "
                     f"needs {_rule_text(enroll, contact, True)}" + (f" (try {hint})" if hint else ""))
    if not touches:
        if leave is not None and matches(leave, contact):
            hint = " ".join(f"--set {c.property}={c.not_equals}" for c in leave.all if c.not_equals)
            notes.insert(0, f"no touches: the sample contact matches the exit rule of {cadence.id} "
                            f"({_rule_text(leave, contact, False)}), so it leaves at once"
                            + (f"; try {hint}" if hint else "; set its properties with --set KEY=VALUE"))
        else:
            notes.insert(0, f"no touches: every step of {cadence.id} is skipped for the sample contact "
                            "(skip rules or opt-outs); set its properties with --set KEY=VALUE")
    return notes
