"""The secret-scan plugin finds a planted canary and fails the session; clean sessions pass."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from support.hubspot import CANARY_TOKEN
from support.secret_scan import MASK, RecordingHandler, SecretScan

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def test_find_masks_and_counts_every_occurrence() -> None:
    """`find` reports each occurrence with its place, and never repeats the token in the excerpt."""
    scan = SecretScan()
    found = scan.scan_output(f"Authorization: Bearer {CANARY_TOKEN}\nagain {CANARY_TOKEN}", "cli stdout")
    assert len(found) == 2 and scan.occurrences == 2 and scan.outputs == 1
    assert all(f.where == "cli stdout" and MASK in f.excerpt and CANARY_TOKEN not in str(f) for f in found)
    assert scan.scan_output("Authorization: Bearer [redacted]", "clean") == [] and scan.occurrences == 2


def test_summary_line_and_failure_message_hide_the_token() -> None:
    """The summary line has the documented shape, and the failure message names where but masks what."""
    scan = SecretScan()
    assert scan.summary() == "secret scan: 0 log lines, 0 test outputs scanned, 0 canary occurrences"
    scan.scan_log_line(f"token={CANARY_TOKEN}", "log record x:INFO")
    message = scan.failure_message()
    assert "log record x:INFO" in message and MASK in message and CANARY_TOKEN not in message
    assert scan.summary() == "secret scan: 1 log lines, 0 test outputs scanned, 1 canary occurrences"


def test_recording_handler_sees_args_fields_and_tracebacks() -> None:
    """A canary in a record's args, its structured fields or its exception is found by the root handler."""
    scan = SecretScan()
    handler = RecordingHandler(scan)
    logger = logging.getLogger("test.secret_scan.handler")
    logger.addHandler(handler)
    logger.propagate = False  # keep the planted records away from the session's own scan
    logger.setLevel(logging.DEBUG)
    try:
        logger.debug("calling with %s", CANARY_TOKEN)
        logger.info("sent", extra={"fields": {"token": CANARY_TOKEN}})
        try:
            raise RuntimeError(f"401 for {CANARY_TOKEN}")
        except RuntimeError:
            logger.exception("request failed")
        logger.info("nothing secret here")
    finally:
        logger.removeHandler(handler)
    assert scan.log_lines == 4
    assert scan.occurrences == 3


def test_other_needles_are_supported() -> None:
    """The scanner looks for whichever needles it is given (the canary by default)."""
    assert SecretScan().needles == (CANARY_TOKEN,)
    assert len(SecretScan(needles=("s3cr3t",)).find("a s3cr3t b", "x")) == 1


def _run_inner(tmp_path: Path, body: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(body), encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS), str(ROOT)]), PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "support.secret_scan", "-p", "no:cacheprovider", "-q", "test_inner.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )


def test_plugin_fails_a_session_that_leaks_the_canary(tmp_path: Path) -> None:
    """Passing tests that log, print, hand to scan_text or raise with the canary make the session exit 1."""
    result = _run_inner(tmp_path, """
        import logging

        import pytest
        import support.secret_scan as secret_scan
        from support.hubspot import CANARY_TOKEN

        def test_logs_it():
            logging.getLogger("leaky").debug("token is %s", CANARY_TOKEN)

        def test_prints_it():
            print("stdout:", CANARY_TOKEN)

        def test_cli_output_scanned():
            secret_scan.scan_text("cadence output " + CANARY_TOKEN, "cadence sync")

        @pytest.mark.xfail(reason="planted", strict=True)
        def test_raises_with_it():
            raise ValueError("bad token " + CANARY_TOKEN)
    """)
    out = result.stdout + result.stderr
    assert CANARY_TOKEN not in out, "the plugin must mask the token it reports"
    assert result.returncode == 1, out[-3000:]
    assert "3 passed, 1 xfailed" in out
    assert "SECRET SCAN FAILED" in out
    for where in ("log record leaky:DEBUG", "test_prints_it (call, stdout)", "cadence sync",
                  "test_raises_with_it (call, failure)"):
        assert where in out, where
    summary = next(line for line in out.splitlines() if line.startswith("secret scan: "))
    assert summary.endswith("canary occurrences") and not summary.endswith(" 0 canary occurrences")


def test_plugin_passes_a_clean_session_and_prints_the_summary(tmp_path: Path) -> None:
    """A session with no canary anywhere exits 0 and prints the one-line summary with 0 occurrences."""
    result = _run_inner(tmp_path, """
        import logging

        def test_clean():
            logging.getLogger("quiet").debug("token is [redacted]")
            print("nothing to see")
    """)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    summary = [line for line in out.splitlines() if line.startswith("secret scan: ")]
    assert len(summary) == 1 and summary[0].endswith(" 0 canary occurrences"), summary
    log_lines = int(summary[0].split()[2])
    assert log_lines >= 1 and "3 test outputs scanned" in summary[0]  # setup, call, teardown
