"""The real `cadence` command for fleet tests, with a pause injected into the syncs it runs.

    python tests/fleet_launch.py [--pause-at POINT:SECONDS] -- worker FLEET ...

Kept for tests that launch it by this path; the launcher itself is tests/support/launch.py.
"""

from __future__ import annotations

import sys

from support.launch import run

if __name__ == "__main__":
    run(sys.argv[1:])
