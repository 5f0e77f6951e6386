"""`cadence preview` through the real CLI in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

EXAMPLE = str(Path(__file__).parent.parent / "examples" / "recruiting.yaml")


def cadence(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "connector.cli", *args], capture_output=True, text=True, timeout=60)


def test_preview_json_lists_every_touch_in_contact_local_time():
    """--json gives step, channel, due_local (with offset) and due_utc for each touch, in order."""
    out = cadence("preview", EXAMPLE, "--cadence", "passive-outreach", "--start", "2026-12-21",
                  "--timezone", "Europe/London", "--country", "GB", "--json")
    assert out.returncode == 0, out.stderr
    touches = json.loads(out.stdout)
    assert [t["step"] for t in touches] == sorted(t["step"] for t in touches)
    for t in touches:
        local = datetime.fromisoformat(t["due_local"])
        assert local.utcoffset() is not None
        assert local == datetime.fromisoformat(t["due_utc"])
        assert local.weekday() < 5
        if t["channel"] == "call":
            assert 8 <= local.hour < 21


def test_preview_names_skipped_holidays():
    """A cadence running over Christmas in the UK says which holidays it skipped."""
    out = cadence("preview", EXAMPLE, "--cadence", "passive-outreach", "--start", "2026-12-21",
                  "--timezone", "Europe/London", "--country", "GB", "--json")
    skipped = [s for t in json.loads(out.stdout) for s in t["skipped_days"]]
    assert any("Christmas Day" in s for s in skipped)


def test_preview_unknown_cadence_is_a_clear_error():
    """An unknown --cadence exits 2 naming the cadences there are, without a traceback."""
    out = cadence("preview", EXAMPLE, "--cadence", "nope")
    assert out.returncode == 2
    assert "passive-outreach" in out.stderr and "Traceback" not in out.stderr


def test_preview_table_shows_weekday_and_channel():
    """The table view shows weekdays and channels for a person to read."""
    out = cadence("preview", EXAMPLE, "--cadence", "warm-referral", "--start", "2026-03-02")
    assert out.returncode == 0, out.stderr
    assert "Mon" in out.stdout and "call" in out.stdout
