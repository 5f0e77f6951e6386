"""Owners (trailing-slash list path) and the properties / property-groups API."""

from __future__ import annotations

import json

import pytest
from hubspot.crm.contacts import SimplePublicObjectInput, SimplePublicObjectInputForCreate
from hubspot.crm.contacts.exceptions import ApiException as ContactsApiException
from hubspot.crm.owners.exceptions import NotFoundException as OwnerNotFound
from hubspot.crm.properties import OptionInput, PropertyCreate, PropertyGroupCreate
from hubspot.crm.properties.exceptions import ApiException as PropertiesApiException


def test_owners_list_get_all_and_get(emu, client):
    owners = emu.seed_owners(7)
    page = client.crm.owners.owners_api.get_page(limit=5)
    assert [o.id for o in page.results] == [o["id"] for o in owners[:5]]
    assert page.results[0].type == "PERSON" and page.results[0].teams[0].primary is True
    assert len(client.crm.owners.get_all()) == 7
    assert emu.requests()[0].path == "/crm/v3/owners/"  # the client's trailing slash
    assert set(emu.counts()) == {"GET /crm/v3/owners/"}
    one = client.crm.owners.owners_api.get_by_id(int(owners[2]["id"]))
    assert one.email == owners[2]["email"]
    by_user = client.crm.owners.owners_api.get_by_id(owners[2]["userId"], id_property="userId")
    assert by_user.id == owners[2]["id"]
    by_email = client.crm.owners.owners_api.get_page(email=owners[3]["email"].upper())
    assert [o.id for o in by_email.results] == [owners[3]["id"]]
    with pytest.raises(OwnerNotFound):
        client.crm.owners.owners_api.get_by_id(1)


def test_owner_id_on_contacts_must_exist(emu, client):
    owner = emu.seed_owners(1)[0]
    cid = emu.create_contact({"email": "o@example.com"})
    client.crm.contacts.basic_api.update(cid, SimplePublicObjectInput(properties={"hubspot_owner_id": owner["id"]}))
    assert emu.get_contact(cid)["hubspot_owner_id"] == owner["id"]


def test_read_standard_properties(client):
    everything = client.crm.properties.core_api.get_all("contacts", archived=False)
    names = {p.name for p in everything.results}
    assert {"email", "hs_timezone", "hs_lead_status", "hs_email_optout", "notes_last_contacted",
            "hs_sales_email_last_replied", "lastmodifieddate", "hs_object_id"} <= names
    status = client.crm.properties.core_api.get_by_name("tasks", "hs_task_status")
    assert [o.value for o in status.options] == ["NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED", "DEFERRED"]
    optout = client.crm.properties.core_api.get_by_name("contacts", "hs_email_optout")
    assert optout.modification_metadata.read_only_value is True and optout.calculated is True
    tz = client.crm.properties.core_api.get_by_name("contacts", "hs_timezone")
    assert "america_slash_new_york" in {o.value for o in tz.options}
    with pytest.raises(PropertiesApiException) as info:
        client.crm.properties.core_api.get_by_name("contacts", "nope")
    assert info.value.status == 404


def test_create_group_and_custom_property_then_write_it(emu, client):
    group = client.crm.properties.groups_api.create("contacts", PropertyGroupCreate(
        name="cadence", label="Cadence", display_order=1))
    assert group.name == "cadence" and group.archived is False
    assert "cadence" in {g.name for g in client.crm.properties.groups_api.get_all("contacts").results}
    prop = client.crm.properties.core_api.create("contacts", PropertyCreate(
        name="cadence_stage", label="Cadence stage", type="enumeration", field_type="select", group_name="cadence",
        options=[OptionInput(label="Step 1", value="step_1", display_order=0, hidden=False),
                 OptionInput(label="Step 2", value="step_2", display_order=1, hidden=False)]))
    assert prop.name == "cadence_stage" and prop.hubspot_defined is False
    cid = emu.create_contact({"email": "cp@example.com"})
    client.crm.contacts.basic_api.update(cid, SimplePublicObjectInput(properties={"cadence_stage": "step_2"}))
    assert emu.get_contact(cid)["cadence_stage"] == "step_2"
    with pytest.raises(ContactsApiException):
        client.crm.contacts.basic_api.update(cid, SimplePublicObjectInput(properties={"cadence_stage": "step_9"}))
    with pytest.raises(PropertiesApiException) as info:  # same name again
        client.crm.properties.core_api.create("contacts", PropertyCreate(
            name="cadence_stage", label="x", type="string", field_type="text", group_name="cadence"))
    assert info.value.status == 409
    with pytest.raises(PropertiesApiException) as info:  # unknown group
        client.crm.properties.core_api.create("contacts", PropertyCreate(
            name="other", label="x", type="string", field_type="text", group_name="missing"))
    assert info.value.status == 400
    assert emu.counts()["POST /crm/v3/properties/contacts"] == 3
    assert emu.counts()["POST /crm/v3/properties/contacts/groups"] == 1


def test_unique_value_property_rejects_duplicates(emu, client, raw):
    r = raw("POST", "/crm/v3/properties/contacts", json={
        "name": "candidate_ref", "label": "Candidate ref", "type": "string", "fieldType": "text",
        "groupName": "contactinformation", "hasUniqueValue": True})
    assert r.status_code == 201 and r.json()["hasUniqueValue"] is True
    first = client.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(
        properties={"email": "u1@example.com", "candidate_ref": "R-1"}))
    with pytest.raises(ContactsApiException) as info:
        client.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(
            properties={"email": "u2@example.com", "candidate_ref": "R-1"}))
    body = json.loads(info.value.body)
    assert info.value.status == 409 and body["category"] == "CONFLICT" and first.id in body["message"]
    got = raw("GET", "/crm/v3/objects/contacts/R-1?idProperty=candidate_ref").json()
    assert got["id"] == first.id
    not_unique = raw("GET", "/crm/v3/objects/contacts/x?idProperty=firstname")
    assert not_unique.status_code == 400
