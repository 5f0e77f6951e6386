"""The commands with `state:` on PostgreSQL: sync, plan (writes nothing), status; the password never shows."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from support.local import cadence, make_workspace

from connector.configfile import load_config
from connector.store_factory import open_store, state_location

PASSWORD = "pw-never-shown-7431"


def with_password(url: str) -> str:
    """The URL with a password (the test server trusts local connections and ignores it)."""
    parts = urlsplit(url)
    user, _, host = parts.netloc.rpartition("@")
    return urlunsplit((parts.scheme, f"{user or 'postgres'}:{PASSWORD}@{host}", parts.path, parts.query, parts.fragment))


def test_sync_plan_and_status_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    url = with_password(pg_url)
    config = make_workspace(tmp_path / "ws", url)
    ws = config.parent
    synced = cadence(ws, "sync", str(config), "--now", "2026-03-02T14:00:00Z", "--json")
    assert synced.returncode == 0, synced.stderr
    planned = cadence(ws, "plan", str(config), "--now", "2026-03-04T14:00:00Z", "--json")
    assert planned.returncode == 0, planned.stderr
    status = cadence(ws, "status", str(config), "--json")
    assert status.returncode == 0, status.stderr
    for out in (synced, planned, status):
        assert PASSWORD not in out.stdout + out.stderr
    data = json.loads(status.stdout)
    assert ":***@" in data["state_file"] and data["state_file"].startswith("postgresql://")
    assert not (ws / "cadence-state.sqlite").exists()
    store = open_store(state_location(load_config(config), env={"CADENCE_STATE": url}), "local")
    try:
        runs = store.runs()
        assert [r.status for r in runs] == ["ok"]  # the plan left no run, no intent, nothing
        assert len(store.ledger(["created"])) == len((ws / "tasks.csv").read_text(encoding="utf-8-sig").splitlines()) - 1
    finally:
        store.close()


def test_a_missing_state_variable_is_bad_input(tmp_path: Path) -> None:
    """`state: {env: VAR}` with VAR unset: one line naming the variable, exit 2."""
    config = make_workspace(tmp_path / "ws", "postgresql://unused")
    (config.parent / "state-url").unlink()
    result = cadence(config.parent, "sync", str(config), "--now", "2026-03-02T14:00:00Z")
    assert result.returncode == 2, result.stderr
    assert "CADENCE_STATE is not set" in result.stderr and "Traceback" not in result.stderr
