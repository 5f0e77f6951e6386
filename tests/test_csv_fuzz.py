"""Hypothesis fuzzing of the bytes of contacts.csv and tasks.csv: whatever a spreadsheet, a
crash or a careless hand does to them (re-encoding, other separators and line ends, stray
quotes, truncation, junk bytes), a sync never raises, never fails with an unexpected error,
never ends an enrollment and never closes a task. It reads the file, or refuses it (exit 2),
or holds a mass change; the recruiter's files stay as they were when it refuses.

One deliberate exception, always located: an opted_out or do_not_contact cell that cannot
be understood is read the careful way, as "stop" (contacts.py), and reported with
file:line and field. A contact whose only change is such a reported cell may exit.
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from support.examples import copy_examples

from connector.configfile import load_config
from connector.sync import run_sync

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=timezone.utc)
T1 = T0 + timedelta(days=1, hours=1)  # the daily sweep is due: a misread file would look like deletions
GRACEFUL = {"ok", "refused", "held"}
ENCODINGS = ["utf-8", "utf-8-sig", "cp1252", "latin-1", "utf-16", "ascii"]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The examples after a first sync, with a valve that holds any vanished record (max 0)."""
    ws = copy_examples(tmp_path_factory.mktemp("fuzz") / "seed")
    config = ws / "recruiting.yaml"
    config.write_text(config.read_text(encoding="utf-8") + "\nmass_exit: {max_count: 0, max_share: 0}\n", encoding="utf-8")
    report = run_sync(load_config(config), now=T0)
    assert report.status == "ok", report.errors
    baseline = run_sync(load_config(config), now=T1, plan_only=True)
    assert baseline.status == "ok" and not _ended(baseline) and not baseline.closed, baseline.to_text()
    return ws


def _ended(report) -> list:
    return [n for n in report.notes if n.kind in ("exit", "finish")]


@st.composite
def mangled(draw: st.DrawFn, original: bytes) -> tuple[bytes, str]:
    """`original` after a few of the things that happen to CSV files, and a description."""
    text = original.decode("utf-8-sig")
    steps = []
    if draw(st.booleans()):
        sep = draw(st.sampled_from([";", "\t", "|"]))
        text = text.replace(",", sep)
        steps.append(f"separator {sep!r}")
    if draw(st.booleans()):
        end = draw(st.sampled_from(["\r\n", "\r"]))
        text = text.replace("\r\n", "\n").replace("\n", end)
        steps.append(f"line end {end!r}")
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(text)))
        junk = draw(st.sampled_from(['"', '""', '"x', "\n", ",", ";", "\x00", "é", "\ufffd"]))
        text = text[:at] + junk + text[at:]
        steps.append(f"{junk!r} at {at}")
    encoding = draw(st.sampled_from(ENCODINGS))
    data = text.encode(encoding, errors="replace")
    steps.append(encoding)
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(data)))
        data = data[:cut]
        steps.append(f"cut at byte {cut}")
    for _ in range(draw(st.integers(0, 2))):
        at = draw(st.integers(0, len(data)))
        data = data[:at] + bytes([draw(st.integers(0, 255))]) + data[at:]
        steps.append(f"byte inserted at {at}")
    return data, ", ".join(steps)


def _fuzz_one(seeded: Path, work: Path, name: str, data: bytes, what: str) -> None:
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(seeded, work)
    target = work / name
    target.write_bytes(data)
    os.utime(target, (T0.timestamp(), T0.timestamp()))  # saved a while ago: no settling wait
    note(f"{name}: {what}")
    report = run_sync(load_config(work / "recruiting.yaml"), now=T1)
    note(report.to_text())
    assert report.status in GRACEFUL, report.errors
    careful = {b.record_id for b in report.bad_records if b.field in ("opted_out", "do_not_contact")}
    ended = [n for n in _ended(report) if n.contact_id not in careful]
    assert not ended, [(n.contact_id, n.reason) for n in ended]
    closed = [c for c in report.closed if c.contact_id not in careful]
    assert not closed, [(c.contact_id, c.reason) for c in closed]
    if report.status != "ok":
        assert target.read_bytes() == data, "a file the run refused was rewritten"


FUZZ = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])


@FUZZ
@given(data=st.data())
def test_mangled_tasks_csv_never_ends_or_closes_anything(seeded: Path, tmp_path_factory: pytest.TempPathFactory,
                                                         data: st.DataObject) -> None:
    """Any mangling of tasks.csv: the sync reads it or refuses it; no enrollment ends, no task is closed."""
    mangled_bytes, what = data.draw(mangled((seeded / "tasks.csv").read_bytes()))
    _fuzz_one(seeded, tmp_path_factory.getbasetemp() / "fuzz-tasks", "tasks.csv", mangled_bytes, what)


@FUZZ
@given(data=st.data())
def test_mangled_contacts_csv_never_ends_or_closes_anything(seeded: Path, tmp_path_factory: pytest.TempPathFactory,
                                                            data: st.DataObject) -> None:
    """Any mangling of contacts.csv: read, refused, or held as a mass change; no enrollment ends, no task is closed."""
    mangled_bytes, what = data.draw(mangled((seeded / "contacts.csv").read_bytes()))
    _fuzz_one(seeded, tmp_path_factory.getbasetemp() / "fuzz-contacts", "contacts.csv", mangled_bytes, what)
