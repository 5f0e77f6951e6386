"""Injected faults (scripted and random) and the request log."""

from __future__ import annotations

import json
import time

import pytest
import requests
import urllib3
from hubspot.crm.contacts.exceptions import ApiException, ServiceException
from hubspot.crm.objects.tasks import SimplePublicObjectInputForCreate

from connector.crm.hubspot.emulator import HubSpotEmulator

TASK = SimplePublicObjectInputForCreate(properties={"hs_timestamp": "2025-03-01T09:00:00Z", "hs_task_subject": "x"})


def test_drop_applies_the_write_then_hangs_up(emu, client):
    emu.faults.fail_next(1, status="drop", path_glob="/crm/v3/objects/tasks")
    with pytest.raises(urllib3.exceptions.ProtocolError):
        client.crm.objects.tasks.basic_api.create(TASK)  # POST is not retried by urllib3
    assert emu.count("tasks") == 1  # ...but it was applied
    last = emu.requests()[-1]
    assert (last.template, last.status, last.fault) == ("POST /crm/v3/objects/tasks", 201, "drop")
    client.crm.objects.tasks.basic_api.create(TASK)  # the next request is served normally
    assert emu.count("tasks") == 2


def test_reset_happens_before_applying(emu, client):
    emu.faults.fail_next(1, status="reset", method="POST")
    with pytest.raises(urllib3.exceptions.ProtocolError):
        client.crm.objects.tasks.basic_api.create(TASK)
    assert emu.count("tasks") == 0
    assert emu.requests()[-1].status == 0 and emu.requests()[-1].fault == "reset"


def test_urllib3_silently_retries_a_reset_get(emu, client):
    emu.faults.fail_next(1, status="reset", path_glob="GET /crm/v3/objects/contacts")
    assert client.crm.contacts.basic_api.get_page().results == []
    assert [e.status for e in emu.requests()] == [0, 200]  # the client's default Retry re-sent the GET


def test_scripted_status_faults_match_globs(emu, client):
    emu.faults.fail_next(2, status=503, path_glob="*/batch/read")
    emu.faults.fail_next(1, status=429, path_glob="POST /crm/v3/objects/contacts/search")
    client.crm.contacts.basic_api.get_page()  # not matched
    for _ in range(2):
        with pytest.raises(ServiceException) as info:
            client.crm.contacts.batch_api.read({"inputs": [], "properties": [], "propertiesWithHistory": []})
        assert info.value.status == 503
    client.crm.contacts.batch_api.read({"inputs": [], "properties": [], "propertiesWithHistory": []})
    with pytest.raises(ApiException) as info:
        client.crm.contacts.search_api.do_search({"limit": 1})
    body = json.loads(info.value.body)
    assert info.value.status == 429 and body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert emu.counts(status=503) == {"POST /crm/v3/objects/contacts/batch/read": 2}


def test_slow_response_trips_client_timeout(emu, client):
    emu.faults.fail_next(1, status="slow", delay=0.4)
    started = time.monotonic()
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        client.crm.objects.tasks.basic_api.create(TASK, _request_timeout=(1, 0.1))
    assert time.monotonic() - started < 0.4
    time.sleep(0.4)
    assert emu.count("tasks") == 1  # a slow write still lands


def _statuses(seed: int, n: int = 60) -> list[int]:
    with HubSpotEmulator() as emu:
        emu.faults.set_random(rate_429=0.2, rate_5xx=0.1, seed=seed)
        s = requests.Session()
        out = [s.get(emu.base_url + "/crm/v3/objects/contacts", timeout=5,
                     headers={"Authorization": f"Bearer {emu.token}"}).status_code for _ in range(n)]
        s.close()
        return out


def test_random_faults_are_reproducible_by_seed():
    a, b = _statuses(7), _statuses(7)
    assert a == b
    assert 5 <= sum(1 for s in a if s == 429) <= 25
    assert any(s >= 500 for s in a) and a.count(200) > 20
    assert _statuses(8) != a


def test_random_drop_only_hits_writes(emu, raw):
    emu.faults.set_random(rate_drop_after_write=1.0, seed=1)
    assert raw("GET", "/crm/v3/objects/tasks").status_code == 200
    with pytest.raises(requests.ConnectionError):
        raw("POST", "/crm/v3/objects/tasks", json={"properties": {"hs_timestamp": "1740819600000"}})
    assert emu.count("tasks") == 1
    emu.faults.clear()
    assert raw("POST", "/crm/v3/objects/tasks", json={"properties": {"hs_timestamp": "1"}}).status_code == 201


def test_random_reset_never_applies(emu, raw):
    emu.faults.set_random(rate_reset=1.0, seed=1)
    for _ in range(3):
        with pytest.raises(requests.ConnectionError):
            raw("POST", "/crm/v3/objects/tasks", json={"properties": {"hs_timestamp": "1"}})
    assert emu.count("tasks") == 0


def test_request_log_counts_and_reset(emu, client, raw):
    emu.seed_contacts(3)
    client.crm.contacts.basic_api.get_page()
    client.crm.contacts.basic_api.get_by_id("101")
    client.crm.contacts.basic_api.get_by_id("102")
    client.crm.objects.tasks.batch_api.create({"inputs": [{"properties": {"hs_timestamp": "1"}}]})
    raw("GET", "/no/such/path")
    assert emu.counts() == {
        "GET /crm/v3/objects/contacts": 1,
        "GET /crm/v3/objects/contacts/{contactId}": 2,
        "POST /crm/v3/objects/tasks/batch/create": 1,
        "GET /no/such/path": 1,
    }
    assert emu.total_requests() == 5
    entry = emu.requests()[1]
    assert entry.method == "GET" and entry.path == "/crm/v3/objects/contacts/101" and entry.status == 200
    assert entry.time > 0
    emu.reset_log()
    assert emu.total_requests() == 0 and emu.counts() == {}
