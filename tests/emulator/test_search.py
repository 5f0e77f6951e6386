"""Search semantics and limits (facts §1.3)."""

from __future__ import annotations

import pytest
from hubspot.crm.contacts import Filter, FilterGroup, PublicObjectSearchRequest
from hubspot.crm.contacts.exceptions import ApiException

from connector.crm.hubspot.emulator.timefmt import iso_from_ms


def _search(client, *filters, **kw):
    groups = [FilterGroup(filters=list(filters))] if filters else []
    return client.crm.contacts.search_api.do_search(PublicObjectSearchRequest(filter_groups=groups, **kw))


@pytest.fixture
def people(emu):
    emu.freeze_clock()
    rows = [
        {"email": "ann@acme.com", "firstname": "Ann", "lastname": "Lee", "hs_lead_status": "NEW",
         "num_contacted_notes": "3", "notes_last_contacted": "2025-01-01T00:00:00Z", "company": "Acme Corp"},
        {"email": "bob@globex.com", "firstname": "Bob", "lastname": "Stone", "hs_lead_status": "OPEN",
         "num_contacted_notes": "10", "notes_last_contacted": "2025-02-01T00:00:00Z", "company": "Globex"},
        {"email": "cy@acme.com", "firstname": "Cy", "lastname": "Lee", "hs_lead_status": "CONNECTED",
         "company": "Acme Corp"},
        {"email": "di@initech.com", "firstname": "Di", "lastname": "Ng", "phone": "+1 555 0100"},
    ]
    return [emu.create_contact(r) for r in rows]


def ids(resp):
    return [r.id for r in resp.results]


def test_operators(client, people):
    ann, bob, cy, di = people
    F = Filter
    assert ids(_search(client, F(property_name="lastname", operator="EQ", value="lee"))) == [ann, cy]  # case-insensitive
    assert ids(_search(client, F(property_name="hs_lead_status", operator="EQ", value="new"))) == []  # enums are not
    assert ids(_search(client, F(property_name="hs_lead_status", operator="NEQ", value="NEW"))) == [bob, cy, di]
    assert ids(_search(client, F(property_name="num_contacted_notes", operator="GT", value="4"))) == [bob]  # numeric
    assert ids(_search(client, F(property_name="num_contacted_notes", operator="LTE", value="3"))) == [ann]
    assert ids(_search(client, F(property_name="num_contacted_notes", operator="LT", value="3"))) == []
    assert ids(_search(client, F(property_name="num_contacted_notes", operator="GTE", value="3"))) == [ann, bob]
    assert ids(_search(client, F(property_name="notes_last_contacted", operator="BETWEEN",
                                 value="2024-12-31T00:00:00Z", high_value="1735776000000"))) == [ann]  # ISO or ms
    assert ids(_search(client, F(property_name="hs_lead_status", operator="IN", values=["NEW", "OPEN"]))) == [ann, bob]
    assert ids(_search(client, F(property_name="lastname", operator="IN", values=["LEE"]))) == []  # needs lowercase
    assert ids(_search(client, F(property_name="lastname", operator="IN", values=["lee"]))) == [ann, cy]
    assert ids(_search(client, F(property_name="hs_lead_status", operator="NOT_IN", values=["NEW"]))) == [bob, cy, di]
    assert ids(_search(client, F(property_name="phone", operator="HAS_PROPERTY"))) == [di]
    assert ids(_search(client, F(property_name="phone", operator="NOT_HAS_PROPERTY"))) == [ann, bob, cy]
    assert ids(_search(client, F(property_name="email", operator="CONTAINS_TOKEN", value="acme"))) == [ann, cy]
    assert ids(_search(client, F(property_name="email", operator="CONTAINS_TOKEN", value="*@globex.com"))) == [bob]
    assert ids(_search(client, F(property_name="company", operator="NOT_CONTAINS_TOKEN", value="acme"))) == [bob, di]


def test_groups_are_or_filters_are_and(client, people):
    ann, _bob, _cy, di = people
    req = PublicObjectSearchRequest(filter_groups=[
        FilterGroup(filters=[Filter(property_name="lastname", operator="EQ", value="Lee"),
                             Filter(property_name="hs_lead_status", operator="EQ", value="NEW")]),
        FilterGroup(filters=[Filter(property_name="firstname", operator="EQ", value="Di")])])
    assert ids(client.crm.contacts.search_api.do_search(req)) == [ann, di]


def test_sorting_both_syntaxes_and_defaults(client, people, raw):
    ann, bob, cy, di = people
    resp = _search(client, sorts=[{"propertyName": "num_contacted_notes", "direction": "DESCENDING"}])
    assert ids(resp) == [bob, ann, cy, di]  # numeric order, missing values last
    body = raw("POST", "/crm/v3/objects/contacts/search", json={"sorts": ["-firstname"]}).json()
    assert [r["id"] for r in body["results"]] == [di, cy, bob, ann]
    assert set(body["results"][0]["properties"]) == {"firstname", "lastname", "email", "createdate",
                                                     "lastmodifieddate", "hs_object_id"}
    r = raw("POST", "/crm/v3/objects/contacts/search",
            json={"sorts": [{"propertyName": "email"}, {"propertyName": "firstname"}]})
    assert r.status_code == 400  # only one sort


def test_paging_total_and_query(client, emu, people):
    first = _search(client, limit=3)
    assert first.total == 4 and len(first.results) == 3 and first.paging.next.after == "3"
    rest = _search(client, limit=3, after=first.paging.next.after)
    assert len(rest.results) == 1 and rest.paging is None
    assert ids(_search(client, query="acm")) == [people[0], people[2]]  # prefix match on company/email


@pytest.mark.parametrize("body, fragment", [
    ({"limit": 201}, "limit"),
    ({"after": "abc"}, "integer"),
    ({"filterGroups": [{"filters": [{"propertyName": "email", "operator": "HAS_PROPERTY"}]}] * 6}, "filter groups"),
    ({"filterGroups": [{"filters": [{"propertyName": "email", "operator": "HAS_PROPERTY"}] * 7}]}, "filter group"),
    ({"filterGroups": [{"filters": [{"propertyName": "email", "operator": "HAS_PROPERTY"}] * 5}] * 4},
     "maximum 18"),
    ({"query": "x" * 3001}, "query"),
    ({"filterGroups": [{"filters": [{"propertyName": "nope", "operator": "EQ", "value": "1"}]}]}, "nope"),
    ({"filterGroups": [{"filters": [{"propertyName": "email", "operator": "LIKE", "value": "1"}]}]}, "operator"),
])
def test_request_limits_are_400(raw, body, fragment):
    r = raw("POST", "/crm/v3/objects/contacts/search", json=body)
    assert r.status_code == 400
    err = r.json()
    assert err["category"] == "VALIDATION_ERROR" and fragment in err["message"]


def test_18_filters_in_total_is_allowed(raw):
    body = {"filterGroups": [{"filters": [{"propertyName": "email", "operator": "HAS_PROPERTY"}] * 6}] * 3}
    assert raw("POST", "/crm/v3/objects/contacts/search", json=body).status_code == 200


def test_ten_thousand_result_cap(emu, raw):
    emu.seed_contacts(10_050, seed=5)
    body = {"limit": 200, "after": "9800", "properties": ["email"]}
    page = raw("POST", "/crm/v3/objects/contacts/search", json=body).json()
    assert page["total"] == 10_050 and len(page["results"]) == 200
    assert page["paging"]["next"]["after"] == "10000"  # HubSpot still hands out the next cursor...
    body["after"] = page["paging"]["next"]["after"]
    r = raw("POST", "/crm/v3/objects/contacts/search", json=body)
    assert r.status_code == 400 and r.json()["category"] == "VALIDATION_ERROR"  # ...which then fails
    assert "10000" in r.json()["message"]


def test_search_lag_hides_new_and_changed_objects(emu, client):
    clock = emu.freeze_clock()
    emu.faults.search_lag_seconds = 5
    old = emu.create_contact({"email": "old@example.com", "firstname": "Old"})
    clock.advance(5)
    new = emu.create_contact({"email": "new@example.com", "firstname": "New"})
    emu.set_property("contacts", old, "firstname", "Renamed")
    got = _search(client, properties=["firstname"])
    assert ids(got) == [old] and got.results[0].properties["firstname"] == "Old"  # stale view
    assert client.crm.contacts.basic_api.get_by_id(old).properties["firstname"] == "Renamed"  # reads are fresh
    clock.advance(4.9)
    assert ids(_search(client)) == [old]
    clock.advance(0.2)
    got = _search(client, properties=["firstname"])
    assert ids(got) == [old, new] and got.results[0].properties["firstname"] == "Renamed"
    emu.delete_contact(new)  # archived objects leave search at once
    assert ids(_search(client)) == [old]


def test_datetime_filter_accepts_epoch_ms(emu, client):
    clock = emu.freeze_clock()
    a = emu.create_contact({"email": "a@example.com"})
    cutoff = int(clock.time() * 1000)
    clock.advance(1)
    b = emu.create_contact({"email": "b@example.com"})
    got = _search(client, Filter(property_name="lastmodifieddate", operator="GTE", value=str(cutoff + 1)))
    assert ids(got) == [b]
    got = _search(client, Filter(property_name="createdate", operator="LT", value=iso_from_ms(cutoff + 1)))
    assert ids(got) == [a]


def test_search_results_shape_via_client_model(client, people):
    resp = _search(client, properties=["email"], limit=1)
    assert resp.results[0].created_at is not None and resp.results[0].archived is False
    with pytest.raises(ApiException):
        _search(client, limit=500)


def _search_body(groups, sort_desc=None, after=None):
    body = {"filterGroups": [{"filters": g} for g in groups], "properties": ["hs_lead_status"], "limit": 7}
    if sort_desc is not None:
        body["sorts"] = [{"propertyName": "hs_object_id", "direction": "DESCENDING" if sort_desc else "ASCENDING"}]
    if after is not None:
        body["after"] = str(after)
    return body


def test_id_floor_reads_from_its_place_and_answers_as_a_full_scan(emu, monkeypatch):
    """The keyset-paged search (hs_object_id GT/GTE, sorted by id) starts at its id instead of testing
    every object: same totals, pages and paging as a scan of everything, with archived objects, merged
    ones, writes still hidden by the indexing lag, several groups with different floors, a group with
    no id filter, fractional and out-of-range values, and the floor filters mixed with others."""
    import json

    from connector.crm.hubspot.emulator import search

    emu.freeze_clock()
    statuses = ["NEW", "OPEN", "CONNECTED", None]
    made = [int(emu.create_contact({"email": f"p{i}@x.example", "hs_lead_status": statuses[i % 4]} if statuses[i % 4]
                                   else {"email": f"p{i}@x.example"})) for i in range(60)]
    for oid in made[5:60:7]:
        emu.delete_contact(oid)
    emu.merge_contacts(made[10], made[11])
    emu.faults.search_lag_seconds = 3600.0  # these stay out of the search index
    made += [int(emu.create_contact({"email": f"late{i}@x.example", "hs_lead_status": "NEW"})) for i in range(5)]
    low, mid, high = made[0], made[30], made[-1]

    def gt(v, op="GT"):
        return {"propertyName": "hs_object_id", "operator": op, "value": str(v)}
    new = {"propertyName": "hs_lead_status", "operator": "EQ", "value": "NEW"}
    has = {"propertyName": "hs_lead_status", "operator": "HAS_PROPERTY"}
    cases = [
        ([[gt(low)]], None, None), ([[gt(mid)]], False, None), ([[gt(mid, "GTE")]], None, 7), ([[gt(low - 1, "GTE")]], None, 14),
        ([[gt(mid), new]], False, None), ([[new, gt(low), gt(mid)]], None, None), ([[gt(f"{mid}.5")]], None, None),
        ([[gt(f"{mid}.5", "GTE")]], None, None), ([[gt(high)]], None, None), ([[gt(-5)]], None, 21), ([[gt("1e30")]], None, None),
        ([[gt(mid), new], [gt(low), has]], None, None), ([[gt(mid)], [gt(low + 40), new]], None, None),
        ([[gt(mid)], [new]], None, None), ([[gt(mid)]], True, None), ([[gt(mid), gt(high - 3, "LT")]], None, None),
    ]
    headers = {"authorization": f"Bearer {emu.token}", "content-type": "application/json"}

    def run(body):
        r = emu.handle("POST", "/crm/v3/objects/contacts/search", headers, json.dumps(body).encode())
        return r.status, r.body

    floored = [run(_search_body(*c)) for c in cases]
    monkeypatch.setattr(search, "_id_floor", lambda groups: (None, groups))  # the scan of everything
    scanned = [run(_search_body(*c)) for c in cases]
    for case, a, b in zip(cases, floored, scanned, strict=True):
        assert a == b, case
    assert any(b["total"] > 7 for _, b in scanned) and any(b["total"] == 0 for _, b in scanned)


def test_keyset_paging_cache_follows_every_change(emu, monkeypatch):
    """Keyset paging answered from the kept matches (ObjectStore.version) equals a full scan after
    each kind of change between pages: an update that makes or unmakes a match, a delete, a merge,
    a create, a write hidden by the indexing lag and then shown, and an association filter."""
    import json

    from connector.crm.hubspot.emulator import search

    clock = emu.freeze_clock()
    made = [int(emu.create_contact({"email": f"k{i}@x.example", "hs_lead_status": "NEW" if i % 3 else "OPEN"}))
            for i in range(40)]
    task = int(emu.create_task({"hs_task_subject": "t", "hs_timestamp": "2026-03-02T13:00:00Z"}, contact_id=made[20]))
    headers = {"authorization": f"Bearer {emu.token}", "content-type": "application/json"}

    def both(last, *extra):
        body = {"filterGroups": [{"filters": [{"propertyName": "hs_object_id", "operator": "GT", "value": str(last)},
                                              *extra]}],
                "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}], "limit": 5}
        raw = json.dumps(body).encode()
        fast = emu.handle("POST", "/crm/v3/objects/contacts/search", headers, raw).body
        with monkeypatch.context() as m:
            m.setattr(search, "_id_floor", lambda groups: (None, groups))
            slow = emu.handle("POST", "/crm/v3/objects/contacts/search", headers, raw).body
        assert fast == slow, (last, extra)
        return fast

    new = {"propertyName": "hs_lead_status", "operator": "EQ", "value": "NEW"}
    changes = [
        lambda: emu.set_lead_status(made[9], "NEW"),   # becomes a match
        lambda: emu.set_lead_status(made[10], "OPEN"),  # stops being one
        lambda: emu.delete_contact(made[13]),
        lambda: emu.merge_contacts(made[16], made[17]),
        lambda: made.append(int(emu.create_contact({"email": "new@x.example", "hs_lead_status": "NEW"}))),
        lambda: setattr(emu.faults, "search_lag_seconds", 60.0),
        lambda: emu.set_lead_status(made[25], "OPEN"),  # hidden by the lag: search still sees NEW
        lambda: clock.advance(120) if hasattr(clock, "advance") else None,
    ]
    last, seen = 0, []
    for change in [None, *changes]:
        if change is not None:
            change()
        page = both(last, new)  # the same request each time: a kept answer would be stale here
        both(0, new)
        if page["results"]:
            last = int(page["results"][-1]["id"])
            seen.append(last)
    assert len(seen) >= 5
    both(0)
    emu.delete_contact(made[1])
    both(0)
    assoc = {"propertyName": "associations.task", "operator": "EQ", "value": str(task)}
    assert [r["id"] for r in both(0, assoc)["results"]] == [str(made[20])]
    emu.create_task({"hs_task_subject": "t2", "hs_timestamp": "2026-03-02T13:00:00Z"}, contact_id=made[22])
    other = {"propertyName": "associations.task", "operator": "EQ", "value": str(task + 1)}
    assert both(0, other)["total"] == 1
    emu.state.assoc.add("contacts", made[23], "tasks", task + 1)  # the contacts themselves unchanged
    assert both(0, other)["total"] == 2
