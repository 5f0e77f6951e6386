"""A write the CRM did not take is never lost: retried with a back-off until it is written, a
refusal only a person can fix reported on every run, and no such run reports `ok`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from itertools import pairwise
from pathlib import Path
from typing import Any

from support.local import CONFIG, read_csv, seed_local

from connector.configfile import load_config
from connector.crm.base import WriteResult
from connector.crm.local import LocalCRM
from connector.sync import run_sync
from connector.sync_push import LAST_RETRY, REFUSED_RETRY

MONDAY = datetime(2026, 3, 2, 14, 0, tzinfo=timezone.utc)  # 09:00 in New York


class Unwritable:
    """The local CRM behind a cause that fails every create: `retryable` (a full disk, a file being
    saved) or `refused` (a value the CRM rejects until a person fixes it); `None` once fixed."""

    def __init__(self, inner: LocalCRM, cause: str | None):
        self.inner, self.cause, self.sent = inner, cause, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def create_tasks(self, tasks: Sequence[Any]) -> list[WriteResult]:
        self.sent += len(tasks)
        if self.cause == "retryable":
            return [WriteResult(t.key, False, error="tasks.csv: No space left on device", retryable=True) for t in tasks]
        if self.cause == "refused":
            return [WriteResult(t.key, False, error="owner o1 is not a user of this account") for t in tasks]
        return self.inner.create_tasks(tasks)


def setup(tmp_path: Path, cause: str | None) -> tuple[Any, Unwritable]:
    seed_local(tmp_path)
    (tmp_path / "cadence.yaml").write_text(CONFIG, encoding="utf-8")
    loaded = load_config(tmp_path / "cadence.yaml")
    crm = LocalCRM(loaded.config.crm.model_dump(exclude={"type"}), base_dir=loaded.directory)
    return loaded, Unwritable(crm, cause)


def test_a_retryable_failure_is_retried_until_written_and_never_reported_ok(tmp_path: Path) -> None:
    """A full disk under tasks.csv for two days: every run says which tasks are not written and is not `ok`,
    tries again after a back-off (at most hourly), and the run after the disk is freed writes them all."""
    loaded, crm = setup(tmp_path, "retryable")
    statuses, tries = [], []
    for minute in range(0, 48 * 60, 10):  # `serve --every 10m` for two days
        before = crm.sent
        report = run_sync(loaded, now=MONDAY + timedelta(minutes=minute), crm=crm)
        statuses.append(report.status)
        tries.append(crm.sent > before)
        assert report.counts["unwritten"] == 3 and any("No space left" in e for e in report.errors), report.errors
    assert set(statuses) == {"incomplete"}
    assert 48 <= sum(tries) <= 60  # backed off (not every one of the 288 runs), yet tried at least hourly
    gaps = [i for i, tried in enumerate(tries) if tried]
    assert max(b - a for a, b in pairwise(gaps)) * timedelta(minutes=10) <= LAST_RETRY

    crm.cause = None
    later = MONDAY + timedelta(days=2, hours=1)
    fixed = run_sync(loaded, now=later, crm=crm)

    assert fixed.status == "ok" and fixed.counts["created"] == 3 and not fixed.errors, fixed.errors
    assert len(read_csv(tmp_path / "tasks.csv")) == 3


def test_a_refused_write_is_reported_every_run_and_sent_again_daily(tmp_path: Path) -> None:
    """A create the CRM refuses is `failed`: every run names it (status incomplete, exit 1) without resending
    it; a day later, the cause fixed, it is sent again and the cadence goes on."""
    loaded, crm = setup(tmp_path, "refused")
    first = run_sync(loaded, now=MONDAY, crm=crm)
    assert first.status == "incomplete" and crm.sent == 3
    assert any("owner o1 is not a user" in e for e in first.errors), first.errors
    crm.cause = None  # an admin fixed the user
    for hour in range(1, 24):
        report = run_sync(loaded, now=MONDAY + timedelta(hours=hour), crm=crm)
        assert report.status == "incomplete" and report.counts["unwritten"] == 3
    assert crm.sent == 3  # not resent within the day

    next_day = run_sync(loaded, now=MONDAY + REFUSED_RETRY + timedelta(minutes=1), crm=crm)

    assert next_day.status == "ok" and next_day.counts["created"] == 3, next_day.errors
    assert len(read_csv(tmp_path / "tasks.csv")) == 3


def test_an_incomplete_run_exits_1(tmp_path: Path) -> None:
    """The CLI maps `incomplete` to exit 1 (a scheduler or an alert sees it), `ok` to 0."""
    from connector.clikit import exit_code_for

    assert exit_code_for("incomplete") == 1 and exit_code_for("ok") == 0
