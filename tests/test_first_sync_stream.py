"""A first sync on HubSpot plans and writes as the contacts arrive (connector/sync_stream.py):
real client, real HTTP to the emulator.

- the batch creates start while the contact read is still paging, and the result is the
  same set of tasks, due at the same times, as a first sync that reads everything first;
- a read that fails part-way leaves what was recorded for the next run, which converges
  with no task twice;
- only a first sync streams: a later run, a dry run, a config with referrals, and a state
  rebuilt from the CRM's tasks read everything before planning.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import closing
from dataclasses import replace
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

from support.hubspot import (
    BATCH_CREATE,
    START,
    HubSpotRecruiter,
    Portal,
    assert_converged,
    bulk_config,
    env_for,
    prepare,
    task_summary,
)

from connector.crm.hubspot import HubSpotCRM
from connector.crm.hubspot.emulator import HubSpotEmulator
from connector.store_factory import state_location
from sequences.engine import plan_iter

READ = "GET /crm/v3/objects/contacts"  # a first read: the bulk config's rule (email exists) lists every contact
SEARCH = "POST /crm/v3/objects/contacts/search"  # a later read: the contacts changed since the last
CONTACTS = 3_000  # 30 pages, about 20 create batches
PLANNER = partial(plan_iter, chunk=500)  # the engine's chunk (5,000 by default) would hold all 3,000 at once


def adapter(portal: Portal, *, streams: bool = True) -> HubSpotCRM:
    prepare(portal.emu)
    crm = HubSpotCRM.from_config(portal.loaded.config.crm.model_dump(exclude={"type"}), env=env_for(portal.emu))
    if not streams:  # the same adapter, saying its read cannot run beside its writes
        crm.capabilities = replace(crm.capabilities, reads_while_writing=False)
    return crm


def first_sync(emu: HubSpotEmulator, directory: Path, *, streams: bool = True, config: str = "") -> tuple[Portal, Any]:
    portal = Portal(emu, directory, config or bulk_config("pro"), owners=3, seed=5)
    emu.seed_contacts(CONTACTS, seed=5)
    emu.reset_log()
    # each page answered 0.15 s late, as a real portal's are: a read that is not overlapped takes
    # 4.5 s, while planning and sending the first 500 contacts' tasks takes a fraction of that
    emu.faults.fail_next(CONTACTS // 100, status="slow", path_glob=READ, delay=0.15)
    report = portal.sync(START, crm=adapter(portal, streams=streams), planner=PLANNER)
    assert report.status == "ok" and report.errors == [], report.errors[:3]
    return portal, report


def seeded(emu: HubSpotEmulator, directory: Path) -> tuple[Portal, HubSpotCRM]:
    """The bulk config on CONTACTS seeded contacts, and an adapter for its first sync."""
    portal = Portal(emu, directory, bulk_config("pro"), owners=3, seed=5)
    emu.seed_contacts(CONTACTS, seed=5)
    return portal, adapter(portal)


def order(emu: HubSpotEmulator) -> list[str]:
    return [e.template for e in emu.requests()]


def test_first_sync_creates_tasks_while_it_still_reads_contacts(hubspot_emulator: HubSpotEmulator, tmp_path: Path) -> None:
    portal, report = first_sync(hubspot_emulator, tmp_path / "ws")
    seen = order(hubspot_emulator)
    reads = [i for i, t in enumerate(seen) if t == READ]
    creates = [i for i, t in enumerate(seen) if t == BATCH_CREATE]
    assert len(reads) == 30 and creates
    assert creates[0] < reads[-1], "no task was created before the last contact page was read"
    assert report.counts["contacts_planned"] == report.counts["contacts_changed"]  # each contact planned once
    tasks = assert_converged(portal)
    assert report.counts["created"] == len(tasks) > 1_000
    again = portal.sync(START + timedelta(hours=1))
    assert again.status == "ok" and again.counts["created"] == 0


def test_streamed_and_read_first_syncs_leave_the_same_tasks(tmp_path: Path) -> None:
    """The same portal synced twice from scratch, streamed and read-first: the same keys, contacts,
    types, subjects and due times (contacts start in contact-id order either way)."""
    results = []
    for streams in (True, False):
        with HubSpotEmulator() as emu:
            portal, report = first_sync(emu, tmp_path / f"ws-{streams}", streams=streams)
            seen = order(emu)
            first_create, last_read = seen.index(BATCH_CREATE), max(i for i, t in enumerate(seen) if t == READ)
            assert (first_create < last_read) is streams
            results.append((task_summary(portal), report.counts["queued"], report.counts["created"]))
    assert results[0] == results[1]


def test_a_read_that_fails_part_way_leaves_its_work_to_the_next_run(hubspot_emulator: HubSpotEmulator,
                                                                    tmp_path: Path) -> None:
    """Once the first batch is created, the next contact page is answered 400 (not retried): the run fails with what it
    had planned recorded and some of it sent; the next run reads again from the start and converges, with
    no task created twice."""
    emu = hubspot_emulator
    portal, crm = seeded(emu, tmp_path / "ws")
    armed: list[str] = []

    def hook(point: str) -> None:
        if point == "between_batches" and not armed:
            armed.append(point)
            emu.faults.fail_next(1, status=400, path_glob="/crm/v3/objects/contacts")

    report = portal.sync(START, crm=crm, hook=hook, planner=PLANNER)
    assert armed and report.status != "ok" and report.counts["created"] > 0
    assert any("400" in e for e in report.errors), report.errors
    again = portal.sync(START + timedelta(minutes=10), crm=adapter(portal))
    assert again.status == "ok", again.errors[:3]
    tasks = assert_converged(portal)
    assert report.counts["created"] + again.counts["created"] == len(tasks)


def test_a_create_batch_is_on_its_way_while_the_next_chunk_is_planned(hubspot_emulator: HubSpotEmulator,
                                                                       tmp_path: Path) -> None:
    """Create batches leave on the write thread: the first batch that ends a chunk (fewer than a batch of
    pending intents left behind it) waits, while it is out, for the run to record the next chunk's intents,
    which the run can only do if it is not waiting for that batch; every batch is recorded by the end."""
    emu = hubspot_emulator
    portal, crm = seeded(emu, tmp_path / "ws")
    state = state_location(portal.loaded).path
    send = crm.create_tasks
    seen: list[tuple[str, int, int]] = []  # (thread, intents when the batch left, intents while it was out)

    def count(sql: str) -> int:
        with closing(sqlite3.connect(state, timeout=10)) as db:
            return int(db.execute(sql).fetchone()[0])

    def create_tasks(tasks: Any) -> Any:
        before = after = count("SELECT count(*) FROM tasks")
        if not any(a > b for _, b, a in seen) and count("SELECT count(*) FROM tasks WHERE status = 'pending'") < 100:
            deadline = time.monotonic() + 5
            while after == before and time.monotonic() < deadline:
                time.sleep(0.02)
                after = count("SELECT count(*) FROM tasks")
        seen.append((threading.current_thread().name, before, after))
        return send(tasks)

    crm.create_tasks = create_tasks  # type: ignore[method-assign]  # our adapter, observed (the client is real)
    report = portal.sync(START, crm=crm, planner=PLANNER)
    assert report.status == "ok", report.errors[:3]
    assert {name for name, _, _ in seen} == {"cadence-write_0"}
    assert any(after > before for _, before, after in seen), "no intent was recorded while a batch was out"
    assert count("SELECT count(*) FROM tasks WHERE status NOT IN ('created', 'closed')") == 0
    tasks = assert_converged(portal)
    assert report.counts["created"] == len(tasks) > 1_000


def test_only_a_first_sync_of_a_new_state_streams(hubspot_emulator: HubSpotEmulator, tmp_path: Path) -> None:
    """A dry run, and a later run, read every page before they plan."""
    emu = hubspot_emulator
    portal = Portal(emu, tmp_path / "ws", bulk_config("pro"), owners=3, seed=5)
    ids = emu.seed_contacts(CONTACTS, seed=5)
    dry = portal.sync(START, crm=adapter(portal), plan_only=True)
    assert dry.status == "ok" and BATCH_CREATE not in order(emu)
    portal.sync(START, crm=adapter(portal))
    portal.at(START + timedelta(minutes=30))
    recruiter = HubSpotRecruiter(emu)
    for cid in [cid for cid in ids if not emu.get_contact(cid).get("email")][:300]:
        recruiter.update_contact(cid, email=f"{cid}@example.com")  # they now match the enrollment rule
    emu.reset_log()
    later = portal.sync(START + timedelta(hours=1), crm=adapter(portal), planner=PLANNER)
    seen = order(emu)
    assert later.status == "ok" and later.counts["created"] > 0
    assert seen.index(BATCH_CREATE) > max(i for i, t in enumerate(seen) if t == SEARCH)


def test_several_create_batches_are_out_at_once(hubspot_emulator: HubSpotEmulator, tmp_path: Path) -> None:
    """The write thread has the next batches waiting while it sends one: the second batch (the first goes
    alone), once on the write thread, waits (up to 5 s) for the run to hand over two more (their rows
    marked `unknown`), which the run can only do if it does not wait for each batch's answer before it
    sends the next."""
    emu = hubspot_emulator
    portal, crm = seeded(emu, tmp_path / "ws")
    state = state_location(portal.loaded).path
    send = crm.create_tasks
    calls: list[int] = []
    out: list[int] = []  # rows handed over and not recorded, as the second batch waited

    def unknown() -> int:
        with closing(sqlite3.connect(state, timeout=10)) as db:
            return int(db.execute("SELECT count(*) FROM tasks WHERE status = 'unknown'").fetchone()[0])

    def create_tasks(tasks: Any) -> Any:
        calls.append(len(tasks))
        if len(calls) == 2:
            deadline = time.monotonic() + 5
            while (rows := unknown()) < 3 * len(tasks) and time.monotonic() < deadline:
                time.sleep(0.02)
            out.append(rows)
        return send(tasks)

    crm.create_tasks = create_tasks  # type: ignore[method-assign]  # our adapter, observed (the client is real)
    report = portal.sync(START, crm=crm, planner=PLANNER)
    assert report.status == "ok", report.errors[:3]
    assert out and out[0] >= 300, f"only {out} rows were out while the second batch was being sent"
    tasks = assert_converged(portal)
    assert report.counts["created"] == len(tasks) > 1_000


def test_a_write_that_fails_with_batches_out_sends_none_twice(hubspot_emulator: HubSpotEmulator,
                                                             tmp_path: Path) -> None:
    """The third batch create is refused (401) while later batches wait on the write thread: the run fails,
    the batches not yet sent are taken back (never sent), those that landed are recorded, and the next run
    reconciles the rest and converges with every task created once."""
    emu = hubspot_emulator
    portal, crm = seeded(emu, tmp_path / "ws")
    send = crm.create_tasks
    calls: list[int] = []

    def create_tasks(tasks: Any) -> Any:
        calls.append(len(tasks))
        if len(calls) == 3:
            time.sleep(0.5)  # the run hands over more batches meanwhile
            emu.faults.fail_next(1, status=401, path_glob="POST /crm/v3/objects/tasks/batch/create")
        return send(tasks)

    crm.create_tasks = create_tasks  # type: ignore[method-assign]  # our adapter, observed (the client is real)
    report = portal.sync(START, crm=crm, planner=PLANNER)
    assert report.status != "ok" and any("401" in e for e in report.errors), report.errors[:3]
    assert len(calls) == 3 and emu.count("tasks") == 200 == report.counts["created"]
    again = portal.sync(START + timedelta(minutes=10), crm=adapter(portal))
    assert again.status == "ok", again.errors[:3]
    tasks = assert_converged(portal)
    assert emu.count("tasks") == len(tasks) == report.counts["created"] + again.counts["created"]
