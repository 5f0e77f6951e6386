"""The real `cadence` command for fleet tests, with a pause injected into the syncs it runs.

    python tests/fleet_launch.py [--pause-at POINT:SECONDS] -- worker FLEET ...

`--pause-at` makes every sync this process runs sleep at POINT (one of connector.sync.KILL_POINTS),
so that a test can SIGKILL the worker in the middle of a push.
"""

from __future__ import annotations

import os
import sys

from connector.cli import main


def run(argv: list[str]) -> None:
    options, args = ([], argv) if "--" not in argv else (argv[:argv.index("--")], argv[argv.index("--") + 1:])
    if options[:1] == ["--pause-at"]:
        os.environ["CADENCE_TEST_PAUSE_AT"] = options[1]  # read by the sync's test hook
    main.main(args=args, prog_name="cadence")


if __name__ == "__main__":
    run(sys.argv[1:])
