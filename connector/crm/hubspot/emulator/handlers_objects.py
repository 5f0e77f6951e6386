"""Contacts and tasks: list, get, create, update, archive, batch read/create/update/
upsert/archive, search, merge (``/crm/v3/objects/{objectType}...``)."""

from __future__ import annotations

import random
from typing import Any

from . import errors, search
from .properties import TEXT_SEARCHED
from .router import Request, Response
from .state import State, object_type
from .store import AssociationStore

LIST_MAX = 100
BATCH_MAX = 100
TYPE_NAMES = {"contacts": "CONTACT", "tasks": "TASK"}


def _store(state: State, req: Request):
    t = object_type(req.params["objectType"])
    return t, state.stores[t], state.registries[t]


def _inputs(body, limit: int = BATCH_MAX) -> list:
    return errors.batch_inputs(body, limit)


def _batch_body(results: list, errs: list, started: str, state: State) -> dict:
    if state.shuffle_batch_results:
        random.shuffle(results)
    body: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": started, "completedAt": state.now_iso()}
    if errs:
        body["numErrors"] = len(errs)
        body["errors"] = errs
    return body


# -- associations given inline on create -------------------------------------------------

def parse_associations(state: State, obj_type: str, items) -> list[tuple[str, int]]:
    pairs = []
    for item in items or []:
        if not isinstance(item, dict):
            raise errors.validation("Invalid association input.")
        to_raw = (item.get("to") or {}).get("id")
        types = item.get("types") or []
        if to_raw is None or not types:
            raise errors.validation("Each association needs 'to.id' and at least one type.")
        for spec in types:
            category = spec.get("associationCategory")
            try:
                type_id = int(spec.get("associationTypeId"))
            except (TypeError, ValueError):
                raise errors.validation(f"Invalid associationTypeId {spec.get('associationTypeId')!r}.") from None
            to_type = next((to for (frm, to), tid in AssociationStore.DEFAULT_TYPES.items()
                            if frm == obj_type and tid == type_id), None)
            if category != "HUBSPOT_DEFINED" or to_type is None:
                raise errors.validation(
                    f"{category} association type {type_id} is not valid from {obj_type} "
                    f"(this emulator knows contact_to_task 203 and task_to_contact 204).")
            target = state.stores[to_type].get(to_raw)
            if target is None:
                raise errors.validation(
                    f"One or more associations are invalid: {to_type[:-1]} {to_raw} does not exist.",
                    context={"toObjectId": [str(to_raw)]})
            pairs.append((to_type, target.id))
    return pairs


# -- write preparation ---------------------------------------------------------------------

def _task_rules(values: dict, old: dict | None, now_iso: str) -> None:
    """Tasks: completing one stamps ``hs_task_completion_date`` (emulator choice, see docs)."""
    status = values.get("hs_task_status")
    if status is None or "hs_task_completion_date" in values:
        return
    was = (old or {}).get("hs_task_status")
    if status == "COMPLETED" and was != "COMPLETED":
        values["hs_task_completion_date"] = now_iso
    elif status != "COMPLETED" and was == "COMPLETED":
        values["hs_task_completion_date"] = None


def prepare_create(state: State, obj_type: str, item, pending: dict | None = None, allow_read_only=False):
    if not isinstance(item, dict) or not isinstance(item.get("properties", {}), dict):
        raise errors.validation("Invalid input: 'properties' must be an object.")
    registry, store = state.registries[obj_type], state.stores[obj_type]
    values = registry.normalize(item.get("properties") or {}, allow_read_only=allow_read_only)
    if obj_type == "tasks":
        if values.get("hs_timestamp") is None:
            raise errors.property_values_error([errors.property_problem(
                "hs_timestamp", "REQUIRED_PROPERTY", "hs_timestamp is required to create a task.")])
        _task_rules(values, None, state.now_iso())
    store.check_unique(values, pending=pending)
    pairs = parse_associations(state, obj_type, item.get("associations"))
    return values, pairs


def apply_create(state: State, obj_type: str, values: dict, pairs):
    rec = state.stores[obj_type].create(values)
    for to_type, to_id in pairs:
        state.assoc.add(obj_type, rec.id, to_type, to_id)
    return rec


def apply_update(state: State, obj_type: str, rec, values: dict):
    store = state.stores[obj_type]
    if obj_type == "tasks":
        _task_rules(values, rec.props, state.now_iso())
    changed = {k: v for k, v in values.items() if rec.props.get(k) != v}
    if changed:  # a write that changes nothing leaves lastmodifieddate alone
        store.update(rec, changed)
    return rec


# -- single-object endpoints -----------------------------------------------------------------

def list_objects(state: State, req: Request) -> Response:
    t, store, _ = _store(state, req)
    limit = req.q_int("limit", 10)
    if limit < 1:
        raise errors.validation(f"limit must be at least 1; got {limit}")
    limit = min(limit, LIST_MAX)  # HubSpot returns at most 100 a page
    after_raw = req.q("after")
    after = None
    if after_raw:
        if not after_raw.isdigit():
            raise errors.validation(f"after must be a valid paging cursor; got {after_raw!r}")
        after = int(after_raw)
    page, nxt = store.page(after, limit, archived=req.q_bool("archived"))
    props, history, assoc = req.q_list("properties"), req.q_list("propertiesWithHistory"), req.q_list("associations")
    body: dict[str, Any] = {"results": [state.render(t, r, props, history=history, associations=assoc) for r in page]}
    if nxt is not None:
        body["paging"] = {"next": {"after": str(nxt), "link": f"{state.base_url}/crm/v3/objects/{t}?after={nxt}"}}
    return Response(200, body)


def get_object(state: State, req: Request) -> Response:
    t, store, _ = _store(state, req)
    raw_id, id_prop = req.params["objectId"], req.q("idProperty")
    if req.q_bool("archived"):
        rec = store.archived.get(store.resolve(raw_id) or -1)
    else:
        rec = store.lookup(raw_id, id_prop)
    if rec is None:
        raise errors.not_found()
    return Response(200, state.render(t, rec, req.q_list("properties"), history=req.q_list("propertiesWithHistory"),
                                      associations=req.q_list("associations")))


def create_object(state: State, req: Request) -> Response:
    t, _, _ = _store(state, req)
    values, pairs = prepare_create(state, t, req.json())
    rec = apply_create(state, t, values, pairs)
    return Response(201, state.render(t, rec, all_props=True))


def update_object(state: State, req: Request) -> Response:
    t, store, registry = _store(state, req)
    body = req.json()
    if not isinstance(body, dict) or not isinstance(body.get("properties", {}), dict):
        raise errors.validation("Invalid input: 'properties' must be an object.")
    rec = store.lookup(req.params["objectId"], req.q("idProperty"))
    if rec is None:
        raise errors.not_found()
    values = registry.normalize(body.get("properties") or {})
    store.check_unique(values, exclude_id=rec.id)
    apply_update(state, t, rec, values)
    return Response(200, state.render(t, rec, all_props=True))


def archive_object(state: State, req: Request) -> Response:
    _t, store, _ = _store(state, req)
    rec = store.get(req.params["objectId"])
    if rec is not None:  # deleting an unknown id is a 204 too (facts §2.2)
        store.archive(rec)
    return Response(204)


# -- batch endpoints ---------------------------------------------------------------------------

def batch_read(state: State, req: Request) -> Response:
    t, store, _ = _store(state, req)
    body = req.json()
    inputs = _inputs(body)
    started = state.now_iso()
    id_prop = body.get("idProperty")
    archived = req.q_bool("archived")
    props, history = body.get("properties") or [], body.get("propertiesWithHistory") or []
    results, missing, seen = [], [], set()
    for item in inputs:
        raw = str((item or {}).get("id", ""))
        if archived:
            rec = store.archived.get(store.resolve(raw) or -1)
        else:
            rec = store.lookup(raw, id_prop)
        if rec is None:
            missing.append(raw)
        elif rec.id not in seen:
            seen.add(rec.id)
            results.append(state.render(t, rec, props, history=history))
    errs = _not_found(t, "get", missing)
    return Response(207 if errs else 200, _batch_body(results, errs, started, state))


def _not_found(t: str, verb: str, missing: list) -> list:
    """The 207 error for ids of a batch that do not exist (none when all do)."""
    if not missing:
        return []
    return [errors.standard_error(
        "OBJECT_NOT_FOUND",
        f"Could not {verb} some {TYPE_NAMES[t]} objects, they may be deleted or not exist. Check that ids are valid.",
        context={"ids": missing})]


def _trace_ids(inputs: list) -> list | None:
    """Multi-status only when every input has a unique objectWriteTraceId (facts §2.3)."""
    ids = [(i or {}).get("objectWriteTraceId") if isinstance(i, dict) else None for i in inputs]
    if inputs and all(ids) and len(set(ids)) == len(ids):
        return ids
    return None


def _item_error(exc: errors.ApiError, trace_id: str) -> dict:
    err = errors.standard_error(exc.body.get("category", "VALIDATION_ERROR"), exc.body.get("message", ""),
                                context={"objectWriteTraceId": [trace_id]})
    err["errors"] = exc.body.get("errors", [])
    return err


def batch_create(state: State, req: Request) -> Response:
    t, _, _ = _store(state, req)
    inputs = _inputs(req.json())
    started = state.now_iso()
    traces = _trace_ids(inputs)
    pending: dict = {}
    prepared, errs = [], []
    for i, item in enumerate(inputs):
        try:
            values, pairs = prepare_create(state, t, item, pending=pending)
        except errors.ApiError as exc:
            if traces is None:
                raise  # without trace ids the whole batch fails on the first problem
            errs.append(_item_error(exc, traces[i]))
            continue
        prepared.append((i, values, pairs))
        for name in state.registries[t].unique_names():  # duplicates inside the batch conflict too
            if values.get(name) is not None:
                pending[(name, values[name].lower() if name == "email" else values[name])] = f"input {i}"
    results = []
    for i, values, pairs in prepared:
        rec = apply_create(state, t, values, pairs)
        results.append(state.render(t, rec, all_props=True, trace_id=traces[i] if traces else None))
    return Response(207 if errs else 201, _batch_body(results, errs, started, state))


def batch_update(state: State, req: Request) -> Response:
    t, store, registry = _store(state, req)
    inputs = _inputs(req.json())
    started = state.now_iso()
    work, missing = [], []
    for item in inputs:
        if not isinstance(item, dict) or not isinstance(item.get("properties", {}), dict):
            raise errors.validation("Invalid input: each input needs 'id' and 'properties'.")
        values = registry.normalize(item.get("properties") or {})
        rec = store.lookup(str(item.get("id", "")), item.get("idProperty"))
        if rec is None:
            missing.append(str(item.get("id", "")))
            continue
        store.check_unique(values, exclude_id=rec.id)
        work.append((rec, values, item.get("objectWriteTraceId")))
    results = []
    for rec, values, trace in work:
        apply_update(state, t, rec, values)
        results.append(state.render(t, rec, all_props=True, trace_id=trace))
    errs = _not_found(t, "update", missing)
    return Response(207 if errs else 200, _batch_body(results, errs, started, state))


def batch_upsert(state: State, req: Request) -> Response:
    t, store, registry = _store(state, req)
    inputs = _inputs(req.json())
    started = state.now_iso()
    results = []
    for item in inputs:
        if not isinstance(item, dict) or not item.get("idProperty") or item.get("id") in (None, ""):
            raise errors.validation("Each upsert input needs 'id' and 'idProperty'.")
        id_prop = item["idProperty"]
        rec = store.lookup(str(item["id"]), id_prop)
        if rec is None:
            props = dict(item.get("properties") or {})
            props[id_prop] = item["id"]
            values, pairs = prepare_create(state, t, {"properties": props})
            rec, new = apply_create(state, t, values, pairs), True
        else:
            values = registry.normalize(item.get("properties") or {})
            store.check_unique(values, exclude_id=rec.id)
            apply_update(state, t, rec, values)
            new = False
        out = state.render(t, rec, all_props=True, trace_id=item.get("objectWriteTraceId"))
        out["new"] = new
        results.append(out)
    return Response(200, _batch_body(results, [], started, state))


def batch_archive(state: State, req: Request) -> Response:
    _t, store, _ = _store(state, req)
    for item in _inputs(req.json()):
        rec = store.get(str((item or {}).get("id", "")))
        if rec is not None:
            store.archive(rec)
    return Response(204)


# -- search and merge ----------------------------------------------------------------------------

def search_objects(state: State, req: Request) -> Response:
    t, store, registry = _store(state, req)
    body = req.json()

    def assoc_lookup(oid, to_type):
        return state.assoc.targets(t, oid, to_type) if to_type in state.stores else {}

    parsed = search.parse_request(body, registry, assoc_lookup, TEXT_SEARCHED[t])
    total, page, nxt = search.execute(store, parsed)
    props = body.get("properties") or []
    results = [state.render(t, store.records[oid], props, source=p) for oid, p in page]
    out = {"total": total, "results": results}
    if nxt is not None:
        out["paging"] = {"next": {"after": str(nxt)}}
    return Response(200, out)


def merge(state: State, req: Request) -> Response:
    body = req.json()
    primary, merged = body.get("primaryObjectId"), body.get("objectIdToMerge")
    if primary is None or merged is None:
        raise errors.validation("primaryObjectId and objectIdToMerge are required.")
    rec = merge_contacts(state, primary, merged)
    return Response(200, state.render("contacts", rec, all_props=True))


def merge_contacts(state: State, primary_id, merged_id):
    store = state.stores["contacts"]
    primary, merged = store.get(primary_id), store.get(merged_id)
    if primary is None or merged is None:
        raise errors.not_found()
    if primary.id == merged.id:
        raise errors.validation("Cannot merge a contact with itself.")
    fill = {k: v for k, v in merged.props.items()
            if primary.props.get(k) is None and k not in ("hs_object_id", "createdate", "lastmodifieddate", "email")}
    merged_email = merged.props.get("email")
    ids = [x for x in (primary.props.get("hs_merged_object_ids") or "").split(";") if x]
    ids += [str(merged.id)] + [x for x in (merged.props.get("hs_merged_object_ids") or "").split(";") if x]
    fill["hs_merged_object_ids"] = ";".join(ids)
    vids = [x for x in (primary.props.get("hs_calculated_merged_vids") or "").split(";") if x]
    fill["hs_calculated_merged_vids"] = ";".join(vids + [f"{merged.id}:{state.now_ms()}"])
    if merged_email:
        extra = [x for x in (primary.props.get("hs_additional_emails") or "").split(";") if x]
        fill["hs_additional_emails"] = ";".join(extra + [merged_email])
    store.absorb(primary, merged)
    if merged_email:
        store.add_additional_email(primary.id, merged_email)
    state.assoc.move("contacts", merged.id, primary.id)
    store.update(primary, fill)
    return primary


def register(router) -> None:
    base = "/crm/v3/objects/{objectType}"
    router.add("GET", base, list_objects, "GET /crm/v3/objects/{objectType}")
    router.add("POST", base, create_object, "POST /crm/v3/objects/{objectType}", write=True)
    router.add("POST", "/crm/v3/objects/{objectType}/search", search_objects,
               "POST /crm/v3/objects/{objectType}/search", search=True)
    router.add("POST", "/crm/v3/objects/contacts/merge", merge, "POST /crm/v3/objects/contacts/merge", write=True)
    for op, fn, write in (("read", batch_read, False), ("create", batch_create, True),
                          ("update", batch_update, True), ("upsert", batch_upsert, True),
                          ("archive", batch_archive, True)):
        router.add("POST", f"{base}/batch/{op}", fn, f"POST /crm/v3/objects/{{objectType}}/batch/{op}", write=write)
    item = base + "/{objectId}"
    router.add("GET", item, get_object, "GET /crm/v3/objects/{objectType}/{ID}")
    router.add("PATCH", item, update_object, "PATCH /crm/v3/objects/{objectType}/{ID}", write=True)
    router.add("DELETE", item, archive_object, "DELETE /crm/v3/objects/{objectType}/{ID}", write=True)
