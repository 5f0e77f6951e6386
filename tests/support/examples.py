"""A copy of examples/ as the repository ships it, whatever earlier runs left there.

The README's first command (`cadence sync examples/recruiting.yaml`) writes
examples/tasks.csv, the state file and lock files into the folder. Tests that start from
the shipped examples copy only the shipped files, so they pass after that command (or
after any number of runs) exactly as they do on a fresh clone.
"""

from __future__ import annotations

import shutil
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"  # tests/support/ -> the repository

# what a run (or a crashed one) may leave in a config's folder: tasks.csv, the state file
# with its WAL and journal, locks, temp files of atomic writes
RUN_OUTPUTS = ("tasks.csv", "*.sqlite", "*.sqlite-*", "*.sqlite.*", "*.lock", "*.tmp", "__pycache__")


def copy_examples(target: Path) -> Path:
    """Copy the shipped files of examples/ into `target` (created when missing); returns `target`."""
    shutil.copytree(EXAMPLES, target, ignore=shutil.ignore_patterns(*RUN_OUTPUTS), dirs_exist_ok=True)
    return target
