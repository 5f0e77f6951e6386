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


def test_preview_uses_the_zone_of_a_one_clock_country_and_says_so():
    """--country GB alone puts the sample in London (not New York) and the heading says why."""
    out = cadence("preview", EXAMPLE, "--cadence", "passive-outreach", "--start", "2026-12-21", "--country", "GB", "--json")
    assert out.returncode == 0, out.stderr
    assert {t["timezone"] for t in json.loads(out.stdout)} == {"Europe/London"}
    assert all(t["due_local"].endswith("+00:00") for t in json.loads(out.stdout))
    text = cadence("preview", EXAMPLE, "--cadence", "passive-outreach", "--start", "2026-12-21", "--country", "GB")
    assert "in Europe/London (GB keeps one clock), GB holidays" in text.stdout
    us = cadence("preview", EXAMPLE, "--cadence", "warm-referral", "--country", "US")
    assert "America/New_York (US has several time zones: the config's; choose one with --timezone)" in us.stdout


def test_preview_rejects_an_unknown_country():
    """--country XX is bad input (exit 2), not a silent fall back to US holidays."""
    out = cadence("preview", EXAMPLE, "--country", "XX")
    assert out.returncode == 2 and "unknown country 'XX'" in out.stderr and "Traceback" not in out.stderr


def test_preview_explains_an_empty_result_and_takes_sample_properties():
    """The hiring-manager check-in is empty for the default sample, and says which rule and which --set fixes it."""
    empty = cadence("preview", EXAMPLE, "--cadence", "hiring-manager-checkin", "--start", "2026-03-02")
    assert empty.returncode == 0, empty.stderr
    assert "no touches: the sample contact matches the exit rule of hiring-manager-checkin" in empty.stdout
    assert "--set submission_status=submitted" in empty.stdout
    full = cadence("preview", EXAMPLE, "--cadence", "hiring-manager-checkin", "--start", "2026-03-02", "--json",
                   "--set", "role=hiring_manager", "--set", "submission_status=submitted")
    assert [t["step_id"] for t in json.loads(full.stdout)] == ["review-checkin-call", "review-checkin-email",
                                                               "second-checkin-call"]
    assert full.stderr == ""  # the sample now matches the enrollment rule: nothing to note
    bad = cadence("preview", EXAMPLE, "--set", "role")
    assert bad.returncode == 2 and "KEY=VALUE" in bad.stderr


def test_preview_fits_the_width_it_is_given():
    """Piped output is at most 160 columns wide (no fixed 140-column table), and nothing is cut."""
    out = cadence("preview", EXAMPLE, "--cadence", "passive-outreach", "--start", "2026-12-21", "--country", "GB")
    table = [line for line in out.stdout.splitlines() if line.strip() and not line.startswith(("note", "Passive"))]
    assert max(len(line.rstrip()) for line in table) <= 160
    assert "Boxing Day (observed) (public holiday, GB)" in out.stdout
