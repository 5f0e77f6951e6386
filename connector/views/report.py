"""`cadence report`: one self-contained HTML file a team lead would rather look at than read.

Three pictures, from the state only (no CRM request):

- each recruiter's next weeks as a calendar heat map of tasks per day against capacity,
  with overdue and queued work beside it;
- each cadence's shape: its steps on a timeline, as `cadence preview` computes them for a
  contact who never answers;
- a funnel per cadence and step (planned, done, replied, meeting, not now, left by reason)
  with the reply rate per step.

The page holds its CSS and its SVG inline: no script, no font, no request to view it.
"""

from __future__ import annotations

import html
from collections import Counter
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

from sequences.config import Config

from . import charts
from .funnel import CadenceFunnel, funnels, percent
from .state import OwnerView, StateView, TaskView

REPORT_FILE = "cadence-report.html"

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#1f3b57;color:#fff;padding:18px 28px}header h1{margin:0 0 4px;font-size:22px}
header p{margin:0;opacity:.85;font-size:13px}main{padding:8px 28px 40px;max-width:1100px}
h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 4px}figure{margin:6px 0 14px;background:#fff;border:1px solid #e3e3e3;
border-radius:6px;padding:8px}figure svg{width:100%;height:auto;max-width:760px}
figcaption{font-size:13px;color:#444;margin-bottom:4px}.num{text-align:right;font-variant-numeric:tabular-nums}
table{border-collapse:collapse;font-size:13px;background:#fff;margin:6px 0 14px}
th,td{border:1px solid #e3e3e3;padding:3px 8px}th{background:#f0f3f6;text-align:left}
.overdue{color:#b00020;font-weight:600}.queued{color:#8a5a00}.muted{color:#777}
.cards{display:flex;flex-wrap:wrap;gap:14px}.cards figure{flex:0 1 500px}
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _day_loads(owner: OwnerView, tasks: list[TaskView], now: datetime, weeks: int) -> list[charts.DayLoad]:
    zone = owner.tz
    today = now.astimezone(zone).date()
    first = charts.week_start(today)
    counts: Counter = Counter()
    for t in tasks:
        if t.due_at is not None and t.state != "cancelled":
            counts[t.due_at.astimezone(zone).date()] += 1
    return [charts.DayLoad(d, counts[d], d < today, d == today)
            for d in (first + timedelta(days=i) for i in range(7 * weeks))]


def _recruiters(view: StateView, now: datetime, weeks: int) -> str:
    per_owner: dict[str, list[TaskView]] = {}
    for t in view.tasks:
        per_owner.setdefault(t.owner_id, []).append(t)
    queued = view.queued()
    rows, figures = [], []
    for owner in view.owners.values():
        tasks = per_owner.get(owner.id, [])
        if not owner.id and not tasks:
            continue
        overdue = sum(1 for t in tasks if t.is_open and t.due_at and t.due_at < now)
        open_ = sum(1 for t in tasks if t.is_open)
        done = sum(1 for t in tasks if t.state == "done")
        waiting = queued.get(owner.id, 0)
        rows.append(
            f'<tr data-owner="{_e(owner.id)}"><td>{_e(owner.name)}</td><td>{_e(owner.zone)}</td>'
            f'<td class="num">{owner.capacity}</td><td class="num">{open_}</td>'
            f'<td class="num overdue">{overdue}</td><td class="num queued">{waiting}</td><td class="num">{done}</td></tr>'
        )
        loads = _day_loads(owner, tasks, now, weeks)
        svg = charts.heatmap(owner.name, loads, owner.capacity, f"heat-{owner.id or 'none'}")
        figures.append(
            f'<figure class="heatmap" data-owner="{_e(owner.id)}"><figcaption><b>{_e(owner.name)}</b>, '
            f'{_e(owner.zone)}, capacity {owner.capacity} a day: '
            f'<span class="overdue">{overdue} overdue</span>, {open_} open, '
            f'<span class="queued">{waiting} queued</span> to start</figcaption>{svg}</figure>'
        )
    if not rows:
        return '<p class="muted">No tasks yet: run <code>cadence sync</code> first.</p>'
    table = ('<table class="recruiters"><thead><tr><th>recruiter</th><th>time zone</th><th>capacity / day</th>'
             '<th>open</th><th>overdue</th><th>queued</th><th>done</th></tr></thead><tbody>'
             + "".join(rows) + "</tbody></table>")
    return table + '<div class="cards">' + "".join(figures) + "</div>"


def _shape(config: Config, cadence_id: str, now: datetime) -> str:
    from zoneinfo import ZoneInfo

    from sequences.preview import preview, sample_contact

    cadence = config.cadence(cadence_id)
    assert cadence is not None
    contact = sample_contact(timezone=config.calendar.timezone, country=config.calendar.country)
    zone = ZoneInfo(contact.timezone)
    today = now.astimezone(zone).date()
    start_day = today + timedelta(days=(7 - today.weekday()) % 7 or 7)  # next Monday
    begin = datetime.combine(start_day, time(0, 0), tzinfo=zone).astimezone(timezone.utc)
    try:
        touches = preview(config, cadence.id, begin, contact)
    except ValueError as exc:
        return f'<p class="muted">No timeline: {_e(exc)}</p>'
    waits = {s.id: str(s.wait) for s in cadence.steps}
    points = [charts.ShapePoint(t.step, t.step_id, t.channel, datetime.fromisoformat(t.due_local), waits.get(t.step_id, ""))
              for t in touches]
    if not points:
        return '<p class="muted">No touches for a sample contact.</p>'
    svg = charts.shape(f"{cadence.name}: {len(points)} touches over "
                       f"{(points[-1].local.date() - start_day).days + 1} days", start_day, points, f"shape-{cadence.id}")
    return (f'<figure class="shape" data-cadence="{_e(cadence.id)}"><figcaption>Enrolled on {start_day:%a %d %b %Y}, '
            f'never answering, in {_e(contact.timezone)} ({_e(contact.country)} holidays)</figcaption>{svg}</figure>')


def _funnel(f: CadenceFunnel) -> str:
    rows = []
    for s in f.steps:
        left = sum(s.exited.values())
        why = "; ".join(f"{_e(r)} {n}" for r, n in s.exited.most_common())
        rows.append(
            f'<tr data-step="{_e(s.step_id)}"><td>{s.index + 1}. {_e(s.step_id)}</td><td>{_e(s.channel)}</td>'
            f'<td class="num">{s.planned}</td><td class="num">{s.touched}</td><td class="num">{s.open}</td>'
            f'<td class="num">{s.replied}</td><td class="num">{s.meeting}</td><td class="num">{s.not_now}</td>'
            f'<td class="num">{left}</td><td class="num reply-rate">{percent(s.reply_rate)}</td><td>{why}</td></tr>'
        )
    table = ('<table class="funnel-table"><thead><tr><th>step</th><th>channel</th><th>planned</th><th>done</th>'
             '<th>open</th><th>replied</th><th>meeting</th><th>not now</th><th>left</th><th>reply rate</th>'
             '<th>left because</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table>")
    endings = ", ".join(f"{_e(k)} {n}" for k, n in f.endings.most_common()) or "none yet"
    summary = (f'<p><b>{f.enrolled}</b> enrolled, <b>{f.active}</b> in progress; ended or paused: {endings}.</p>')
    if not f.enrolled:
        return summary + table
    svg = charts.funnel(f"{f.name}: per step", [
        (f"{s.index + 1}. {s.step_id}", s.planned, s.touched, s.replied + s.meeting, s.not_now, sum(s.exited.values()))
        for s in f.steps
    ], f"funnel-{f.cadence_id}")
    return summary + f'<figure class="funnel" data-cadence="{_e(f.cadence_id)}">{svg}</figure>' + table


def render(view: StateView, now: datetime, weeks: int = 6) -> str:
    """The whole report as one HTML document."""
    config = view.config
    cadence_parts = []
    for f in funnels(config, view.enrollments(), view.tasks):
        cadence_parts.append(
            f'<article class="cadence" id="cadence-{_e(f.cadence_id)}"><h3>{_e(f.name)} '
            f'<span class="muted">({_e(f.cadence_id)})</span></h3>'
            + _shape(config, f.cadence_id, now) + _funnel(f) + "</article>"
        )
    zone = config.calendar.timezone
    local_now = now.astimezone(charts_zone(zone))
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>crm-cadence report: {_e(view.account)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>crm-cadence report</h1><p>Account {_e(view.account)}, as of "
        f"{local_now:%a %d %b %Y %H:%M} {_e(zone)} ({now:%Y-%m-%d %H:%M} UTC). State: {_e(view.path)}</p></header><main>"
        f'<section id="recruiters"><h2>Recruiters: the next {weeks} weeks</h2>'
        "<p class=\"muted\">Tasks due per day in each recruiter's own time zone (done or open), against their daily "
        "capacity. A bold outline marks today; grey days are past; a ! marks a day over capacity.</p>"
        + _recruiters(view, now, weeks) + "</section>"
        '<section id="cadences"><h2>Cadences</h2>'
        "<p class=\"muted\">Each cadence's shape for a contact who never answers, then what happened to the people in "
        "it, per step. An outcome counts at the step whose task was open or last done when it arrived; the reply "
        "rate is replies and meetings per task done.</p>"
        + "".join(cadence_parts) + "</section></main></body></html>\n"
    )


def charts_zone(name: str) -> Any:
    from sequences.calendar import zone_or_none

    return zone_or_none(name) or timezone.utc


def write(view: StateView, out_dir: Path, now: datetime, weeks: int = 6) -> Path:
    """Write the report atomically (a temporary file renamed into place); return its path."""
    import os
    import tempfile

    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / REPORT_FILE
    text = render(view, now, weeks)
    fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=".cadence-report-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # a page to share, not a secret (mkstemp makes it 0600)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target

