"""Every JSON body the emulator returns must fit HubSpot's published schema for
that operation.  Bodies are parsed with the real client's generated models in
strict mode (required fields and enums enforced); error bodies, which the client
never parses, are checked by hand."""

from __future__ import annotations

import importlib
import json
import uuid

import hubspot.crm.associations.v4 as assoc_pkg
import hubspot.crm.contacts as contacts_pkg
import hubspot.crm.objects.tasks as tasks_pkg
import hubspot.crm.owners as owners_pkg
import hubspot.crm.properties as properties_pkg
import hubspot.oauth as oauth_pkg
import pytest


class _Wire:
    def __init__(self, text: str) -> None:
        self.data = text


def strict_parse(package, model: str, text: str):
    config = package.Configuration()
    config.client_side_validation = True
    return package.ApiClient(configuration=config).deserialize(_Wire(text), model)


def test_strict_parsing_really_rejects_missing_fields():
    good = {"id": "1", "properties": {}, "createdAt": "2025-01-01T00:00:00.000Z",
            "updatedAt": "2025-01-01T00:00:00.000Z", "archived": False}
    strict_parse(contacts_pkg, "SimplePublicObject", json.dumps(good))
    with pytest.raises(ValueError):
        strict_parse(contacts_pkg, "SimplePublicObject", json.dumps({**good, "createdAt": None}))
    with pytest.raises(ValueError):
        strict_parse(assoc_pkg, "BatchResponsePublicDefaultAssociation",
                     json.dumps({"status": "DONE", "results": [], "startedAt": good["createdAt"],
                                 "completedAt": good["createdAt"]}))


@pytest.fixture
def world(emu):
    emu.seed_owners(2)
    cids = emu.seed_contacts(3)
    tid = emu.create_task({"hs_task_subject": "x"}, contact_id=cids[0])
    return {"c": cids, "t": tid, "o": emu.state.owners[0]}


TASK = {"properties": {"hs_timestamp": "2025-03-01T09:00:00Z", "hs_task_subject": "t"}}


def _cases(w):
    c, t, owner = w["c"], w["t"], w["o"]
    C, T = contacts_pkg, tasks_pkg
    return [
        ("GET", "/crm/v3/objects/contacts?limit=2&associations=tasks", None, 200, C,
         "CollectionResponseSimplePublicObjectWithAssociationsForwardPaging"),
        ("GET", f"/crm/v3/objects/contacts/{c[0]}?associations=tasks&propertiesWithHistory=email", None, 200, C,
         "SimplePublicObjectWithAssociations"),
        ("POST", "/crm/v3/objects/contacts", {"properties": {"email": "s1@example.com"}}, 201, C,
         "SimplePublicObject"),
        ("PATCH", f"/crm/v3/objects/contacts/{c[1]}", {"properties": {"company": "Z"}}, 200, C, "SimplePublicObject"),
        ("POST", "/crm/v3/objects/contacts/search", {"properties": ["email"], "limit": 1}, 200, C,
         "CollectionResponseWithTotalSimplePublicObjectForwardPaging"),
        ("POST", "/crm/v3/objects/contacts/batch/read", {"inputs": [{"id": c[0]}], "properties": []}, 200, C,
         "BatchResponseSimplePublicObject"),
        ("POST", "/crm/v3/objects/contacts/batch/read", {"inputs": [{"id": c[0]}, {"id": "1"}]}, 207, C,
         "BatchResponseSimplePublicObjectWithErrors"),
        ("POST", "/crm/v3/objects/contacts/batch/create", {"inputs": [{"properties": {"email": "s2@example.com"}}]},
         201, C, "BatchResponseSimplePublicObject"),
        ("POST", "/crm/v3/objects/contacts/batch/create", {"inputs": [
            {"properties": {"email": "s3@example.com"}, "objectWriteTraceId": "a"},
            {"properties": {"email": "s3@example.com"}, "objectWriteTraceId": "b"}]}, 207, C,
         "BatchResponseSimplePublicObjectWithErrors"),
        ("POST", "/crm/v3/objects/contacts/batch/update", {"inputs": [{"id": c[2], "properties": {"city": "Oslo"}}]},
         200, C, "BatchResponseSimplePublicObject"),
        ("POST", "/crm/v3/objects/contacts/batch/upsert", {"inputs": [
            {"id": "s4@example.com", "idProperty": "email", "properties": {"firstname": "S"}}]}, 200, C,
         "BatchResponseSimplePublicUpsertObject"),
        ("POST", "/crm/v3/objects/tasks", TASK, 201, T, "SimplePublicObject"),
        ("GET", f"/crm/v3/objects/tasks/{t}?associations=contacts", None, 200, T, "SimplePublicObjectWithAssociations"),
        ("GET", "/crm/v3/objects/tasks?limit=1&associations=contacts", None, 200, T,
         "CollectionResponseSimplePublicObjectWithAssociationsForwardPaging"),
        ("PATCH", f"/crm/v3/objects/tasks/{t}", {"properties": {"hs_task_status": "COMPLETED"}}, 200, T,
         "SimplePublicObject"),
        ("POST", "/crm/v3/objects/tasks/batch/create", {"inputs": [dict(TASK, objectWriteTraceId="x")]}, 201, T,
         "BatchResponseSimplePublicObject"),
        ("POST", "/crm/v3/objects/tasks/batch/update", {"inputs": [{"id": t, "properties": {"hs_task_body": "b"}}]},
         200, T, "BatchResponseSimplePublicObject"),
        ("POST", "/crm/v3/objects/tasks/batch/update", {"inputs": [{"id": "7", "properties": {"hs_task_body": "b"}}]},
         207, T, "BatchResponseSimplePublicObjectWithErrors"),
        ("POST", "/crm/v3/objects/tasks/search", {"query": "x"}, 200, T,
         "CollectionResponseWithTotalSimplePublicObjectForwardPaging"),
        ("POST", "/crm/v3/objects/contacts/merge", {"primaryObjectId": c[1], "objectIdToMerge": c[2]}, 200, C,
         "SimplePublicObject"),
        ("POST", "/crm/v4/associations/contacts/tasks/batch/read", {"inputs": [{"id": c[0]}]}, 200, assoc_pkg,
         "BatchResponsePublicAssociationMultiWithLabel"),
        ("POST", "/crm/v4/associations/contacts/tasks/batch/read", {"inputs": [{"id": c[1]}]}, 207, assoc_pkg,
         "BatchResponsePublicAssociationMultiWithLabelWithErrors"),
        ("GET", f"/crm/v4/objects/contacts/{c[0]}/associations/tasks", None, 200, assoc_pkg,
         "CollectionResponseMultiAssociatedObjectWithLabelForwardPaging"),
        ("PUT", f"/crm/v4/objects/tasks/{t}/associations/default/contacts/{c[1]}", None, 200, assoc_pkg,
         "BatchResponsePublicDefaultAssociation"),
        ("POST", "/crm/v4/associations/tasks/contacts/batch/associate/default",
         {"inputs": [{"from": {"id": t}, "to": {"id": c[0]}}]}, 200, assoc_pkg, "BatchResponsePublicDefaultAssociation"),
        ("PUT", f"/crm/v4/objects/tasks/{t}/associations/contacts/{c[0]}",
         [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 204}], 201, assoc_pkg,
         "LabelsBetweenObjectPair"),
        ("GET", "/crm/v3/owners/?limit=1", None, 200, owners_pkg, "CollectionResponsePublicOwnerForwardPaging"),
        ("GET", f"/crm/v3/owners/{owner['id']}", None, 200, owners_pkg, "PublicOwner"),
        ("GET", "/crm/v3/properties/contacts", None, 200, properties_pkg, "CollectionResponsePropertyNoPaging"),
        ("GET", "/crm/v3/properties/tasks/hs_task_type", None, 200, properties_pkg, "ModelProperty"),
        ("POST", "/crm/v3/properties/contacts", {"name": "p1", "label": "P1", "type": "bool",
                                                 "fieldType": "booleancheckbox", "groupName": "contactinformation"},
         201, properties_pkg, "ModelProperty"),
        ("GET", "/crm/v3/properties/tasks/groups", None, 200, properties_pkg, "CollectionResponsePropertyGroupNoPaging"),
        ("POST", "/crm/v3/properties/tasks/groups", {"name": "g1", "label": "G1"}, 201, properties_pkg,
         "PropertyGroup"),
        ("GET", "/crm/v3/properties/contacts/groups/contactinformation", None, 200, properties_pkg, "PropertyGroup"),
    ]


def test_every_success_body_fits_the_client_models(emu, raw, world):
    for method, path, body, status, package, model in _cases(world):
        r = raw(method, path, json=body)
        assert r.status_code == status, (method, path, r.text)
        parsed = strict_parse(package, model, r.text)
        assert type(parsed).__name__ == model
        assert r.headers["Content-Type"].startswith("application/json")
    form = {"grant_type": "refresh_token", "client_id": emu.oauth.client_id,
            "client_secret": emu.oauth.client_secret, "refresh_token": "emulator-refresh-token"}
    tok = raw("POST", "/oauth/v1/token", token=None, data=form)
    strict_parse(oauth_pkg, "TokenResponseIF", tok.text)
    info = raw("GET", f"/oauth/v1/access-tokens/{tok.json()['access_token']}", token=None)
    strict_parse(oauth_pkg, "AccessTokenInfoResponse", info.text)


def test_object_bodies_keep_property_values_strings(raw, world):
    body = raw("GET", "/crm/v3/objects/contacts?limit=3&properties=hs_object_id,num_contacted_notes,"
                      "hs_email_optout,notes_last_contacted").json()
    for result in body["results"]:
        assert all(v is None or isinstance(v, str) for v in result["properties"].values())
        assert result["createdAt"].endswith("Z") and len(result["createdAt"]) == 24


def _assert_error(body: dict, category: str) -> None:
    assert body["status"] == "error" and body["category"] == category
    assert isinstance(body["message"], str) and body["message"]
    uuid.UUID(body["correlationId"])
    strict_parse(tasks_pkg, "Error", json.dumps(body))  # the spec's Error model


def test_error_bodies(emu, raw, world):
    _assert_error(raw("GET", "/crm/v3/objects/contacts/1").json(), "OBJECT_NOT_FOUND")
    _assert_error(raw("GET", "/crm/v3/objects/contacts", token=None).json(), "INVALID_AUTHENTICATION")
    _assert_error(raw("POST", "/crm/v3/objects/contacts", json={"properties": {"x": "1"}}).json(), "VALIDATION_ERROR")
    _assert_error(raw("POST", "/crm/v3/objects/contacts", data=b"{not json").json(), "VALIDATION_ERROR")
    dup = {"properties": {"email": emu.get_contact(world["c"][0])["email"]}}
    _assert_error(raw("POST", "/crm/v3/objects/contacts", json=dup).json(), "CONFLICT")
    _assert_error(raw("POST", "/crm/v3/objects/deals", json={}).json(), "VALIDATION_ERROR")
    r = raw("DELETE", "/crm/v3/owners/")
    assert r.status_code == 405


def test_207_item_errors_are_standard_errors(raw, world):
    body = raw("POST", "/crm/v3/objects/contacts/batch/read", json={"inputs": [{"id": "1"}]}).json()
    err = body["errors"][0]
    assert set(err) >= {"status", "category", "message", "context", "errors", "links"}
    assert body["numErrors"] == 1 and body["status"] == "COMPLETE"
    strict_parse(contacts_pkg, "StandardError", json.dumps(err))


def test_models_module_names_exist():
    # the names used above are the client's own (guards against silent typos)
    for package, names in ((contacts_pkg, ["BatchResponseSimplePublicUpsertObject", "StandardError"]),
                           (oauth_pkg, ["TokenResponseIF", "AccessTokenInfoResponse"])):
        models = importlib.import_module(package.__name__ + ".models")
        for name in names:
            assert hasattr(models, name)
