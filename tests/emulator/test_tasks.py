"""Tasks through the real client: create (inline associations), batch, get, list, update, search, archive."""

from __future__ import annotations

import json

import pytest
from hubspot.crm.objects.tasks import (
    AssociationSpec,
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchInputSimplePublicObjectId,
    BatchReadInputSimplePublicObjectId,
    Filter,
    FilterGroup,
    PublicAssociationsForObject,
    PublicObjectId,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInput,
    SimplePublicObjectBatchInputForCreate,
    SimplePublicObjectId,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.objects.tasks.exceptions import ApiException, NotFoundException

TO_CONTACT = [AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=204)]


def _task(contact_id=None, **props):
    base = {"hs_timestamp": "2025-03-01T09:00:00Z", "hs_task_subject": "Follow up", "hs_task_status": "NOT_STARTED",
            "hs_task_type": "EMAIL", "hs_task_priority": "HIGH"}
    base.update(props)
    assoc = [PublicAssociationsForObject(to=PublicObjectId(id=contact_id), types=TO_CONTACT)] if contact_id else None
    return base, assoc


def test_create_with_inline_association(emu, client):
    cid = emu.create_contact({"email": "cand@example.com"})
    props, assoc = _task(cid, hs_timestamp="1740819600000")  # epoch ms in, ISO out
    task = client.crm.objects.tasks.basic_api.create(SimplePublicObjectInputForCreate(properties=props,
                                                                                     associations=assoc))
    assert task.properties["hs_timestamp"] == "2025-03-01T09:00:00.000Z"
    assert set(task.properties) >= {"hs_createdate", "hs_lastmodifieddate", "hs_object_id"}
    assert task.properties["hs_object_id"] == task.id
    assert emu.tasks_for_contact(cid) == [task.id]
    assert emu.contacts_for_task(task.id) == [cid]
    assert emu.requests()[-1].status == 201


def test_numeric_to_id_and_wrong_type_and_missing_contact(emu, raw):
    cid = emu.create_contact({"email": "n@example.com"})
    body = {"properties": {"hs_timestamp": "2025-03-01T09:00:00Z"},
            "associations": [{"to": {"id": int(cid)}, "types": [{"associationCategory": "HUBSPOT_DEFINED",
                                                                  "associationTypeId": 204}]}]}
    assert raw("POST", "/crm/v3/objects/tasks", json=body).status_code == 201  # docs send to.id as a number
    body["associations"][0]["types"][0]["associationTypeId"] = 203  # contact->task, wrong direction
    r = raw("POST", "/crm/v3/objects/tasks", json=body)
    assert r.status_code == 400 and r.json()["category"] == "VALIDATION_ERROR"
    body["associations"][0]["types"][0]["associationTypeId"] = 204
    body["associations"][0]["to"]["id"] = 987654
    assert raw("POST", "/crm/v3/objects/tasks", json=body).status_code == 400
    assert emu.count("tasks") == 1


def test_hs_timestamp_required_and_enums_checked(emu, client):
    with pytest.raises(ApiException) as info:
        client.crm.objects.tasks.basic_api.create(SimplePublicObjectInputForCreate(
            properties={"hs_task_subject": "no due date"}))
    assert info.value.status == 400 and "hs_timestamp" in json.loads(info.value.body)["message"]
    for bad in ({"hs_task_status": "DONE"}, {"hs_task_priority": "URGENT"}, {"hs_task_type": "SMS"}):
        props, _ = _task(**bad)
        with pytest.raises(ApiException) as info:
            client.crm.objects.tasks.basic_api.create(SimplePublicObjectInputForCreate(properties=props))
        assert json.loads(info.value.body)["errors"][0]["code"] == "INVALID_OPTION"
    for ok in ("NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED", "DEFERRED"):
        props, _ = _task(hs_task_status=ok)
        client.crm.objects.tasks.basic_api.create(SimplePublicObjectInputForCreate(properties=props))


def test_get_list_update_archive(emu, client):
    clock = emu.freeze_clock()
    props, _ = _task()
    task = client.crm.objects.tasks.basic_api.create(SimplePublicObjectInputForCreate(properties=props))
    got = client.crm.objects.tasks.basic_api.get_by_id(task.id)
    assert set(got.properties) == {"hs_createdate", "hs_lastmodifieddate", "hs_object_id"}  # task defaults
    got = client.crm.objects.tasks.basic_api.get_by_id(task.id, properties=["hs_task_subject", "hs_task_status"])
    assert got.properties["hs_task_subject"] == "Follow up"
    page = client.crm.objects.tasks.basic_api.get_page(limit=10, properties=["hs_task_status"], archived=False)
    assert [r.id for r in page.results] == [task.id]

    clock.advance(60)
    done = client.crm.objects.tasks.basic_api.update(task.id, SimplePublicObjectInput(
        properties={"hs_task_status": "COMPLETED"}))
    assert done.properties["hs_task_completion_date"] == done.properties["hs_lastmodifieddate"]
    assert done.properties["hs_lastmodifieddate"] > task.properties["hs_lastmodifieddate"]
    reopened = client.crm.objects.tasks.basic_api.update(task.id, SimplePublicObjectInput(
        properties={"hs_task_status": "NOT_STARTED"}))
    assert "hs_task_completion_date" not in reopened.properties

    client.crm.objects.tasks.basic_api.archive(task.id)
    with pytest.raises(NotFoundException):
        client.crm.objects.tasks.basic_api.get_by_id(task.id)
    assert client.crm.objects.tasks.basic_api.get_page().results == []
    assert emu.counts()["DELETE /crm/v3/objects/tasks/{taskId}"] == 1


def test_batch_create_update_read_archive(emu, client):
    cids = emu.seed_contacts(3)
    inputs = []
    for i, cid in enumerate(cids):
        props, assoc = _task(cid, hs_task_subject=f"step {i}")
        inputs.append(SimplePublicObjectBatchInputForCreate(properties=props, associations=assoc,
                                                            object_write_trace_id=f"{cid}:1"))
    created = client.crm.objects.tasks.batch_api.create(BatchInputSimplePublicObjectBatchInputForCreate(inputs=inputs))
    assert type(created).__name__ == "BatchResponseSimplePublicObject"
    by_trace = {r.object_write_trace_id: r.id for r in created.results}
    for cid in cids:
        assert emu.tasks_for_contact(cid) == [by_trace[f"{cid}:1"]]
    tids = list(by_trace.values())

    updated = client.crm.objects.tasks.batch_api.update(BatchInputSimplePublicObjectBatchInput(inputs=[
        SimplePublicObjectBatchInput(id=t, properties={"hs_task_priority": "LOW"}) for t in tids]))
    assert {r.properties["hs_task_priority"] for r in updated.results} == {"LOW"}
    read = client.crm.objects.tasks.batch_api.read(BatchReadInputSimplePublicObjectId(
        inputs=[SimplePublicObjectId(id=t) for t in tids + ["1"]], properties=["hs_task_priority"],
        properties_with_history=[]))
    assert read.num_errors == 1 and read.errors[0].message.startswith("Could not get some TASK objects")
    client.crm.objects.tasks.batch_api.archive(BatchInputSimplePublicObjectId(
        inputs=[SimplePublicObjectId(id=t) for t in tids]))
    assert emu.count("tasks") == 0
    assert emu.tasks_for_contact(cids[0]) == []


def test_batch_create_207_maps_errors_to_trace_ids(emu, client):
    good, _ = _task()
    inputs = [SimplePublicObjectBatchInputForCreate(properties=good, object_write_trace_id="ok"),
              SimplePublicObjectBatchInputForCreate(properties={"hs_task_subject": "no due"},
                                                    object_write_trace_id="missing-ts"),
              SimplePublicObjectBatchInputForCreate(properties={**good, "hs_task_colour": "red"},
                                                    object_write_trace_id="bad-prop")]
    resp = client.crm.objects.tasks.batch_api.create(BatchInputSimplePublicObjectBatchInputForCreate(inputs=inputs))
    assert [r.object_write_trace_id for r in resp.results] == ["ok"]
    errs = {e.context["objectWriteTraceId"][0]: e for e in resp.errors}
    assert set(errs) == {"missing-ts", "bad-prop"}
    assert errs["bad-prop"].errors[0].code == "PROPERTY_DOESNT_EXIST"
    assert emu.count("tasks") == 1


def test_task_search_by_association_and_modified_date(emu, client):
    cids = emu.seed_contacts(2)
    clock = emu.freeze_clock()
    for cid in cids:
        props, assoc = _task(cid)
        client.crm.objects.tasks.basic_api.create(SimplePublicObjectInputForCreate(properties=props,
                                                                                  associations=assoc))
    req = PublicObjectSearchRequest(filter_groups=[FilterGroup(filters=[
        Filter(property_name="associations.contact", operator="EQ", value=cids[0]),
        Filter(property_name="hs_task_status", operator="NEQ", value="COMPLETED")])],
        properties=["hs_task_subject"], limit=10)
    found = client.crm.objects.tasks.search_api.do_search(req)
    assert found.total == 1 and found.results[0].properties["hs_task_subject"] == "Follow up"
    since = int(clock.time() * 1000)
    clock.advance(10)
    emu.complete_task(found.results[0].id)
    recent = client.crm.objects.tasks.search_api.do_search(PublicObjectSearchRequest(filter_groups=[FilterGroup(
        filters=[Filter(property_name="hs_lastmodifieddate", operator="GT", value=str(since))])],
        properties=["hs_task_status"]))
    assert [r.properties["hs_task_status"] for r in recent.results] == ["COMPLETED"]
    text = client.crm.objects.tasks.search_api.do_search(PublicObjectSearchRequest(query="follo"))
    assert text.total == 2  # default searchable text: subject and body


def test_upsert_with_unique_task_property(emu, client, raw):
    r = raw("POST", "/crm/v3/properties/tasks", json={"name": "cadence_key", "label": "Cadence key",
                                                        "type": "string", "fieldType": "text", "groupName": "task",
                                                        "hasUniqueValue": True})
    assert r.status_code == 201
    body = {"inputs": [{"id": "c1:s1", "idProperty": "cadence_key",
                        "properties": {"hs_timestamp": "2025-03-01T09:00:00Z", "hs_task_subject": "one"}}]}
    first = raw("POST", "/crm/v3/objects/tasks/batch/upsert", json=body).json()
    assert first["results"][0]["new"] is True
    body["inputs"][0]["properties"]["hs_task_subject"] = "two"
    second = raw("POST", "/crm/v3/objects/tasks/batch/upsert", json=body).json()
    assert second["results"][0]["new"] is False and second["results"][0]["id"] == first["results"][0]["id"]
    assert emu.count("tasks") == 1
    got = raw("GET", "/crm/v3/objects/tasks/c1:s1?idProperty=cadence_key&properties=hs_task_subject").json()
    assert got["properties"]["hs_task_subject"] == "two"
