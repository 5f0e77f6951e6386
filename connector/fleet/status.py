"""`cadence fleet status FLEET`: each account's last run, next run, lag and errors."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from croniter import croniter

from ..store_pg import connect as pg_connect
from .fleetfile import Fleet


def _period(cron: str, now: datetime, direction: str) -> datetime:
    it = croniter(cron, now)
    value = it.get_prev(datetime) if direction == "prev" else it.get_next(datetime)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def fleet_status(fleet: Fleet, now: datetime) -> list[dict[str, Any]]:
    """One row per account: last run (period, status, when it ended, worker), next period, lag (seconds
    the account is behind its schedule: the last period due minus the last period that ran ok), errors."""
    db = pg_connect(fleet.state.url)
    try:
        exists = db.execute("SELECT to_regclass('fleet_runs') AS t").fetchone()
        rows: list[dict[str, Any]] = []
        for account in fleet.accounts:
            last = ok = None
            failures: list[dict[str, Any]] = []
            if exists and exists["t"]:
                last = db.execute("SELECT * FROM fleet_runs WHERE account=%s ORDER BY id DESC LIMIT 1", (account.name,)).fetchone()
                ok = db.execute("SELECT max(period) AS p FROM fleet_runs WHERE account=%s AND status='ok'", (account.name,)).fetchone()
                failures = list(db.execute(
                    "SELECT period, status, error FROM fleet_runs WHERE account=%s AND status NOT IN ('ok','running','stopped') "
                    "AND id > coalesce((SELECT max(id) FROM fleet_runs WHERE account=%s AND status='ok'), 0) ORDER BY id DESC LIMIT 3",
                    (account.name, account.name)))
            due = _period(account.cron, now, "prev")
            last_ok = ok["p"] if ok and ok["p"] is not None else None
            lag = max(0.0, due.timestamp() - last_ok) if last_ok is not None else None
            rows.append({
                "account": account.name, "schedule": account.schedule,
                "last_run": None if last is None else {
                    "period": datetime.fromtimestamp(last["period"], tz=timezone.utc).isoformat(),
                    "status": last["status"], "started_at": last["started_at"], "ended_at": last["ended_at"],
                    "worker": last["worker"]},
                "next_run": _period(account.cron, now, "next").isoformat(),
                "lag_seconds": lag,
                "errors": [f["error"] or f["status"] for f in failures],
            })
        return rows
    finally:
        db.close()


def status_text(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'account':<20} {'last run':<34} {'next run':<26} {'lag':>8}  errors"]
    for r in rows:
        last = r["last_run"]
        last_text = "never" if last is None else f"{last['status']} ({last['period'][:19]})"
        lag = "-" if r["lag_seconds"] is None else f"{r['lag_seconds']:.0f}s"
        errors = "; ".join(r["errors"])[:120] or "-"
        lines.append(f"{r['account']:<20} {last_text:<34} {r['next_run'][:19]:<26} {lag:>8}  {errors}")
    return "\n".join(lines)
