"""The real `cadence` command with a test's run hook injected: the package reads no test settings.

    python tests/support/launch.py [--kill-at POINT] [--pause-at POINT:SECONDS] -- ARGS...

`--kill-at` SIGKILLs the process when a sync reaches POINT (one of connector.sync.KILL_POINTS);
`--pause-at` sleeps there (to hold the run lock, or to be killed mid-push). The hook reaches
every sync the command runs (`sync`, `worker`) as the click context's `obj.run_hook`.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

LAUNCH = Path(__file__).resolve()


def command(*, kill_at: str = "", pause_at: str = "") -> list[str]:
    """The argv prefix that runs `cadence`: the launcher when a hook is asked for, else the plain CLI."""
    if not (kill_at or pause_at):
        return [sys.executable, "-m", "connector.cli"]
    options = (["--kill-at", kill_at] if kill_at else []) + (["--pause-at", pause_at] if pause_at else [])
    return [sys.executable, str(LAUNCH), *options, "--"]


def make_hook(kill_at: str = "", pause_at: str = "") -> Callable[[str], None]:
    """A run hook: SIGKILL at `kill_at`; sleep at `pause_at`'s point for its seconds (default 1)."""
    pause_point, _, seconds = pause_at.partition(":")

    def hook(point: str) -> None:
        if point == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        if point == pause_point:
            time.sleep(float(seconds or 1))

    return hook


@dataclass
class Injected:
    """What the command line finds in its click context (connector.clikit.run_hook)."""

    run_hook: Callable[[str], None]


def run(argv: list[str]) -> None:
    options, args = ([], argv) if "--" not in argv else (argv[:argv.index("--")], argv[argv.index("--") + 1:])
    settings = dict(zip(options[::2], options[1::2], strict=True))
    unknown = set(settings) - {"--kill-at", "--pause-at"}
    if unknown:
        sys.exit(f"launch.py: unknown options {sorted(unknown)}")
    hook = make_hook(settings.get("--kill-at", ""), settings.get("--pause-at", ""))
    from connector.cli import main

    main.main(args=args, prog_name="cadence", obj=Injected(hook))


if __name__ == "__main__":
    # run as a script, this folder is sys.path[0]: its hubspot.py would shadow the client library
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != LAUNCH.parent]
    run(sys.argv[1:])
