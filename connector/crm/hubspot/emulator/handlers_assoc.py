"""Associations v4 (and the legacy v3 per-task PUT), facts §1.4.

``toObjectId`` goes out as a JSON number, as HubSpot's docs example shows.
"""

from __future__ import annotations

from typing import Any

from . import errors
from .router import Request, Response
from .state import TYPE_IDS, State, object_type
from .store import AssociationStore

BATCH_READ_MAX = 1000
BATCH_WRITE_MAX = 2000
PER_RECORD_MAX = 500


def _pair(req: Request, from_key: str, to_key: str) -> tuple[str, str]:
    frm, to = object_type(req.params[from_key]), object_type(req.params[to_key])
    if (frm, to) not in AssociationStore.DEFAULT_TYPES:
        raise errors.validation(f"No association is defined between {frm} and {to}.")
    return frm, to


def _types(frm: str, to: str, type_ids) -> list[dict]:
    label = AssociationStore.LABELS
    return [{"category": "HUBSPOT_DEFINED", "typeId": tid, "label": None} for tid in sorted(type_ids)
            if tid in label]


def batch_read(state: State, req: Request) -> Response:
    frm, to = _pair(req, "fromObjectType", "toObjectType")
    inputs = errors.batch_inputs(req.json(), BATCH_READ_MAX)
    started = state.now_iso()
    results, errs = [], []
    for item in inputs:
        raw = str((item or {}).get("id", ""))
        rec = state.stores[frm].get(raw)
        targets = sorted(state.live_targets(frm, rec.id, to).items()) if rec else []
        if not targets:
            errs.append({"status": "error", "category": "OBJECT_NOT_FOUND",
                         "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                         "message": f"No {to[:-1]} is associated with {frm[:-1]} {raw}.",
                         "context": {"fromObjectId": [raw]}, "errors": [], "links": {}})
            continue
        after = int((item or {}).get("after") or 0) if str((item or {}).get("after") or "0").isdigit() else 0
        start = next((i for i, (tid, _) in enumerate(targets) if tid >= after), len(targets)) if after else 0
        chunk = targets[start:start + PER_RECORD_MAX]
        entry = {"from": {"id": raw}, "to": [{"toObjectId": tid, "associationTypes": _types(frm, to, types)}
                                            for tid, types in chunk]}
        if start + PER_RECORD_MAX < len(targets):
            entry["paging"] = {"next": {"after": str(targets[start + PER_RECORD_MAX][0])}}
        results.append(entry)
    body: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": started, "completedAt": state.now_iso()}
    if errs:
        body["numErrors"] = len(errs)
        body["errors"] = errs
    return Response(207 if errs else 200, body)


def per_record(state: State, req: Request) -> Response:
    frm, to = _pair(req, "objectType", "toObjectType")
    limit = min(max(req.q_int("limit", PER_RECORD_MAX), 1), PER_RECORD_MAX)
    after = req.q("after")
    rec = state.stores[frm].get(req.params["objectId"])
    targets = sorted(state.live_targets(frm, rec.id, to).items()) if rec else []
    if after and after.isdigit():
        targets = [t for t in targets if t[0] >= int(after)]
    body: dict[str, Any] = {"results": [{"toObjectId": tid, "associationTypes": _types(frm, to, types)}
                        for tid, types in targets[:limit]]}
    if len(targets) > limit:
        body["paging"] = {"next": {"after": str(targets[limit][0])}}
    return Response(200, body)


def _associate(state: State, frm: str, from_raw, to: str, to_raw) -> list[dict]:
    a, b = state.stores[frm].get(from_raw), state.stores[to].get(to_raw)
    if a is None or b is None:
        missing = from_raw if a is None else to_raw
        raise errors.validation(f"One or more associations are invalid: object {missing} does not exist.",
                                context={"objectId": [str(missing)]})
    state.assoc.add(frm, a.id, to, b.id)
    fwd, back = AssociationStore.DEFAULT_TYPES[(frm, to)], AssociationStore.DEFAULT_TYPES[(to, frm)]
    return [{"from": {"id": str(a.id)}, "to": {"id": str(b.id)},
             "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": fwd}},
            {"from": {"id": str(b.id)}, "to": {"id": str(a.id)},
             "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": back}}]


def create_default(state: State, req: Request) -> Response:
    frm, to = _pair(req, "fromObjectType", "toObjectType")
    started = state.now_iso()
    results = _associate(state, frm, req.params["fromObjectId"], to, req.params["toObjectId"])
    return Response(200, {"status": "COMPLETE", "results": results, "startedAt": started,
                          "completedAt": state.now_iso()})


def batch_create_default(state: State, req: Request) -> Response:
    frm, to = _pair(req, "fromObjectType", "toObjectType")
    inputs = errors.batch_inputs(req.json(), BATCH_WRITE_MAX)
    started = state.now_iso()
    checked = []
    for item in inputs:  # validate everything before writing anything
        a = state.stores[frm].get(((item or {}).get("from") or {}).get("id", ""))
        b = state.stores[to].get(((item or {}).get("to") or {}).get("id", ""))
        if a is None or b is None:
            raise errors.validation("One or more associations are invalid: an object does not exist.")
        checked.append((a.id, b.id))
    results = []
    for from_id, to_id in checked:
        results.extend(_associate(state, frm, from_id, to, to_id))
    return Response(200, {"status": "COMPLETE", "results": results, "startedAt": started,
                          "completedAt": state.now_iso()})


def batch_archive(state: State, req: Request) -> Response:
    frm, to = _pair(req, "fromObjectType", "toObjectType")
    body = req.json()
    for item in (body.get("inputs") or []) if isinstance(body, dict) else []:
        a = state.stores[frm].resolve(((item or {}).get("from") or {}).get("id", ""))
        for target in (item or {}).get("to") or []:
            b = state.stores[to].resolve((target or {}).get("id", ""))
            if a is not None and b is not None:
                state.assoc.remove(frm, a, to, b)
    return Response(204)


def create_labelled(state: State, req: Request) -> Response:
    frm, to = _pair(req, "objectType", "toObjectType")
    body = req.json()
    specs = body if isinstance(body, list) else []
    expected = AssociationStore.DEFAULT_TYPES[(frm, to)]
    for spec in specs:
        if spec.get("associationCategory") != "HUBSPOT_DEFINED" or int(spec.get("associationTypeId", 0)) != expected:
            raise errors.validation(f"Association type {spec.get('associationTypeId')} is not valid from {frm} to {to}.")
    _associate(state, frm, req.params["objectId"], to, req.params["toObjectId"])
    a, b = state.stores[frm].get(req.params["objectId"]), state.stores[to].get(req.params["toObjectId"])
    assert a is not None and b is not None  # _associate raised otherwise
    return Response(201, {"fromObjectTypeId": TYPE_IDS[frm], "fromObjectId": a.id, "toObjectTypeId": TYPE_IDS[to],
                          "toObjectId": b.id, "labels": []})


def archive_pair(state: State, req: Request) -> Response:
    frm, to = _pair(req, "objectType", "toObjectType")
    a, b = state.stores[frm].resolve(req.params["objectId"]), state.stores[to].resolve(req.params["toObjectId"])
    if a is not None and b is not None:
        state.assoc.remove(frm, a, to, b)
    return Response(204)


def legacy_v3_put(state: State, req: Request) -> Response:
    """``PUT /crm/v3/objects/{type}/{id}/associations/{toType}/{toId}/{typeId}`` (typeId or label)."""
    frm, to = _pair(req, "objectType", "toObjectType")
    raw_type = req.params["associationType"]
    expected = AssociationStore.DEFAULT_TYPES[(frm, to)]
    if raw_type not in (str(expected), AssociationStore.LABELS[expected]):
        raise errors.validation(f"Association type {raw_type} is not valid from {frm} to {to}.")
    _associate(state, frm, req.params["objectId"], to, req.params["toObjectId"])
    rec = state.stores[frm].get(req.params["objectId"])
    return Response(200, state.render(frm, rec, associations=[to]))


def register(router) -> None:
    v4 = "/crm/v4/associations/{fromObjectType}/{toObjectType}/batch"
    tpl = "POST /crm/v4/associations/{fromObjectType}/{toObjectType}/batch"
    router.add("POST", v4 + "/read", batch_read, tpl + "/read")
    router.add("POST", v4 + "/associate/default", batch_create_default, tpl + "/associate/default", write=True)
    router.add("POST", v4 + "/archive", batch_archive, tpl + "/archive", write=True)
    router.add("PUT", "/crm/v4/objects/{fromObjectType}/{fromObjectId}/associations/default/{toObjectType}/{toObjectId}",
               create_default,
               "PUT /crm/v4/objects/{fromObjectType}/{fromObjectId}/associations/default/{toObjectType}/{toObjectId}",
               write=True)
    router.add("GET", "/crm/v4/objects/{objectType}/{objectId}/associations/{toObjectType}", per_record,
               "GET /crm/v4/objects/{objectType}/{objectId}/associations/{toObjectType}")
    router.add("PUT", "/crm/v4/objects/{objectType}/{objectId}/associations/{toObjectType}/{toObjectId}",
               create_labelled, "PUT /crm/v4/objects/{objectType}/{objectId}/associations/{toObjectType}/{toObjectId}",
               write=True)
    router.add("DELETE", "/crm/v4/objects/{objectType}/{objectId}/associations/{toObjectType}/{toObjectId}",
               archive_pair, "DELETE /crm/v4/objects/{objectType}/{objectId}/associations/{toObjectType}/{toObjectId}",
               write=True)
    router.add("PUT", "/crm/v3/objects/{objectType}/{objectId}/associations/{toObjectType}/{toObjectId}/"
               "{associationType}", legacy_v3_put,
               "PUT /crm/v3/objects/{objectType}/{ID}/associations/{toObjectType}/{toObjectId}/{associationTypeId}",
               write=True)
