"""The HubSpot CRM adapter: contacts in, follow-up tasks out, progress back.

Reading: the list API at 100 a page on a first run; later runs search on
`lastmodifieddate` (with an overlap) at 200 a page, keyset-paged on `hs_object_id` so the
10,000-result search cap never stops or loops a sync. Writing: batch create at 100 a
request, each task associated with its contact inline (type 204) and carrying its task
key in a task property and an `objectWriteTraceId`, so a 207 maps each failure to its task.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from hubspot import HubSpot
from urllib3.util.retry import Retry

from connector.crm.base import Capabilities, ContactBatch, ReadContext, SetupReport, WriteResult
from sequences.records import CloseTask, Contact, CreateTask, Owner, TaskState

from .filters import first_read_filters
from .http import Caller, Throttle, WriteOutcomeUnknown
from .mapping import TASK_PROPERTIES, checked_contact, contact_properties, task_properties, to_owner, to_task_state
from .portal import PortalAccount
from .rebuild import HubSpotTaskListing
from .settings import TIERS, HubSpotSettings, Secret, account_of, load_settings
from .setup import set_up_portal
from .wire import Wire, after_of

log = logging.getLogger("cadence.hubspot")

TASK_TO_CONTACT = 204
PAGE = 100
SEARCH_PAGE = 200
BATCH = 100
ASSOC_BATCH = 1000  # v4 association batch reads take up to 1,000 inputs
SEARCH_LAG_SECONDS = 60.0
_EXISTING_ID = re.compile(r"Existing ID: ?(\d+)")


class HubSpotCRM(PortalAccount, HubSpotTaskListing):
    """A HubSpot portal, through `hubspot-api-client`."""

    name = "hubspot"
    capabilities = Capabilities(
        incremental_contacts=True, incremental_tasks=True, max_batch=BATCH,
        search_lag_seconds=SEARCH_LAG_SECONDS, task_outcomes=False, lead_status=True, reads_while_writing=True,
    )

    def __init__(self, settings: HubSpotSettings, token: Secret, base_url: str, *,
                 sleep: Callable[[float], None] = time.sleep, backoff: float = 1.0) -> None:
        self.settings = settings
        self.base_url = base_url
        self._token = token
        per_10s, search_per_s = TIERS[settings.tier]
        self.throttle = Throttle(per_10s, search_per_s, settings.throttle_share, sleep=sleep)
        self.call = Caller(self.throttle, timeout=settings.request_timeout, max_retries=settings.max_retries,
                           backoff=backoff, sleep=sleep, secrets=(token.reveal(),))
        client = HubSpot(access_token=token.reveal(), host=base_url, base_url=base_url,
                         retry=Retry(total=0, read=False, connect=False, status=False, redirect=False))
        # every accessor builds a new ApiClient and pool: build each once
        self._owners = client.crm.owners.owners_api
        self._properties = client.crm.properties.core_api
        self._groups = client.crm.properties.groups_api
        # the hot calls: plain JSON through the library's transport, no model layer (wire.py)
        self._wire = Wire(client.crm.objects.tasks.batch_api.api_client)
        self._props = contact_properties(settings.properties, settings.extra_properties)
        self._owners_cache: list[Owner] | None = None
        self.capabilities = replace(type(self).capabilities, sweep_every=timedelta(hours=settings.sweep_hours))

    @classmethod
    def from_config(cls, raw: Mapping[str, Any], *, base_dir: Any = None, env: Mapping[str, str] = os.environ,
                    **kw: Any) -> HubSpotCRM:
        """Build from the config's `crm:` keys; the token comes from the environment only."""
        settings, token, base_url = load_settings(raw, env)
        return cls(settings, token, base_url, **kw)

    @classmethod
    def account_for(cls, raw: Mapping[str, Any], *, env: Mapping[str, str] = os.environ) -> str:
        """`account_id()` from the config alone: no token, no request."""
        return account_of(raw, env)

    def watch_stop(self, stop: threading.Event | None) -> None:
        """Back-offs, throttle waits and calls in flight end when `stop` is set (connector/crm/stop.py)."""
        self.call.stop = self.throttle.stop = stop

    def __repr__(self) -> str:
        return f"HubSpotCRM(base_url={self.base_url!r}, tier={self.settings.tier!r})"

    @property
    def requests_made(self) -> int:
        return self.call.requests

    @property
    def rate_limit_waits(self) -> int:
        """Times a call waited on the rate limit: our throttle's waits and HubSpot's 429s."""
        return self.call.throttle.waits + self.call.rate_limited

    # ------------------------------------------------------------------ account
    def close(self) -> None:
        pass

    # ----------------------------------------------------------------- contacts
    def read_contacts(self, ctx: ReadContext) -> Iterator[ContactBatch]:
        props = sorted(set(self._props) | set(ctx.properties))
        if ctx.since is None:
            groups = first_read_filters(ctx.enroll_rules, ctx.referrals, self.settings.properties)
            if groups is not None:  # only the contacts a cadence would enroll, 200 a page
                yield from self._filtered_contacts(props, groups)
            else:
                yield from self._list_contacts(props)
        else:
            yield from self._search_contacts(props, ctx.since)  # the sync has applied its overlap

    def _batch(self, objects: Sequence[Any]) -> ContactBatch:
        """The page's contacts, and for each id a survivor absorbed (`hs_merged_object_ids`) a
        `Contact(id, merged_into=survivor)`: a merge is seen by the read that sees the survivor
        change, not only at the daily sweep (the sync ignores ids it never knew)."""
        contacts, bad = [], []
        for obj in objects:
            values = obj.get("properties") or {}
            contact, problems = checked_contact(obj["id"], values, self.settings.properties)
            contacts.append(contact)
            bad.extend(problems)
            absorbed = (values.get("hs_merged_object_ids") or "").split(";")
            contacts.extend(Contact(id=old, merged_into=contact.id) for old in absorbed if old and old != contact.id)
        return ContactBatch(contacts, bad)

    def _list_contacts(self, props: list[str]) -> Iterator[ContactBatch]:
        for results in self._list_pages("contacts", props):
            yield self._batch(results)

    def _list_pages(self, object_type: str, props: list[str], archived: bool = False) -> Iterator[list[dict[str, Any]]]:
        """Every record of a type through the list API (100 a page, no search cap), page by page."""
        after: str | None = None
        seen: set[str] = set()
        while True:
            query = [("limit", PAGE), *([("after", after)] if after else []), *(("properties", p) for p in props),
                     ("archived", archived)]
            page = self.call(self._wire, "GET", f"/crm/v3/objects/{object_type}", query=query)
            yield page.get("results") or []
            after = after_of(page)
            if not after:
                return
            if after in seen:
                raise RuntimeError(f"HubSpot {object_type} paging loop detected at cursor {after!r}")
            seen.add(after)

    def _filtered_contacts(self, props: list[str], groups: list[list[dict[str, Any]]]) -> Iterator[ContactBatch]:
        pages = self._keyset_search("contacts", "lastmodifieddate",
                                    datetime(1970, 1, 2).astimezone(), props, alternatives=groups)
        try:
            first = next(pages, None)
        except Exception as err:  # e.g. a rule on a property this portal does not have: read everyone
            if getattr(err, "status", None) != 400:
                raise
            log.warning("enrollment rules cannot be searched in this portal; reading every contact",
                        extra={"error": _error_message(err)})
            yield from self._list_contacts(props)
            return
        if first is not None:
            yield self._batch(first)
        for results in pages:
            yield self._batch(results)

    def _search_contacts(self, props: list[str], since: datetime) -> Iterator[ContactBatch]:
        for results in self._keyset_search("contacts", "lastmodifieddate", since, props):
            yield self._batch(results)

    def _keyset_search(self, object_type: str, modified: str, since: datetime, props: list[str],
                       extra_filters: Sequence[dict[str, Any]] = (),
                       alternatives: Sequence[Sequence[dict[str, Any]]] = ((),)) -> Iterator[list[dict[str, Any]]]:
        """Search pages ordered by id, restarting from the last id seen instead of paging deep.

        Every filter group holds the common filters plus one of `alternatives` (groups are ORed)."""
        last_id = 0
        while True:
            filters = [{"propertyName": modified, "operator": "GTE", "value": str(int(since.timestamp() * 1000))},
                       {"propertyName": "hs_object_id", "operator": "GT", "value": str(last_id)}, *extra_filters]
            request = {
                "filterGroups": [{"filters": filters + list(alt)} for alt in alternatives],
                "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
                "properties": props, "limit": SEARCH_PAGE,
            }
            page = self.call(self._wire, "POST", f"/crm/v3/objects/{object_type}/search", request, search=True)
            results = page.get("results") or []
            if results:
                yield results
            if not after_of(page) or len(results) < SEARCH_PAGE:
                return
            next_id = int(results[-1]["id"])
            if next_id <= last_id:
                raise RuntimeError("HubSpot search paging loop detected")
            last_id = next_id

    def verify_contacts(self, ids: Sequence[str]) -> Iterator[Contact]:
        """The requested contacts that are gone: deleted ones as `Contact(id, deleted=True)`,
        merged ones as `Contact(id, merged_into=<primary id>)`. Live contacts yield nothing.

        Batch-reads 100 ids a request (`archived=False`). HubSpot answers a merged id with
        the primary record; the primary's `hs_merged_object_ids` says which ids it absorbed.
        """
        wanted = list(dict.fromkeys(str(i) for i in ids if str(i)))
        for start in range(0, len(wanted), BATCH):
            chunk = wanted[start:start + BATCH]
            page = self._batch_read("contacts", chunk, ["hs_merged_object_ids"])
            returned: set[str] = set()
            merged_into: dict[str, str] = {}
            for obj in page.get("results") or []:
                primary = str(obj["id"])
                returned.add(primary)
                absorbed = ((obj.get("properties") or {}).get("hs_merged_object_ids") or "").split(";")
                for old in (a.strip() for a in absorbed):
                    if old and old != primary:
                        merged_into[old] = primary
            for cid in chunk:
                if cid in returned:
                    continue
                if cid in merged_into:
                    yield Contact(id=cid, merged_into=merged_into[cid])
                else:
                    yield Contact(id=cid, deleted=True)

    def deleted_contacts(self, ids: Sequence[str]) -> Iterator[Contact]:
        """Of `ids`, the contacts in the recycle bin (the list API with `archived=true`, 100 a
        page): one request per 100 deleted contacts in the portal, however many are known.
        A merged-away id is not listed there; the read that sees its survivor reports it."""
        wanted = {str(i) for i in ids}
        for results in self._list_pages("contacts", ["hs_object_id"], archived=True):
            for obj in results:
                if str(obj["id"]) in wanted:
                    yield Contact(id=str(obj["id"]), deleted=True)

    def deleted_tasks(self, ids: Mapping[str, str]) -> Iterator[TaskState]:
        """Of the tasks key -> id, those in the recycle bin (`archived=true`, 100 a page)."""
        key_prop = self.settings.key_property
        key_of = {crm_id: key for key, crm_id in ids.items() if crm_id}
        for results in self._list_pages("tasks", [key_prop], archived=True):
            for obj in results:
                key = key_of.get(str(obj["id"]))
                if key is not None:
                    gone = to_task_state(str(obj["id"]), {key_prop: key}, key_prop, "", archived=True)
                    if gone is not None:
                        yield gone

    def _batch_read(self, object_type: str, ids: Sequence[str], props: list[str]) -> dict[str, Any]:
        """POST .../batch/read?archived=False for up to 100 ids: a 207 lists the ids not found."""
        body = {"inputs": [{"id": i} for i in ids], "properties": props}
        return self.call(self._wire, "POST", f"/crm/v3/objects/{object_type}/batch/read", body,
                         query=[("archived", False)])

    # -------------------------------------------------------------------- tasks
    def read_task_changes(self, since: datetime | None, keys: Mapping[str, str]) -> Iterator[TaskState]:
        key_prop = self.settings.key_property
        props = TASK_PROPERTIES + [key_prop]
        floor = since if since else datetime(1970, 1, 2).astimezone()  # the sync has applied its overlap
        mine = [{"propertyName": key_prop, "operator": "HAS_PROPERTY"}]
        alternatives: Sequence[Sequence[dict[str, Any]]] = ((),)
        if since is not None:
            # Tasks created inside the window are (nearly all) the previous run's own creates,
            # already in the ledger: re-read them only once completed. Older tasks: any change.
            # Without this, the run after a big first run re-reads every task it just wrote.
            floor_ms = str(int(floor.timestamp() * 1000))
            alternatives = ([{"propertyName": "hs_task_status", "operator": "EQ", "value": "COMPLETED"}],
                            [{"propertyName": "hs_createdate", "operator": "LT", "value": floor_ms}])
        for results in self._keyset_search("tasks", "hs_lastmodifieddate", floor, props, mine, alternatives):
            for obj in results:
                state = to_task_state(obj["id"], obj.get("properties") or {}, key_prop, "")
                if state is not None:
                    yield state

    def check_tasks(self, ids: Mapping[str, str]) -> Iterator[TaskState]:
        """Batch-read known tasks by id (100 a request): deleted ones come back DELETED."""
        key_prop = self.settings.key_property
        items = list(ids.items())
        for start in range(0, len(items), BATCH):
            chunk = dict(items[start:start + BATCH])
            by_id = {crm_id: key for key, crm_id in chunk.items()}
            page = self._batch_read("tasks", list(by_id), TASK_PROPERTIES + [key_prop])
            found = set()
            for obj in page.get("results") or []:
                found.add(str(obj["id"]))
                state = to_task_state(obj["id"], obj.get("properties") or {}, key_prop, "")
                if state is not None:
                    yield state
            for crm_id in set(by_id) - found:
                gone = to_task_state(crm_id, {key_prop: by_id[crm_id]}, key_prop, "", archived=True)
                if gone is not None:  # always: the key is ours and never empty
                    yield gone

    def create_tasks(self, tasks: Sequence[CreateTask]) -> list[WriteResult]:
        if len(tasks) > BATCH:
            raise ValueError(f"at most {BATCH} tasks per batch")
        if not tasks:
            return []
        known_owners = {o.id for o in self.list_owners()}
        enrollment = self.enrollment_property()
        types = [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": TASK_TO_CONTACT}]
        inputs = [{"associations": [{"to": {"id": t.contact_id}, "types": types}],
                   "objectWriteTraceId": t.key,
                   "properties": task_properties(t, self.settings.key_property, known_owners, enrollment)}
                  for t in tasks]
        try:
            response = self.call(self._wire, "POST", "/crm/v3/objects/tasks/batch/create", {"inputs": inputs},
                                 idempotent=False)
        except WriteOutcomeUnknown as err:
            return [WriteResult(t.key, ok=False, error=str(err), unknown=True) for t in tasks]
        except Exception as err:  # a 4xx for the whole batch: say so per task
            status = getattr(err, "status", None)
            if status is None:
                raise
            message = _error_message(err)
            if status == 409:  # some key is already taken: find out which exist before anything is re-sent
                return [WriteResult(t.key, ok=False, error=message, unknown=True) for t in tasks]
            return [WriteResult(t.key, ok=False, error=message, retryable=False) for t in tasks]
        return self._results(tasks, response)

    def _results(self, tasks: Sequence[CreateTask], response: dict[str, Any]) -> list[WriteResult]:
        key_prop = self.settings.key_property
        created = {}
        for obj in response.get("results") or []:
            key = (obj.get("properties") or {}).get(key_prop) or obj.get("objectWriteTraceId")
            if key:
                created[key] = str(obj["id"])
        failed: dict[str, str] = {}
        exists: dict[str, str] = {}  # key -> id of the task already holding it ("" when HubSpot did not say)
        for error in response.get("errors") or []:
            context = error.get("context") or {}
            message = error.get("message") or "rejected by HubSpot"
            conflict = str(error.get("category") or "").upper() == "CONFLICT"
            for key in context.get("objectWriteTraceId", []) or []:
                if conflict:  # the key property is unique: a task with this key is already there
                    found = _EXISTING_ID.search(message)
                    exists[key] = found.group(1) if found else ""
                else:
                    failed[key] = message
        results = []
        for t in tasks:
            if t.key in created:
                results.append(WriteResult(t.key, ok=True, crm_id=created[t.key]))
            elif exists.get(t.key):
                results.append(WriteResult(t.key, ok=True, crm_id=exists[t.key]))
            elif t.key in exists:
                results.append(WriteResult(t.key, ok=False, error="a task with this key already exists", unknown=True))
            elif t.key in failed:
                results.append(WriteResult(t.key, ok=False, error=failed[t.key], retryable=False))
            else:  # neither created nor reported: find out before sending again
                results.append(WriteResult(t.key, ok=False, error="no result for this task", unknown=True))
        return results

    def close_tasks(self, tasks: Sequence[CloseTask]) -> list[WriteResult]:
        """Mark open tasks COMPLETED in batches. A task already gone counts as closed."""
        results = {t.key: WriteResult(t.key, ok=True) for t in tasks if not t.crm_id}
        with_ids = [t for t in tasks if t.crm_id]
        for start in range(0, len(with_ids), BATCH):
            chunk = with_ids[start:start + BATCH]
            body = {"inputs": [{"id": t.crm_id, "properties": {"hs_task_status": "COMPLETED"}} for t in chunk]}
            try:
                self.call(self._wire, "POST", "/crm/v3/objects/tasks/batch/update", body)
            except Exception as err:
                if getattr(err, "status", None) is None:
                    raise
                for t in chunk:
                    results[t.key] = WriteResult(t.key, ok=False, error=_error_message(err), retryable=True)
                continue
            for t in chunk:  # updated, or reported missing in a 207: either way no longer open
                results[t.key] = WriteResult(t.key, ok=True, crm_id=t.crm_id)
        return [results[t.key] for t in tasks]

    def find_tasks_for_contacts(self, contact_of: Mapping[str, str]) -> dict[str, str]:
        """Task key -> HubSpot id for keys whose task exists, read through each contact's
        associations (no search index involved, so no search lag): the sync uses this to
        settle writes whose outcome is unknown before anything is sent again."""
        wanted = set(contact_of)
        pending: list[tuple[str, str | None]] = [(cid, None) for cid in sorted(set(contact_of.values()))]
        task_ids: set[str] = set()
        while pending:
            chunk, pending = pending[:ASSOC_BATCH], pending[ASSOC_BATCH:]
            body = {"inputs": [{"id": cid, **({"after": after} if after else {})} for cid, after in chunk]}
            page = self.call(self._wire, "POST", "/crm/v4/associations/contacts/tasks/batch/read", body)
            for result in page.get("results") or []:
                task_ids.update(str(to["toObjectId"]) for to in result.get("to") or [])
                nxt = after_of(result)
                if nxt:
                    pending.append((str(result["from"]["id"]), nxt))
        found: dict[str, str] = {}
        key_prop = self.settings.key_property
        ids = sorted(task_ids)
        for start in range(0, len(ids), BATCH):
            page = self._batch_read("tasks", ids[start:start + BATCH], [key_prop])
            for obj in page.get("results") or []:
                key = (obj.get("properties") or {}).get(key_prop)
                if key in wanted:
                    found[key] = str(obj["id"])
        return found

    def find_tasks(self, keys: Sequence[str]) -> dict[str, str]:
        """Task key -> HubSpot id, by searching the key property (subject to search lag)."""
        key_prop = self.settings.key_property
        found: dict[str, str] = {}
        for start in range(0, len(keys), 100):
            chunk = list(keys[start:start + 100])
            request = {"filterGroups": [{"filters": [{"propertyName": key_prop, "operator": "IN", "values": chunk}]}],
                       "properties": [key_prop], "limit": SEARCH_PAGE}
            page = self.call(self._wire, "POST", "/crm/v3/objects/tasks/search", request, search=True)
            for obj in page.get("results") or []:
                key = (obj.get("properties") or {}).get(key_prop)
                if key:
                    found[key] = str(obj["id"])
        return found

    # ------------------------------------------------------------------- owners
    def list_owners(self) -> list[Owner]:
        """Active owners, read once per adapter (one sync run) and cached."""
        if self._owners_cache is not None:
            return self._owners_cache
        owners: list[Owner] = []
        after: str | None = None
        while True:
            page = self.call(self._owners.get_page, limit=100, after=after, archived=False)
            owners.extend(to_owner(o) for o in page.results or [])
            after = page.paging.next.after if page.paging and page.paging.next else None
            if not after:
                self._owners_cache = owners
                return owners

    # -------------------------------------------------------------------- setup
    def setup(self) -> SetupReport:
        """Create the property groups and properties crm-cadence needs, idempotently (see setup.py)."""
        return SetupReport(done=set_up_portal(self.call, self._groups, self._properties, self.settings))


def _error_message(err: BaseException) -> str:
    import json

    try:
        body = json.loads(getattr(err, "body", "") or "{}")
    except ValueError:
        body = {}
    return f"HubSpot {getattr(err, 'status', '')}: {body.get('message') or type(err).__name__}"

