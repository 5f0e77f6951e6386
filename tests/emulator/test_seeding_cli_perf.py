"""Seeded data, the command line, and throughput."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from connector.crm.hubspot.emulator import FakeClock, HubSpotEmulator, hubspot_tz_to_iana


def test_seeded_contacts_have_realistic_variety():
    emu = HubSpotEmulator(clock=FakeClock())
    ids = emu.seed_contacts(3000, seed=11)
    rows = [emu.get_contact(i) for i in ids]
    countries = Counter(r["country"] for r in rows)
    assert {"United States", "United Kingdom", "Germany", "France", "India", "Australia", "Canada", "Brazil",
            "Japan", "Nepal"} <= set(countries)
    nepal = [r for r in rows if r["country"] == "Nepal" and r.get("hs_timezone")]
    assert {hubspot_tz_to_iana(r["hs_timezone"]) for r in nepal} - {None} == {"Asia/Kathmandu"}
    assert any("phone" not in r for r in rows) and any("hs_timezone" not in r for r in rows)
    assert any(r.get("hs_timezone") and hubspot_tz_to_iana(r["hs_timezone"]) is None for r in rows)  # garbage
    assert any(r.get("phone") in ("N/A", "12345", "tbd") for r in rows)
    assert any(r.get("hs_email_optout") == "true" for r in rows)
    assert any("email" not in r for r in rows)
    assert len({r["hubspot_owner_id"] for r in rows if "hubspot_owner_id" in r}) == 5
    assert len({r.get("hs_lead_status") for r in rows}) >= 8
    names = " ".join(f"{r.get('firstname', '')} {r.get('lastname', '')}" for r in rows)
    for sample in ("山田", "ש", "م", "🚀", "ñ"):
        assert sample in names
    emails = [r["email"] for r in rows if "email" in r]
    assert len(emails) == len(set(emails))
    assert all(r["createdate"] <= r["lastmodifieddate"] for r in rows)


def test_seeding_is_reproducible_on_a_fixed_clock():
    a = HubSpotEmulator(clock=FakeClock())
    b = HubSpotEmulator(clock=FakeClock())
    ids = a.seed_contacts(200, seed=4)
    assert ids == b.seed_contacts(200, seed=4)
    assert [a.get_contact(i) for i in ids] == [b.get_contact(i) for i in ids]
    c = HubSpotEmulator(clock=FakeClock())
    assert [c.get_contact(i) for i in c.seed_contacts(200, seed=5)] != [a.get_contact(i) for i in ids]


def test_seeding_100k_contacts():
    """Seeding 100k contacts gives 100k contacts (its speed is a figure in bench/, not a test)."""
    emu = HubSpotEmulator()
    emu.seed_contacts(100_000, seed=1)
    assert emu.count("contacts") == 100_000


def _sync(emu: HubSpotEmulator, pages: int | None = None) -> tuple[int, int]:
    """List every contact in pages of 100 and create one task per contact in
    batches of 100 -- the shape of a cadence sync."""
    session = requests.Session()
    headers = {"Authorization": f"Bearer {emu.token}"}
    after, seen, created = None, 0, 0
    while True:
        params = {"limit": 100, "properties": ["email", "hs_timezone", "hs_lead_status"], "archived": "False"}
        if after:
            params["after"] = after
        page = session.get(emu.base_url + "/crm/v3/objects/contacts", params=params, headers=headers,
                           timeout=10).json()
        seen += len(page["results"])
        inputs = [{"properties": {"hs_timestamp": "2025-03-03T09:00:00Z", "hs_task_subject": "Step 1",
                                  "hs_task_type": "EMAIL"},
                   "associations": [{"to": {"id": r["id"]}, "types": [{"associationCategory": "HUBSPOT_DEFINED",
                                                                       "associationTypeId": 204}]}],
                   "objectWriteTraceId": r["id"]} for r in page["results"]]
        r = session.post(emu.base_url + "/crm/v3/objects/tasks/batch/create", json={"inputs": inputs},
                         headers=headers, timeout=10)
        assert r.status_code == 201
        created += len(r.json()["results"])
        after = (page.get("paging") or {}).get("next", {}).get("after")
        pages = None if pages is None else pages - 1
        if not after or pages == 0:
            break
    session.close()
    return seen, created


def test_sync_throughput(hubspot_emulator):
    hubspot_emulator.seed_contacts(20_000, seed=2)
    seen, created = _sync(hubspot_emulator)
    assert seen == created == 20_000
    assert hubspot_emulator.total_requests() == 400


@pytest.mark.slow
def test_full_100k_sync(hubspot_emulator):
    hubspot_emulator.seed_contacts(100_000, seed=3)
    seen, created = _sync(hubspot_emulator)
    assert seen == created == 100_000
    assert hubspot_emulator.counts()["POST /crm/v3/objects/tasks/batch/create"] == 1000


def test_concurrent_clients_are_safe(hubspot_emulator):
    emu = hubspot_emulator

    def work(n):
        s = requests.Session()
        for i in range(20):
            r = s.post(emu.base_url + "/crm/v3/objects/contacts", headers={"Authorization": f"Bearer {emu.token}"},
                       json={"properties": {"email": f"w{n}-{i}@example.com"}}, timeout=10)
            assert r.status_code == 201
        s.close()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, range(8)))
    assert emu.count("contacts") == 160
    ids = sorted(int(emu.get_contact(f"{i}")["hs_object_id"]) for i in range(101, 261))
    assert ids == list(range(101, 261))


def test_cli_prints_base_url_first_and_stops_on_sigterm():
    env = dict(os.environ, PYTHONUNBUFFERED="0")
    proc = subprocess.Popen([sys.executable, "-m", "connector.crm.hubspot.emulator", "--port", "0", "--contacts",
                             "50", "--seed", "3", "--token", "cli-secret", "--rate-limit", "pro"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        base = proc.stdout.readline().strip()
        assert base.startswith("http://127.0.0.1:")
        r = requests.get(base + "/crm/v3/objects/contacts?limit=100",
                         headers={"Authorization": "Bearer cli-secret"}, timeout=5)
        assert r.status_code == 200 and len(r.json()["results"]) == 50
        assert r.headers["X-HubSpot-RateLimit-Max"] == "190"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        out, err = proc.communicate()
        assert "cli-secret" not in out + err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_stops_on_ctrl_c():
    proc = subprocess.Popen([sys.executable, "-m", "connector.crm.hubspot.emulator", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().startswith("http://")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
