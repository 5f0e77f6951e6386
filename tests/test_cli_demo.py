"""`cadence demo`: the HubSpot path end to end against the bundled emulator, in a subprocess."""

from __future__ import annotations

import re
import subprocess
import sys


def test_demo_runs_the_hubspot_sync_idempotently_and_shows_the_next_step():
    """The demo creates tasks, creates nothing on the second run, and shows a next step after a completion."""
    out = subprocess.run([sys.executable, "-m", "connector.cli", "demo"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    first = re.search(r"First sync: .*created (\d+)", out.stdout)
    second = re.search(r"Second sync, nothing changed: .*created (\d+), closed 0, (\d+) HubSpot requests", out.stdout)
    after = re.search(r"Sync after the recruiter's work: .*created (\d+)", out.stdout)
    assert first and int(first.group(1)) > 0
    assert second and second.group(1) == "0" and int(second.group(2)) <= 3
    assert after and int(after.group(1)) == 1
    assert "next step for" in out.stdout and "Traceback" not in out.stderr
