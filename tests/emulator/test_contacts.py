"""Contacts through the real hubspot-api-client: list, get, create, update, batch, archive."""

from __future__ import annotations

import json

import pytest
from hubspot.crm.contacts import (
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchInputSimplePublicObjectId,
    BatchReadInputSimplePublicObjectId,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInput,
    SimplePublicObjectBatchInputForCreate,
    SimplePublicObjectId,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.contacts.exceptions import ApiException, NotFoundException


def _error(exc) -> dict:
    return json.loads(exc.body)


def test_list_pages_with_repeated_properties_and_archived_false(emu, client):
    ids = emu.seed_contacts(25, seed=3)
    seen, after = [], None
    while True:
        page = client.crm.contacts.basic_api.get_page(limit=10, after=after, properties=["email", "hs_timezone"],
                                                      archived=False)
        seen += [r.id for r in page.results]
        assert set(page.results[0].properties) == {"email", "hs_timezone", "createdate", "lastmodifieddate",
                                                   "hs_object_id"}
        if page.paging is None:
            break
        after = page.paging.next.after
        assert after == str(int(seen[-1]) + 1)  # "after" is the id of the next record
    assert seen == ids
    entry = emu.requests()[0]
    assert entry.template == "GET /crm/v3/objects/contacts" and entry.status == 200


def test_list_defaults_comma_properties_and_limit_clamp(emu, raw):
    emu.seed_contacts(150)
    body = raw("GET", "/crm/v3/objects/contacts").json()
    assert len(body["results"]) == 10  # default limit
    assert set(body["results"][0]["properties"]) == {"firstname", "lastname", "email", "createdate",
                                                     "lastmodifieddate", "hs_object_id"}
    body = raw("GET", "/crm/v3/objects/contacts?limit=500&properties=phone,country&properties=city").json()
    assert len(body["results"]) == 100  # clamped to HubSpot's page maximum
    assert {"phone", "country", "city"} <= set(body["results"][0]["properties"])
    assert raw("GET", "/crm/v3/objects/contacts?after=abc").status_code == 400


def test_get_by_id_and_by_email(emu, client):
    cid = emu.create_contact({"email": "Ada@Example.com", "firstname": "Ada"})
    got = client.crm.contacts.basic_api.get_by_id(cid, properties=["firstname", "email"])
    assert got.id == cid and got.properties["email"] == "ada@example.com"  # HubSpot lower-cases emails
    by_email = client.crm.contacts.basic_api.get_by_id("ADA@example.com", id_property="email")
    assert by_email.id == cid
    with pytest.raises(NotFoundException) as info:
        client.crm.contacts.basic_api.get_by_id("999999")
    body = _error(info.value)
    assert body["category"] == "OBJECT_NOT_FOUND" and body["status"] == "error" and body["correlationId"]


def test_create_returns_201_strings_and_iso_dates(emu, client):
    created = client.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(
        properties={"email": "new@example.com", "firstname": "New", "company": None,
                    "hs_pinned_engagement_id": 5, "createdate": "1700000000000"}))
    assert created.properties["hs_pinned_engagement_id"] == "5"
    assert created.properties["createdate"] == "2023-11-14T22:13:20.000Z"
    assert all(isinstance(v, str) for v in created.properties.values())
    last = emu.requests()[-1]
    assert (last.template, last.status) == ("POST /crm/v3/objects/contacts", 201)


def test_duplicate_email_is_409_conflict_with_existing_id(emu, client):
    cid = emu.create_contact({"email": "dup@example.com"})
    with pytest.raises(ApiException) as info:
        client.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(properties={"email": "DUP@example.com"}))
    assert info.value.status == 409
    body = _error(info.value)
    assert body["category"] == "CONFLICT"
    assert body["message"] == f"Contact already exists. Existing ID: {cid}"


def test_unknown_and_read_only_and_invalid_properties_are_400(emu, client):
    with pytest.raises(ApiException) as info:
        client.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(
            properties={"email": "a@example.com", "favourite_colour": "blue"}))
    body = _error(info.value)
    assert info.value.status == 400 and body["category"] == "VALIDATION_ERROR"
    assert body["message"].startswith("Property values were not valid: ")
    assert "PROPERTY_DOESNT_EXIST" in body["message"]
    assert body["errors"][0]["code"] == "PROPERTY_DOESNT_EXIST"
    assert body["errors"][0]["context"] == {"propertyName": ["favourite_colour"]}
    assert emu.count("contacts") == 0

    cid = emu.create_contact({"email": "b@example.com"})
    for props, code in (({"hs_email_optout": "true"}, "READ_ONLY_VALUE"),
                        ({"hs_lead_status": "new"}, "INVALID_OPTION"),  # enumerations are case-sensitive
                        ({"email": "not-an-email"}, "INVALID_EMAIL"),
                        ({"hubspot_owner_id": "123"}, "INVALID_OPTION"),
                        ({"createdate": "yesterday"}, "INVALID_DATE")):
        with pytest.raises(ApiException) as info:
            client.crm.contacts.basic_api.update(cid, SimplePublicObjectInput(properties=props))
        assert info.value.status == 400 and _error(info.value)["errors"][0]["code"] == code


def test_update_bumps_lastmodifieddate_only_on_change(emu, client):
    clock = emu.freeze_clock()
    cid = emu.create_contact({"email": "c@example.com", "firstname": "C"})
    before = emu.get_contact(cid)["lastmodifieddate"]
    clock.advance(5)
    updated = client.crm.contacts.basic_api.update(cid, SimplePublicObjectInput(properties={"firstname": "Cee"}))
    assert updated.properties["firstname"] == "Cee"
    assert updated.properties["lastmodifieddate"] > before
    assert updated.updated_at.isoformat().startswith(updated.properties["lastmodifieddate"][:19])
    clock.advance(5)
    again = client.crm.contacts.basic_api.update(cid, SimplePublicObjectInput(properties={"firstname": "Cee"}))
    assert again.properties["lastmodifieddate"] == updated.properties["lastmodifieddate"]
    cleared = client.crm.contacts.basic_api.update(cid, SimplePublicObjectInput(properties={"firstname": ""}))
    assert "firstname" not in cleared.properties
    assert client.crm.contacts.basic_api.get_by_id(cid).properties["firstname"] is None


def test_update_by_email_and_unknown_id(emu, client):
    cid = emu.create_contact({"email": "d@example.com"})
    client.crm.contacts.basic_api.update("d@example.com", SimplePublicObjectInput(properties={"jobtitle": "CTO"}),
                                         id_property="email")
    assert emu.get_contact(cid)["jobtitle"] == "CTO"
    with pytest.raises(NotFoundException):
        client.crm.contacts.basic_api.update("424242", SimplePublicObjectInput(properties={"jobtitle": "CTO"}))


def test_batch_read_207_for_unknown_ids(emu, client):
    ids = emu.seed_contacts(3)
    resp = client.crm.contacts.batch_api.read(BatchReadInputSimplePublicObjectId(
        inputs=[SimplePublicObjectId(id=i) for i in ids + ["999999"]], properties=["email"],
        properties_with_history=[]), archived=False)
    assert type(resp).__name__ == "BatchResponseSimplePublicObjectWithErrors"
    assert sorted(r.id for r in resp.results) == ids and resp.num_errors == 1
    err = resp.errors[0]
    assert err.category == "OBJECT_NOT_FOUND" and err.context == {"ids": ["999999"]}
    assert err.message.startswith("Could not get some CONTACT objects")
    assert emu.requests()[-1].status == 207
    ok = client.crm.contacts.batch_api.read(BatchReadInputSimplePublicObjectId(
        inputs=[SimplePublicObjectId(id=ids[0])], properties=[], properties_with_history=[]))
    assert type(ok).__name__ == "BatchResponseSimplePublicObject" and ok.status == "COMPLETE"


def test_batch_read_by_email_and_over_100_inputs(emu, client, raw):
    cid = emu.create_contact({"email": "e@example.com"})
    resp = client.crm.contacts.batch_api.read(BatchReadInputSimplePublicObjectId(
        inputs=[SimplePublicObjectId(id="e@example.com")], id_property="email", properties=["email"],
        properties_with_history=[]))
    assert [r.id for r in resp.results] == [cid]
    r = raw("POST", "/crm/v3/objects/contacts/batch/read", json={"inputs": [{"id": str(i)} for i in range(101)]})
    assert r.status_code == 400 and r.json()["category"] == "VALIDATION_ERROR"


def test_batch_create_201_and_207_with_trace_ids(emu, client):
    existing = emu.create_contact({"email": "taken@example.com"})
    ok = client.crm.contacts.batch_api.create(BatchInputSimplePublicObjectBatchInputForCreate(inputs=[
        SimplePublicObjectBatchInputForCreate(properties={"email": f"b{i}@example.com"}) for i in range(3)]))
    assert type(ok).__name__ == "BatchResponseSimplePublicObject" and len(ok.results) == 3
    assert emu.requests()[-1].status == 201

    mixed = client.crm.contacts.batch_api.create(BatchInputSimplePublicObjectBatchInputForCreate(inputs=[
        SimplePublicObjectBatchInputForCreate(properties={"email": "fresh@example.com"}, object_write_trace_id="t1"),
        SimplePublicObjectBatchInputForCreate(properties={"email": "taken@example.com"}, object_write_trace_id="t2"),
        SimplePublicObjectBatchInputForCreate(properties={"bogus": "x"}, object_write_trace_id="t3"),
    ]))
    assert type(mixed).__name__ == "BatchResponseSimplePublicObjectWithErrors"
    assert [r.object_write_trace_id for r in mixed.results] == ["t1"]
    by_trace = {e.context["objectWriteTraceId"][0]: e for e in mixed.errors}
    assert set(by_trace) == {"t2", "t3"} and mixed.num_errors == 2
    assert by_trace["t2"].category == "CONFLICT" and f"Existing ID: {existing}" in by_trace["t2"].message
    assert by_trace["t3"].category == "VALIDATION_ERROR"
    assert emu.requests()[-1].status == 207


def test_batch_create_without_trace_ids_fails_whole_batch(emu, client):
    emu.create_contact({"email": "taken@example.com"})
    with pytest.raises(ApiException) as info:
        client.crm.contacts.batch_api.create(BatchInputSimplePublicObjectBatchInputForCreate(inputs=[
            SimplePublicObjectBatchInputForCreate(properties={"email": "fresh@example.com"}),
            SimplePublicObjectBatchInputForCreate(properties={"email": "taken@example.com"})]))
    assert info.value.status == 409
    assert emu.count("contacts") == 1  # nothing from the failed batch was written


def test_batch_update_and_archive(emu, client):
    ids = emu.seed_contacts(3)
    resp = client.crm.contacts.batch_api.update(BatchInputSimplePublicObjectBatchInput(inputs=[
        SimplePublicObjectBatchInput(id=i, properties={"jobtitle": "Engineer"}) for i in ids]))
    assert {r.properties["jobtitle"] for r in resp.results} == {"Engineer"}
    partial = client.crm.contacts.batch_api.update(BatchInputSimplePublicObjectBatchInput(inputs=[
        SimplePublicObjectBatchInput(id=ids[0], properties={"jobtitle": "CTO"}),
        SimplePublicObjectBatchInput(id="999999", properties={"jobtitle": "CTO"})]))
    assert partial.num_errors == 1 and partial.errors[0].context == {"ids": ["999999"]}

    client.crm.contacts.basic_api.archive(ids[0])
    client.crm.contacts.batch_api.archive(BatchInputSimplePublicObjectId(inputs=[SimplePublicObjectId(id=ids[1])]))
    client.crm.contacts.basic_api.archive("999999")  # unknown id: still 204
    for gone in ids[:2]:
        with pytest.raises(NotFoundException):
            client.crm.contacts.basic_api.get_by_id(gone)
    listed = client.crm.contacts.basic_api.get_page(limit=100)
    assert [r.id for r in listed.results] == [ids[2]]
    found = client.crm.contacts.search_api.do_search(PublicObjectSearchRequest(limit=10))
    assert found.total == 1
    archived = client.crm.contacts.basic_api.get_page(limit=100, archived=True)
    assert sorted(r.id for r in archived.results) == sorted(ids[:2]) and archived.results[0].archived
    assert archived.results[0].archived_at is not None
    counts = emu.counts()
    assert counts["DELETE /crm/v3/objects/contacts/{contactId}"] == 2
    assert counts["POST /crm/v3/objects/contacts/batch/archive"] == 1


def test_batch_over_100_inputs_is_400(client, emu):
    with pytest.raises(ApiException) as info:
        client.crm.contacts.batch_api.create(BatchInputSimplePublicObjectBatchInputForCreate(inputs=[
            SimplePublicObjectBatchInputForCreate(properties={"email": f"x{i}@example.com"}) for i in range(101)]))
    assert info.value.status == 400
    assert emu.count("contacts") == 0


def test_associations_query_param_on_get(emu, client):
    cid = emu.create_contact({"email": "f@example.com"})
    tid = emu.create_task({"hs_task_subject": "call"}, contact_id=cid)
    got = client.crm.contacts.basic_api.get_by_id(cid, associations=["tasks"])
    assert got.associations["tasks"].results[0].id == tid
    assert got.associations["tasks"].results[0].type == "contact_to_task"
    plain = client.crm.contacts.basic_api.get_by_id(cid)
    assert plain.associations is None
