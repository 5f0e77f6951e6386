"""Things that happen inside HubSpot while a sync runs, seen through the API."""

from __future__ import annotations

import pytest
from hubspot.crm.contacts import Filter, FilterGroup, PublicObjectSearchRequest
from hubspot.crm.contacts.exceptions import NotFoundException

from connector.crm.hubspot.emulator.errors import ApiError


def _modified_since(client, since_ms, prop="lastmodifieddate"):
    req = PublicObjectSearchRequest(filter_groups=[FilterGroup(filters=[
        Filter(property_name=prop, operator="GT", value=str(since_ms))])], properties=["email"], limit=100)
    return [r.id for r in client.crm.contacts.search_api.do_search(req).results]


def test_recruiter_actions_bump_modified_and_show_in_search(emu, client):
    clock = emu.freeze_clock()
    a, b, c, d = (emu.create_contact({"email": f"{x}@example.com"}) for x in "abcd")
    since = int(clock.time() * 1000)
    clock.advance(60)
    emu.set_lead_status(a, "CONNECTED")
    emu.record_reply(b, at="2025-01-06T10:00:00Z")
    emu.record_meeting(c, at=1736158000000)
    emu.opt_out(d)
    assert _modified_since(client, since) == [a, b, c, d]
    assert emu.get_contact(a)["hs_lead_status"] == "CONNECTED"
    assert emu.get_contact(b)["hs_sales_email_last_replied"] == "2025-01-06T10:00:00.000Z"
    assert emu.get_contact(c)["engagements_last_meeting_booked"] == "2025-01-06T10:06:40.000Z"
    got = client.crm.contacts.basic_api.get_by_id(d, properties=["hs_email_optout"])
    assert got.properties["hs_email_optout"] == "true"


def test_complete_task_and_referral(emu, client):
    clock = emu.freeze_clock()
    cid = emu.create_contact({"email": "cand@example.com"})
    tid = emu.create_task({"hs_task_subject": "call", "hs_task_status": "NOT_STARTED"}, contact_id=cid)
    clock.advance(30)
    emu.complete_task(tid)
    task = client.crm.objects.tasks.basic_api.get_by_id(tid, properties=["hs_task_status", "hs_task_completion_date"])
    assert task.properties["hs_task_status"] == "COMPLETED"
    assert task.properties["hs_task_completion_date"] == task.properties["hs_lastmodifieddate"]
    emu.complete_task(tid, at="2025-02-02T02:02:02Z")
    assert emu.get_task(tid)["hs_task_completion_date"] == "2025-02-02T02:02:02.000Z"
    referred = emu.create_contact({"email": "referral@example.com", "firstname": "Ref"})
    assert client.crm.contacts.basic_api.get_by_id(referred).properties["firstname"] == "Ref"
    emu.set_property("contacts", referred, "jobtitle", "Staff Engineer")
    assert emu.get_contact(referred)["jobtitle"] == "Staff Engineer"
    with pytest.raises(ApiError, match="Property values were not valid"):
        emu.set_property("contacts", referred, "no_such_prop", "x")


def test_delete_contact(emu, client):
    cid = emu.create_contact({"email": "gone@example.com"})
    emu.delete_contact(cid)
    with pytest.raises(NotFoundException):
        client.crm.contacts.basic_api.get_by_id(cid)
    assert client.crm.contacts.search_api.do_search(PublicObjectSearchRequest()).total == 0


def test_merge_moves_associations_and_redirects_the_old_id(emu, client):
    keep = emu.create_contact({"email": "keep@example.com", "firstname": "Keep"})
    dupe = emu.create_contact({"email": "dupe@example.com", "firstname": "Dupe", "phone": "+44 20 7946 0000"})
    tid = emu.create_task({"hs_task_subject": "follow up"}, contact_id=dupe)
    merged = emu.merge_contacts(keep, dupe)
    assert merged["hs_merged_object_ids"] == dupe and merged["phone"] == "+44 20 7946 0000"
    assert merged["firstname"] == "Keep" and merged["hs_additional_emails"] == "dupe@example.com"
    got = client.crm.contacts.basic_api.get_by_id(dupe)  # the old id resolves to the survivor
    assert got.id == keep
    assert client.crm.contacts.basic_api.get_by_id("dupe@example.com", id_property="email").id == keep
    assert [r.id for r in client.crm.contacts.basic_api.get_page(limit=100).results] == [keep]
    assert client.crm.contacts.search_api.do_search(PublicObjectSearchRequest()).total == 1
    assert emu.tasks_for_contact(keep) == [tid] and emu.contacts_for_task(tid) == [keep]
    page = client.crm.associations.v4.basic_api.get_page("tasks", tid, "contacts")
    assert [r.to_object_id for r in page.results] == [keep]
    assert emu.count("contacts") == 1


def test_merge_endpoint(emu, client):
    from hubspot.crm.contacts import PublicMergeInput
    a = emu.create_contact({"email": "a@example.com"})
    b = emu.create_contact({"email": "b@example.com"})
    out = client.crm.contacts.basic_api.merge(PublicMergeInput(primary_object_id=a, object_id_to_merge=b))
    assert out.id == a and out.properties["hs_merged_object_ids"] == b
    with pytest.raises(NotFoundException):
        client.crm.contacts.basic_api.merge(PublicMergeInput(primary_object_id=a, object_id_to_merge="999999"))
