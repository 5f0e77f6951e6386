"""Associations v4 through the real client, and their wire quirks."""

from __future__ import annotations

from hubspot.crm.associations.v4 import (
    BatchInputPublicDefaultAssociationMultiPost,
    BatchInputPublicFetchAssociationsBatchRequest,
    PublicDefaultAssociationMultiPost,
    PublicFetchAssociationsBatchRequest,
    PublicObjectId,
)


def test_batch_read_numeric_to_object_id_and_207_for_none(emu, client, raw):
    c1, c2 = emu.seed_contacts(2)
    t1 = emu.create_task({"hs_task_subject": "a"}, contact_id=c1)
    t2 = emu.create_task({"hs_task_subject": "b"}, contact_id=c1)
    wire = raw("POST", "/crm/v4/associations/contacts/tasks/batch/read", json={"inputs": [{"id": c1}]})
    assert wire.status_code == 200
    to = wire.json()["results"][0]["to"]
    assert [x["toObjectId"] for x in to] == [int(t1), int(t2)]  # JSON numbers on the wire
    assert to[0]["associationTypes"] == [{"category": "HUBSPOT_DEFINED", "typeId": 203, "label": None}]

    resp = client.crm.associations.v4.batch_api.get_page("contacts", "tasks",
                                                         BatchInputPublicFetchAssociationsBatchRequest(inputs=[
                                                             PublicFetchAssociationsBatchRequest(id=c1),
                                                             PublicFetchAssociationsBatchRequest(id=c2)]))
    assert type(resp).__name__ == "BatchResponsePublicAssociationMultiWithLabelWithErrors"
    assert [t.to_object_id for t in resp.results[0].to] == [t1, t2]  # the client makes them strings
    assert resp.num_errors == 1
    assert resp.errors[0].sub_category == "crm.associations.NO_ASSOCIATIONS_FOUND"
    assert emu.requests()[-1].template == "POST /crm/v4/associations/contacts/tasks/batch/read"


def test_batch_read_input_limit(raw):
    r = raw("POST", "/crm/v4/associations/contacts/tasks/batch/read",
            json={"inputs": [{"id": str(i)} for i in range(1001)]})
    assert r.status_code == 400


def test_per_record_read_and_paging(emu, client):
    cid = emu.create_contact({"email": "p@example.com"})
    tids = [emu.create_task({"hs_task_subject": str(i)}, contact_id=cid) for i in range(3)]
    page = client.crm.associations.v4.basic_api.get_page("contacts", cid, "tasks", limit=2)
    assert [r.to_object_id for r in page.results] == tids[:2]
    assert page.results[0].association_types[0].type_id == 203
    rest = client.crm.associations.v4.basic_api.get_page("contacts", cid, "tasks", after=page.paging.next.after)
    assert [r.to_object_id for r in rest.results] == tids[2:] and rest.paging is None
    back = client.crm.associations.v4.basic_api.get_page("tasks", tids[0], "contacts")
    assert back.results[0].to_object_id == cid and back.results[0].association_types[0].type_id == 204
    assert emu.counts()["GET /crm/v4/objects/contacts/{objectId}/associations/tasks"] == 2


def test_default_associate_single_and_batch(emu, client):
    c1, c2 = emu.seed_contacts(2)
    t1 = emu.create_task({"hs_task_subject": "x"})
    t2 = emu.create_task({"hs_task_subject": "y"})
    resp = client.crm.associations.v4.basic_api.create_default("tasks", t1, "contacts", c1)
    assert resp.status == "COMPLETE"
    specs = {(r._from.id, r.to.id): r.association_spec.association_type_id for r in resp.results}
    assert specs == {(t1, c1): 204, (c1, t1): 203}
    assert emu.tasks_for_contact(c1) == [t1]
    batch = client.crm.associations.v4.batch_api.create_default("tasks", "contacts",
                                                               BatchInputPublicDefaultAssociationMultiPost(inputs=[
                                                                   PublicDefaultAssociationMultiPost(
                                                                       _from=PublicObjectId(id=t2),
                                                                       to=PublicObjectId(id=c2))]))
    assert len(batch.results) == 2 and emu.contacts_for_task(t2) == [c2]
    counts = emu.counts()
    assert counts["PUT /crm/v4/objects/tasks/{fromObjectId}/associations/default/contacts/{toObjectId}"] == 1
    assert counts["POST /crm/v4/associations/tasks/contacts/batch/associate/default"] == 1


def test_associating_a_missing_object_is_400(emu, raw):
    t = emu.create_task({"hs_task_subject": "x"})
    r = raw("PUT", f"/crm/v4/objects/tasks/{t}/associations/default/contacts/424242")
    assert r.status_code == 400 and r.json()["category"] == "VALIDATION_ERROR"


def test_archived_task_drops_out_of_associations(emu, client):
    cid = emu.create_contact({"email": "q@example.com"})
    tid = emu.create_task({"hs_task_subject": "x"}, contact_id=cid)
    client.crm.objects.tasks.basic_api.archive(tid)
    assert client.crm.associations.v4.basic_api.get_page("contacts", cid, "tasks").results == []


def test_legacy_v3_put(emu, raw):
    cid = emu.create_contact({"email": "v3@example.com"})
    tid = emu.create_task({"hs_task_subject": "x"})
    r = raw("PUT", f"/crm/v3/objects/tasks/{tid}/associations/contacts/{cid}/task_to_contact")
    assert r.status_code == 200
    assert r.json()["associations"]["contacts"]["results"][0]["id"] == cid
