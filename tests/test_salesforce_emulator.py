"""The Salesforce emulator, driven by the real simple-salesforce over HTTPS (a test CA made at run time)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import datetime, timezone

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
)

from connector.crm.salesforce.emulator import SalesforceEmulator, case_safe
from connector.crm.salesforce.http import TransportAdapter

UTC = timezone.utc


def client(emu: SalesforceEmulator, **kw) -> Salesforce:
    return Salesforce(instance_url=emu.base_url, session_id=emu.session_id, session=emu.requests_session(), **kw)


def login_session(emu: SalesforceEmulator) -> requests.Session:
    session = emu.requests_session()
    session.mount("https://", TransportAdapter(10, emu.base_url))
    return session


def test_ids_are_18_characters_with_key_prefix_and_checksum() -> None:
    assert case_safe("001000000000001") == "001000000000001AAA"
    assert case_safe("001A0000006Vm9r") == "001A0000006Vm9rIAC"  # the documented example
    emu = SalesforceEmulator()
    cid = emu.create_contact(LastName="X")
    assert len(cid) == 18 and cid.startswith("003")


def test_tls_is_real_the_client_trusts_only_the_test_ca(salesforce_emulator: SalesforceEmulator) -> None:
    """A client that does not trust the test CA is refused: the certificate check is really made."""
    plain = requests.Session()
    plain.trust_env = False
    sf = Salesforce(instance_url=salesforce_emulator.base_url, session_id=salesforce_emulator.session_id, session=plain)
    with pytest.raises(requests.exceptions.SSLError):
        sf.query("SELECT Id FROM User")
    assert client(salesforce_emulator).query("SELECT Id FROM User")["totalSize"] == 1


def test_query_pages_with_query_more_and_order(salesforce_emulator: SalesforceEmulator) -> None:
    emu = salesforce_emulator
    emu.page_size = 4
    ids = emu.seed_contacts(10, seed=2)
    sf = client(emu)
    first = sf.query("SELECT Id, FirstName, Owner.Name, Account.Name FROM Contact ORDER BY SystemModstamp, Id")
    assert first["totalSize"] == 10 and not first["done"] and len(first["records"]) == 4
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/")
    assert first["records"][0]["attributes"]["type"] == "Contact"
    assert first["records"][0]["Account"] is None and first["records"][0]["Owner"]["Name"]
    records = list(sf.query_all_iter("SELECT Id FROM Contact ORDER BY Id DESC"))
    assert [r["Id"] for r in records] == sorted(ids, reverse=True)
    assert emu.counts()["GET /query/{cursor}"] == 2  # the second query followed its two next pages
    assert sf.api_usage["api-usage"].used == emu.api_used


def test_soql_subset_where_in_or_nulls_and_datetimes(salesforce_emulator: SalesforceEmulator) -> None:
    emu = salesforce_emulator
    a = emu.create_contact(LastName="A", Email="A@Example.com")
    b = emu.create_contact(LastName="B")
    sf = client(emu)

    def ids(where: str) -> set[str]:
        return {r["Id"] for r in sf.query(f"SELECT Id FROM Contact WHERE {where}")["records"]}

    assert ids("Email = 'a@example.com'") == {a}  # case-insensitive
    assert ids("Email = null") == {b}
    assert ids("Email != null AND (LastName IN ('x', 'a') OR LastName = 'zzz')") == {a}
    assert ids("NOT LastName IN ('A')") == {b} == ids("LastName NOT IN ('A')")
    assert ids("SystemModstamp > 2000-01-01T00:00:00Z") == {a, b}
    assert ids("SystemModstamp > 2999-01-01T00:00:00+00:00") == set()
    assert ids("LastName = 'it\\'s'") == set()
    with pytest.raises(SalesforceMalformedRequest) as bad:
        sf.query("SELECT Id FROM Contact WHERE Nope__c = 'x'")
    assert bad.value.content[0]["errorCode"] == "INVALID_FIELD"
    with pytest.raises(SalesforceMalformedRequest) as bad:
        sf.query('SELECT Id FROM Contact WHERE LastName = "double"')
    assert bad.value.content[0]["errorCode"] == "MALFORMED_QUERY"


def test_query_all_sees_deleted_and_merged(salesforce_emulator: SalesforceEmulator) -> None:
    emu = salesforce_emulator
    keep, gone, loser = (emu.create_contact(LastName=n) for n in ("keep", "gone", "loser"))
    emu.delete_contact(gone)
    emu.merge_contacts(keep, loser)
    sf = client(emu)
    assert {r["Id"] for r in sf.query("SELECT Id FROM Contact")["records"]} == {keep}
    rows = {r["Id"]: r for r in sf.query("SELECT Id, IsDeleted, MasterRecordId FROM Contact", include_deleted=True)["records"]}
    assert rows[gone]["IsDeleted"] and rows[gone]["MasterRecordId"] is None
    assert rows[loser]["IsDeleted"] and rows[loser]["MasterRecordId"] == keep


def test_jwt_bearer_and_client_credentials_sign_in(salesforce_emulator: SalesforceEmulator) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    emu = salesforce_emulator
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    emu.jwt_public_key = key.public_key().public_bytes(serialization.Encoding.PEM,
                                                       serialization.PublicFormat.SubjectPublicKeyInfo)
    sf = Salesforce(username="integration@example.com", consumer_key=emu.consumer_key, privatekey=pem,
                    session=login_session(emu))
    assert sf.sf_instance == f"127.0.0.1:{emu.port}" and sf.query("SELECT Id FROM User")["totalSize"] == 1
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    with pytest.raises(SalesforceAuthenticationFailed):
        Salesforce(username="integration@example.com", consumer_key=emu.consumer_key, privatekey=other,
                   session=login_session(emu))
    with pytest.raises(SalesforceAuthenticationFailed):
        Salesforce(username="nobody@example.com", consumer_key=emu.consumer_key, privatekey=pem, session=login_session(emu))

    sf = Salesforce(consumer_key=emu.consumer_key, consumer_secret=emu.consumer_secret, domain="acme.my",
                    session=login_session(emu))
    assert sf.query("SELECT Id FROM User")["totalSize"] == 1
    with pytest.raises(SalesforceAuthenticationFailed):
        Salesforce(consumer_key=emu.consumer_key, consumer_secret="wrong", domain="acme.my", session=login_session(emu))
    assert emu.counts()["POST /services/oauth2/token"] == 5
    assert all("oauth2/token" in e.path or "assertion" not in e.path for e in emu.requests())


def test_an_expired_session_is_refreshed_by_a_client_holding_credentials(salesforce_emulator: SalesforceEmulator) -> None:
    emu = salesforce_emulator
    sf = Salesforce(consumer_key=emu.consumer_key, consumer_secret=emu.consumer_secret, domain="acme.my",
                    session=login_session(emu))
    emu.expire_sessions()
    assert sf.query("SELECT Id FROM User")["totalSize"] == 1  # 401 INVALID_SESSION_ID, sign in, retry
    direct = client(emu)
    with pytest.raises(SalesforceExpiredSession) as err:
        direct.query("SELECT Id FROM User")
    assert err.value.content[0]["errorCode"] == "INVALID_SESSION_ID"


def test_collections_upsert_by_external_id_with_per_record_errors(salesforce_emulator: SalesforceEmulator) -> None:
    emu = salesforce_emulator
    cid = emu.create_contact(LastName="L")
    sf = client(emu)
    path = "composite/sobjects/Task/TaskKey__c"

    def rec(key: str, **values) -> dict:
        return {"attributes": {"type": "Task"}, "TaskKey__c": key, "WhoId": cid, "Subject": "s"} | values

    answer = sf.restful(path, method="PATCH", json={"allOrNone": False, "records": [
        rec("k1", ActivityDate="2026-03-03"), rec("k2", Priority="Urgent"), rec("k3", WhoId="003000000000000AAA"),
        rec("k4", ActivityDate="2026-03-03T10:00:00Z"), rec("k5", IsClosed=True)]})
    assert answer[0]["success"] and answer[0]["created"]
    assert [a["errors"][0]["statusCode"] for a in answer[1:]] == [
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "INVALID_CROSS_REFERENCE_KEY", "INVALID_TYPE_ON_FIELD_IN_RECORD",
        "INVALID_FIELD_FOR_INSERT_UPDATE"]
    again = sf.restful(path, method="PATCH", json={"allOrNone": False, "records": [rec("K1", Subject="new")]})
    assert again[0] == {"id": answer[0]["id"], "success": True, "errors": [], "created": False}
    assert len(emu.tasks()) == 1 and emu.tasks()[0]["Subject"] == "new"
    dup = sf.restful(path, method="PATCH", json={"allOrNone": False, "records": [rec("d"), rec("d")]})
    assert [d["errors"][0]["statusCode"] for d in dup] == ["DUPLICATE_VALUE"] * 2
    rolled = sf.restful(path, method="PATCH", json={"allOrNone": True, "records": [rec("ok"), rec("bad", Priority="x")]})
    assert rolled[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert emu.task_by_key("ok") is None
    with pytest.raises(SalesforceMalformedRequest) as big:
        sf.restful(path, method="PATCH", json={"allOrNone": False, "records": [rec(f"b{i}") for i in range(201)]})
    assert big.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    emu.create_task_raw(TaskKey__c="twice", WhoId=cid)
    emu.create_task_raw(TaskKey__c="twice", WhoId=cid)
    clash = sf.restful(path, method="PATCH", json={"allOrNone": False, "records": [rec("twice")]})
    assert clash[0]["errors"][0]["statusCode"] == "DUPLICATE_EXTERNAL_ID"
    # TaskSubtype is create-only: an upsert that updates may not carry it
    sub = sf.restful(path, method="PATCH", json={"allOrNone": False, "records": [rec("k1", TaskSubtype="Call")]})
    assert sub[0]["errors"][0]["statusCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"


def test_closing_sets_is_closed_and_completed_time(salesforce_emulator: SalesforceEmulator) -> None:
    emu = salesforce_emulator
    clock = emu.freeze_clock(datetime(2026, 3, 2, 13, 0, tzinfo=UTC))
    tid = emu.create_task_raw(TaskKey__c="c1", WhoId=emu.create_contact(LastName="L"))
    sf = client(emu)
    clock.advance(60)
    answer = sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": False, "records": [
        {"attributes": {"type": "Task"}, "id": tid, "Status": "Completed"},
        {"attributes": {"type": "Task"}, "id": "00T000000000000AAA", "Status": "Completed"}]})
    assert answer[0]["success"] and answer[1]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"
    task = emu.tasks()[0]
    assert task["IsClosed"] and task["CompletedDateTime"] == "2026-03-02T13:01:00.000+0000"
    emu.update_task(tid, Status="In Progress")
    assert emu.tasks()[0]["CompletedDateTime"] is None


def test_describe_lists_external_id_unique_and_picklists(salesforce_emulator: SalesforceEmulator) -> None:
    fields = {f["name"]: f for f in client(salesforce_emulator).restful("sobjects/Task/describe")["fields"]}
    assert fields["TaskKey__c"]["externalId"] and fields["TaskKey__c"]["unique"] and fields["TaskKey__c"]["custom"]
    assert {p["value"] for p in fields["Priority"]["picklistValues"]} == {"High", "Normal", "Low"}
    assert not fields["TaskSubtype"]["updateable"] and not fields["IsClosed"]["createable"]


def test_daily_limit_header_and_request_limit_exceeded(salesforce_emulator: SalesforceEmulator) -> None:
    emu = salesforce_emulator
    emu.api_max = 3
    sf = client(emu)
    for n in (1, 2, 3):
        sf.query("SELECT Id FROM User")
        assert tuple(sf.api_usage["api-usage"]) == (n, 3)
    with pytest.raises(SalesforceRefusedRequest) as err:
        sf.query("SELECT Id FROM User")
    assert err.value.status == 403 and err.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    assert sf.limits is not None


def test_faults_5xx_reset_drop_and_lock(salesforce_emulator: SalesforceEmulator) -> None:
    emu = salesforce_emulator
    cid = emu.create_contact(LastName="L")
    sf = client(emu)
    emu.faults.fail_next(1, 503)
    with pytest.raises(SalesforceGeneralError) as err:
        sf.query("SELECT Id FROM User")
    assert err.value.status == 503 and err.value.content[0]["errorCode"] == "SERVER_UNAVAILABLE"
    emu.faults.fail_next(1, "reset")
    with pytest.raises(requests.ConnectionError):
        sf.query("SELECT Id FROM User")
    body = {"allOrNone": False, "records": [{"attributes": {"type": "Task"}, "TaskKey__c": "lost", "WhoId": cid}]}
    emu.faults.fail_next(1, "drop", path_glob="PATCH /composite/*")
    with pytest.raises(requests.ConnectionError):
        sf.restful("composite/sobjects/Task/TaskKey__c", method="PATCH", json=body)
    assert emu.task_by_key("lost") is not None  # applied, answer lost
    emu.lock_records = 1
    locked = sf.restful("composite/sobjects/Task/TaskKey__c", method="PATCH", json=body)
    assert locked[0]["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"
    emu.lock_requests = 1
    with pytest.raises(SalesforceMalformedRequest) as whole:
        sf.restful("composite/sobjects/Task/TaskKey__c", method="PATCH", json=body)
    assert whole.value.content[0]["errorCode"] == "UNABLE_TO_LOCK_ROW"
    log = emu.requests()
    assert [e.fault for e in log[:3]] == ["503", "reset", "drop"]
    assert all(emu.session_id not in e.path for e in log)


def test_cli_emulator_salesforce_serves_until_terminated(tmp_path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "connector.cli", "emulator", "salesforce", "--port", "0",
                             "--contacts", "25", "--leads", "4"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        ca = proc.stdout.readline().strip()
        assert url.startswith("https://127.0.0.1:") and os.path.exists(ca)
        session = requests.Session()
        session.verify, session.trust_env = ca, False
        sf = Salesforce(instance_url=url, session_id=SalesforceEmulator().session_id, session=session)
        assert sf.query("SELECT Id FROM Contact")["totalSize"] == 25
        leads = sf.query("SELECT Id, Company, Status, IsConverted FROM Lead")["records"]
        assert len(leads) == 4 and all(r["Id"].startswith("00Q") and not r["IsConverted"] for r in leads)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_composite_answers_several_queries_as_one_call(salesforce_emulator: SalesforceEmulator) -> None:
    """POST /composite: each GET subrequest answered in order with its own status and body (a bad query is a
    400 in its slot, the rest still answered), one API call in all; allOrNone halts the others; over 25
    subrequests or over 5 queries the whole request is refused."""
    emu = salesforce_emulator
    emu.page_size = 2
    emu.seed_contacts(3, seed=1)
    sf = client(emu)
    url = "/services/data/v59.0/query/?q="
    subs = [{"method": "GET", "referenceId": "contacts", "url": url + "SELECT+Id+FROM+Contact+ORDER+BY+Id"},
            {"method": "GET", "referenceId": "bad", "url": url + "SELECT+Nope+FROM+Contact"},
            {"method": "GET", "referenceId": "users", "url": "/services/data/v59.0/queryAll/?q=SELECT+Id+FROM+User"}]
    used = emu.api_used
    answer = sf.restful("composite", method="POST", json={"allOrNone": False, "compositeRequest": subs})
    assert emu.api_used == used + 1 and sf.api_usage["api-usage"].used == emu.api_used
    contacts, bad, users = answer["compositeResponse"]
    assert [r["referenceId"] for r in (contacts, bad, users)] == ["contacts", "bad", "users"]
    assert contacts["httpStatusCode"] == 200 and contacts["body"]["totalSize"] == 3
    more = sf.query_more(contacts["body"]["nextRecordsUrl"], identifier_is_url=True)  # its locator pages on as usual
    assert len(contacts["body"]["records"]) + len(more["records"]) == 3 and more["done"]
    assert bad["httpStatusCode"] == 400 and bad["body"][0]["errorCode"] == "INVALID_FIELD"
    assert users["httpStatusCode"] == 200 and users["body"]["totalSize"] == 6  # the integration user + 5 seeded

    halted = sf.restful("composite", method="POST", json={"allOrNone": True, "compositeRequest": subs})
    assert [r["httpStatusCode"] for r in halted["compositeResponse"]] == [400, 400, 400]
    assert halted["compositeResponse"][0]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    for too_many in ([subs[0] | {"referenceId": f"r{i}"} for i in range(6)],
                     [{"method": "GET", "referenceId": f"r{i}", "url": "/services/data/v59.0/limits/"} for i in range(26)]):
        with pytest.raises(SalesforceMalformedRequest):
            sf.restful("composite", method="POST", json={"compositeRequest": too_many})
    assert emu.counts()["POST /composite"] == 4
