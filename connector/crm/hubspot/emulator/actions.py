"""What happens inside HubSpot while a sync runs: a recruiter completes a task, a
candidate replies or books a meeting, someone merges duplicates.  These writes go
through the same store (they bump modified dates and are subject to search lag)
but skip HTTP, auth, rate limits and faults, and may set HubSpot-maintained
read-only properties.
"""

from __future__ import annotations

import threading

from . import errors
from .handlers_objects import apply_create, apply_update, merge_contacts, prepare_create
from .state import State, object_type
from .timefmt import normalize_datetime


class ActionsMixin:
    state: State  # provided by HubSpotEmulator
    lock: threading.RLock

    # -- reading state (for assertions) ---------------------------------------------------------
    def get_object(self, obj_type: str, object_id) -> dict | None:
        """All current properties of a live record (merged ids resolve), or None."""
        with self.lock:
            rec = self.state.stores[object_type(obj_type)].get(object_id)
            return dict(rec.props) if rec else None

    def get_contact(self, contact_id) -> dict | None:
        return self.get_object("contacts", contact_id)

    def get_task(self, task_id) -> dict | None:
        return self.get_object("tasks", task_id)

    def count(self, obj_type: str) -> int:
        """Live (not archived, not merged) records of a type."""
        with self.lock:
            return len(self.state.stores[object_type(obj_type)].records)

    def tasks_for_contact(self, contact_id) -> list[str]:
        with self.lock:
            rec = self.state.stores["contacts"].get(contact_id)
            if rec is None:
                return []
            return [str(t) for t in sorted(self.state.live_targets("contacts", rec.id, "tasks"))]

    def contacts_for_task(self, task_id) -> list[str]:
        with self.lock:
            rec = self.state.stores["tasks"].get(task_id)
            if rec is None:
                return []
            return [str(c) for c in sorted(self.state.live_targets("tasks", rec.id, "contacts"))]

    # -- generic writes --------------------------------------------------------------------------
    def set_property(self, obj_type: str, object_id, name: str, value) -> dict:
        return self.set_properties(obj_type, object_id, {name: value})

    def set_properties(self, obj_type: str, object_id, values: dict) -> dict:
        """Write properties as HubSpot itself would (read-only ones allowed)."""
        t = object_type(obj_type)
        with self.lock:
            store = self.state.stores[t]
            rec = store.get(object_id)
            if rec is None:
                raise KeyError(f"no live {t[:-1]} {object_id}")
            normalized = self.state.registries[t].normalize(values, allow_read_only=True)
            store.check_unique(normalized, exclude_id=rec.id)
            apply_update(self.state, t, rec, normalized)
            return dict(rec.props)

    def create_contact(self, props: dict | None = None) -> str:
        """A contact created in HubSpot (e.g. a referral); returns its id."""
        return self._create("contacts", props or {}, None)

    def create_task(self, props: dict, contact_id=None) -> str:
        """A task created in HubSpot (by a recruiter), optionally on a contact."""
        props = dict(props)
        props.setdefault("hs_timestamp", self.state.now_ms())
        assoc = None
        if contact_id is not None:
            assoc = [{"to": {"id": str(contact_id)},
                      "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 204}]}]
        return self._create("tasks", props, assoc)

    def _create(self, t: str, props: dict, associations) -> str:
        with self.lock:
            values, pairs = prepare_create(self.state, t, {"properties": props, "associations": associations},
                                           allow_read_only=True)
            return str(apply_create(self.state, t, values, pairs).id)

    def delete_contact(self, contact_id) -> None:
        self.delete_object("contacts", contact_id)

    def delete_object(self, obj_type: str, object_id) -> None:
        with self.lock:
            store = self.state.stores[object_type(obj_type)]
            rec = store.get(object_id)
            if rec is None:
                raise KeyError(f"no live {obj_type} {object_id}")
            store.archive(rec)

    def purge_object(self, obj_type: str, object_id) -> None:
        """Delete for good (a GDPR delete, or the recycle bin emptied): gone from the recycle bin
        too, so the `archived=true` list no longer shows it; its id answers as not found."""
        with self.lock:
            store = self.state.stores[object_type(obj_type)]
            rec = store.get(object_id)
            if rec is not None:
                store.archive(rec)
            if store.archived.pop(int(object_id), None) is None:
                raise KeyError(f"no {obj_type} {object_id}")

    # -- recruiter and candidate actions -------------------------------------------------------------
    def _when(self, at) -> str:
        if at is None:
            return self.state.now_iso()
        iso = normalize_datetime(at)
        if iso is None:
            raise ValueError(f"unreadable timestamp {at!r}")
        return iso

    def complete_task(self, task_id, at=None) -> dict:
        return self.set_properties("tasks", task_id, {"hs_task_status": "COMPLETED",
                                                      "hs_task_completion_date": self._when(at)})

    def set_lead_status(self, contact_id, status: str) -> dict:
        return self.set_properties("contacts", contact_id, {"hs_lead_status": status})

    def record_reply(self, contact_id, at=None) -> dict:
        when = self._when(at)
        return self.set_properties("contacts", contact_id, {"hs_sales_email_last_replied": when,
                                                            "hs_last_sales_activity_timestamp": when,
                                                            "hs_last_sales_activity_type": "EMAIL_REPLY"})

    def record_meeting(self, contact_id, at=None) -> dict:
        when = self._when(at)
        return self.set_properties("contacts", contact_id, {"engagements_last_meeting_booked": when,
                                                            "hs_last_sales_activity_timestamp": when,
                                                            "hs_last_sales_activity_type": "MEETING_BOOKED"})

    def opt_out(self, contact_id) -> dict:
        return self.set_properties("contacts", contact_id, {"hs_email_optout": "true"})

    def merge_contacts(self, primary_id, merged_id) -> dict:
        """HubSpot merge: ``merged_id`` vanishes from list/search, a GET of it returns
        the primary, its associations move to the primary, and the primary gains
        ``hs_merged_object_ids`` / ``hs_calculated_merged_vids`` / ``hs_additional_emails``."""
        with self.lock:
            try:
                rec = merge_contacts(self.state, primary_id, merged_id)
            except errors.ApiError as exc:
                raise KeyError(exc.body.get("message")) from None
            return dict(rec.props)
