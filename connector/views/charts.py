"""The report's pictures, drawn with matplotlib as static SVG (text kept as text).

matplotlib is the long-kept standard for static charts: its SVG needs no script and no
network to view, so the report stays one self-contained file. Figures are built with the
object API (no pyplot, no global state, no display), and each SVG gets its own id salt
so several can sit inline in one page without their ids clashing.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Colormap, Normalize
    from matplotlib.figure import Figure

CHANNEL_COLOURS = {"call": "#1f77b4", "email": "#2ca02c", "linkedin": "#0a66c2", "meeting": "#9467bd", "todo": "#8c564b"}
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _svg(fig: object, salt: str) -> str:
    """The figure as an inline <svg> element (no XML prolog, no fixed pixel size)."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": salt, "font.family": "DejaVu Sans"}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")  # type: ignore[attr-defined]
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r"\s*<metadata>.*?</metadata>", "", text, count=1, flags=re.S)  # RDF boilerplate
    # scale with the page: keep the viewBox, drop the fixed width/height in points
    return re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r'<svg\1 role="img"', text, count=1)


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=96)


@dataclass(frozen=True)
class DayLoad:
    day: date
    due: int  # tasks due that day (done or open)
    past: bool
    today: bool


def heatmap(owner_name: str, days: Sequence[DayLoad], capacity: int, salt: str) -> str:
    """Weeks as rows, Monday to Sunday as columns; colour = share of the daily capacity."""
    from matplotlib.colors import Normalize
    from matplotlib.patches import Rectangle

    weeks = max(1, len(days) // 7)
    fig = _figure(7.2, 0.55 * weeks + 0.9)
    ax = fig.add_subplot()
    cmap = _cmap()
    norm = Normalize(0, 1)
    for i, d in enumerate(days):
        row, col = divmod(i, 7)
        share = d.due / capacity if capacity else 0
        colour = "#eeeeee" if d.past else (cmap(norm(min(share, 1.0))) if d.due else "#ffffff")
        ax.add_patch(Rectangle((col, row), 0.96, 0.92, facecolor=colour, edgecolor="#222222" if d.today else "#cccccc",
                               linewidth=2.0 if d.today else 0.6))
        label = f"{d.day:%d %b}" if d.day.day == 1 or i == 0 else f"{d.day:%d}"
        ax.text(col + 0.06, row + 0.22, label, fontsize=7, color="#666666", va="center", ha="left")
        if d.due:
            over = capacity and d.due > capacity
            ax.text(col + 0.48, row + 0.6, f"{d.due}" + ("!" if over else ""), fontsize=10, ha="center", va="center",
                    color="white" if share >= 0.6 and not d.past else "#222222", fontweight="bold" if over else "normal")
    ax.set_xlim(-0.05, 7)
    ax.set_ylim(weeks, -0.05)
    ax.set_xticks([i + 0.48 for i in range(7)], WEEKDAYS)
    ax.xaxis.tick_top()
    ax.set_yticks([])
    ax.tick_params(length=0, labelsize=9)
    for spine in ax.spines.values():
        spine.set_visible(False)
    sm = _scalar_mappable(cmap, norm)
    bar = fig.colorbar(sm, ax=ax, fraction=0.04, pad=0.02)
    bar.set_label(f"share of capacity ({capacity}/day)", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    ax.set_title(f"{owner_name}: tasks per day", fontsize=10, loc="left", pad=18)
    return _svg(fig, salt)


def _cmap() -> Colormap:
    from matplotlib import colormaps

    return colormaps["YlOrRd"]


def _scalar_mappable(cmap: Colormap, norm: Normalize) -> ScalarMappable:
    from matplotlib.cm import ScalarMappable

    return ScalarMappable(norm=norm, cmap=cmap)


@dataclass(frozen=True)
class ShapePoint:
    step: int
    step_id: str
    channel: str
    local: datetime  # due, contact-local
    wait: str


def shape(title: str, start: date, points: Sequence[ShapePoint], salt: str) -> str:
    """The steps of a cadence on a timeline of days after enrollment, one marker per touch."""
    fig = _figure(7.2, 1.9)
    ax = fig.add_subplot()
    span = max([(p.local.date() - start).days for p in points] + [7])
    ax.axhline(0, color="#999999", linewidth=1, zorder=1)
    for n, p in enumerate(points):
        x = (p.local.date() - start).days + p.local.hour / 24
        colour = CHANNEL_COLOURS.get(p.channel, "#555555")
        ax.scatter([x], [0], s=90, color=colour, zorder=3, edgecolors="white", linewidths=1)
        up = 1 if n % 2 == 0 else -1
        ax.annotate(f"{p.step}. {p.step_id}\n{p.channel}, {p.local:%a %H:%M}", (x, 0), xytext=(0, 16 * up),
                    textcoords="offset points", ha="center", va="bottom" if up > 0 else "top", fontsize=7.5, color=colour)
    ax.set_xlim(-1, span + 2)
    ax.set_ylim(-1, 1)
    ax.set_yticks([])
    ax.set_xlabel("days after enrollment", fontsize=8)
    ax.tick_params(labelsize=8)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.set_title(title, fontsize=10, loc="left")
    return _svg(fig, salt)


def funnel(title: str, rows: Sequence[tuple[str, int, int, int, int, int]], salt: str) -> str:
    """Per step: planned, done, replied or met, not now, left (grouped horizontal bars)."""
    import numpy as np

    series = ("planned", "done", "replied / meeting", "not now", "left")
    colours = ("#c6dbef", "#4292c6", "#2ca02c", "#ff7f0e", "#d62728")
    fig = _figure(7.2, 0.55 * len(rows) + 1.2)
    ax = fig.add_subplot()
    y = np.arange(len(rows))
    height = 0.16
    for k, (name, colour) in enumerate(zip(series, colours, strict=True)):
        values = [r[k + 1] for r in rows]
        bars = ax.barh(y + (k - 2) * height, values, height=height, color=colour, label=name)
        ax.bar_label(bars, labels=[str(v) if v else "" for v in values], fontsize=6.5, padding=2)
    ax.set_yticks(y, [r[0] for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.tick_params(axis="x", labelsize=7)
    for side in ("right", "top"):
        ax.spines[side].set_visible(False)
    ax.legend(fontsize=7, ncols=5, loc="upper left", bbox_to_anchor=(0, -0.06 - 0.3 / max(len(rows), 1)), frameon=False)
    ax.set_title(title, fontsize=10, loc="left")
    return _svg(fig, salt)


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())
