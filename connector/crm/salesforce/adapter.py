"""The Salesforce CRM adapter, on `simple-salesforce`: Contacts in, Tasks out, progress back.

Reading (people.py): SOQL pages of up to 2,000. A first read takes the live Contacts; later
reads go through queryAll on `SystemModstamp` (the sync applies its overlap), so deleted and
merged Contacts (IsDeleted, MasterRecordId) arrive in the same pages as the changed ones.
Task changes come the same way, from queryAll on the task-key field. The first page of each
read, and the users, come in one Composite request (one API call).

Writing: upserts through sObject Collections by the External ID field that carries the
task key, 200 a request. An upsert is idempotent, so a lost response is simply sent again
(and, if it still cannot be confirmed, the sync reconciles it by key with one SOQL query).
Closes are Collections updates of Status by id.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError, SalesforceMalformedRequest, SalesforceResourceNotFound

from connector.crm.base import Capabilities, ContactBatch, FatalCRMError, ReadContext, SetupReport, WriteResult
from sequences.records import CloseTask, Contact, CreateTask, Owner, TaskState

from .http import Budget, Caller, Transient, TransportAdapter, classify
from .mapping import soql_string, soql_time, task_fields, task_record, to_owner, to_task_state
from .people import ID_CHUNK, USERS_SOQL, Prefetch, read_people, verify_people
from .settings import Credentials, SalesforceSettings, account_of, load_settings

log = logging.getLogger("cadence.salesforce")

BATCH = 200  # sObject Collections: at most 200 records a request
KEY_CHUNK = 300  # task keys (27 characters) per `IN (...)` query
GONE = {"ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY", "NOT_FOUND", "INVALID_ID_FIELD"}
DUPLICATE = {"DUPLICATE_EXTERNAL_ID", "DUPLICATE_VALUE"}


class SalesforceCRM:
    """A Salesforce org, through `simple-salesforce`."""

    name = "salesforce"
    capabilities = Capabilities(
        incremental_contacts=True, incremental_tasks=True, max_batch=BATCH,
        search_lag_seconds=0.0, task_outcomes=True, lead_status=True,
    )

    def __init__(self, settings: SalesforceSettings, credentials: Credentials, *,
                 sleep: Callable[[float], None] = time.sleep, backoff: float = 1.0) -> None:
        self.settings = settings
        self._credentials = credentials
        self.budget = Budget(settings.daily_share)
        self.call = Caller(self.budget, max_retries=settings.max_retries, backoff=backoff, sleep=sleep)
        self._sf: Salesforce | None = None
        self._owners_cache: list[Owner] | None = None
        self._dropped_fields: dict[str, set[str]] = {}  # object -> fields a rule names that it lacks
        self.prefetch = Prefetch()
        self.capabilities = replace(type(self).capabilities, sweep_every=timedelta(hours=settings.sweep_hours))

    @classmethod
    def from_config(cls, raw: Mapping[str, Any], *, base_dir: Any = None, env: Mapping[str, str] = os.environ,
                    **kw: Any) -> SalesforceCRM:
        """Build from the config's `crm:` keys; every secret comes from the environment."""
        settings, credentials = load_settings(raw, env)
        return cls(settings, credentials, **kw)

    @classmethod
    def account_for(cls, raw: Mapping[str, Any], *, env: Mapping[str, str] = os.environ) -> str:
        """`account_id()` from the config alone: no secret, no request."""
        return account_of(raw, env)

    def watch_stop(self, stop: threading.Event | None) -> None:
        """Back-offs and calls in flight end when `stop` is set (connector/crm/stop.py)."""
        self.call.stop = stop

    def __repr__(self) -> str:
        return f"SalesforceCRM(auth={self.settings.auth!r}, domain={self.settings.domain!r})"

    @property
    def requests_made(self) -> int:
        return self.call.requests

    # ------------------------------------------------------------------ session
    @property
    def sf(self) -> Salesforce:
        """The client, signed in on first use (the JWT and client-credentials flows make one
        token request; simple-salesforce signs in again by itself on INVALID_SESSION_ID)."""
        if self._sf is None:
            c, s = self._credentials, self.settings
            session = requests.Session()
            session.trust_env = False  # REQUESTS_CA_BUNDLE and proxies from the environment stay out of it
            if c.ca_bundle:
                session.verify = c.ca_bundle
            session.mount("https://", TransportAdapter(s.request_timeout, c.login_url))
            try:
                if s.auth == "session":
                    assert c.session_id is not None
                    self._sf = Salesforce(session_id=c.session_id.reveal(), instance_url=c.instance_url,
                                          session=session, version=s.api_version)
                elif s.auth == "client_credentials":
                    assert c.consumer_key is not None and c.consumer_secret is not None
                    self._sf = Salesforce(consumer_key=c.consumer_key.reveal(), consumer_secret=c.consumer_secret.reveal(),
                                          domain=s.domain, session=session, version=s.api_version)
                else:
                    assert c.consumer_key is not None and c.private_key is not None
                    self._sf = Salesforce(username=s.username, consumer_key=c.consumer_key.reveal(),
                                          privatekey=c.private_key.reveal(), domain=s.domain, session=session,
                                          version=s.api_version)
            except Exception as exc:  # sign-in failures, sorted like any other call's
                sorted_exc = classify(exc)
                if isinstance(sorted_exc, Transient):
                    raise FatalCRMError(f"Salesforce sign-in failed: {sorted_exc}") from None
                if sorted_exc is exc:
                    raise
                raise sorted_exc from None
        return self._sf

    def _query(self, soql: str, *, include_deleted: bool = False,
               first: dict[str, Any] | None = None) -> Iterator[list[dict[str, Any]]]:
        """Every page of a query, following nextRecordsUrl (each page retried on its own);
        `first`: its first page, already read (in a Composite request)."""
        sf = self.sf
        timeout = self.settings.request_timeout
        page = first if first is not None else self.call(sf, sf.query, soql, include_deleted=include_deleted,
                                                         timeout=timeout)
        while True:
            yield page.get("records") or []
            if page.get("done", True) or not page.get("nextRecordsUrl"):
                return
            page = self.call(sf, sf.query_more, page["nextRecordsUrl"], identifier_is_url=True, timeout=timeout)

    def _restful(self, path: str, method: str = "GET", **kwargs: Any) -> Any:
        sf = self.sf
        return self.call(sf, sf.restful, path, method=method, timeout=self.settings.request_timeout, **kwargs)

    # ------------------------------------------------------------------ account
    def account_id(self) -> str:
        env = {self.settings.instance_url_env: self._credentials.instance_url}
        return account_of(self.settings.model_dump(), env)

    def close(self) -> None:
        if self._sf is not None:
            self._sf.session.close()

    # ----------------------------------------------------------------- contacts
    def read_contacts(self, ctx: ReadContext) -> Iterator[ContactBatch]:
        return read_people(self, ctx)

    def verify_contacts(self, ids: Sequence[str]) -> Iterator[Contact]:
        """The requested contacts that are gone (deleted, emptied from the Recycle Bin, merged)."""
        return verify_people(self, ids)

    # -------------------------------------------------------------------- tasks
    def task_changes_soql(self, since: datetime | None) -> str:
        key = self.settings.task_key_field
        where = f"{key} != null"
        if since is not None:
            # Tasks created inside the window are (nearly all) the previous run's own creates,
            # already in the ledger: re-read them only once closed or deleted.
            stamp = soql_time(since)
            where += (f" AND SystemModstamp >= {stamp} AND (IsClosed = true OR IsDeleted = true OR "
                      f"CreatedDate < {stamp})")
        return f"SELECT {', '.join(task_fields(self.settings))} FROM Task WHERE {where} ORDER BY SystemModstamp, Id"

    def read_task_changes(self, since: datetime | None, keys: Mapping[str, str]) -> Iterator[TaskState]:
        first = self.prefetch.take_tasks(since)
        for records in self._task_query(self.task_changes_soql(since), first=first):
            for record in records:
                state = to_task_state(record, self.settings)
                if state is not None:
                    yield state

    def _task_query(self, soql: str, first: dict[str, Any] | None = None) -> Iterator[list[dict[str, Any]]]:
        try:
            yield from self._query(soql, include_deleted=True, first=first)
        except (SalesforceMalformedRequest, SalesforceResourceNotFound) as exc:
            raise FatalCRMError(f"Salesforce refused the task query ({_message(exc)}): run `cadence setup "
                                "salesforce` to see what the org is missing") from None

    def check_tasks(self, ids: Mapping[str, str]) -> Iterator[TaskState]:
        """Known tasks read by id (300 a query): deleted or emptied ones come back DELETED."""
        by_id = {crm_id: key for key, crm_id in ids.items() if crm_id}
        wanted = list(by_id)
        fields = ", ".join(task_fields(self.settings))
        for start in range(0, len(wanted), ID_CHUNK):
            chunk = wanted[start:start + ID_CHUNK]
            soql = f"SELECT {fields} FROM Task WHERE Id IN ({', '.join(soql_string(i) for i in chunk)})"
            found: set[str] = set()
            for records in self._task_query(soql):
                for record in records:
                    found.add(str(record["Id"]))
                    state = to_task_state(record, self.settings, key=by_id.get(str(record["Id"]), ""))
                    if state is not None:
                        yield state
            for crm_id in chunk:
                if crm_id not in found:
                    state = to_task_state({"Id": crm_id}, self.settings, key=by_id[crm_id], missing=True)
                    if state is not None:
                        yield state

    def find_tasks(self, keys: Sequence[str]) -> dict[str, str]:
        """Task key -> Salesforce id for the keys that exist (SOQL reads its own writes: no lag)."""
        field = self.settings.task_key_field
        wanted = {k.lower(): k for k in keys if k}
        found: dict[str, str] = {}
        items = list(wanted.values())
        for start in range(0, len(items), KEY_CHUNK):
            chunk = items[start:start + KEY_CHUNK]
            soql = f"SELECT Id, {field} FROM Task WHERE {field} IN ({', '.join(soql_string(k) for k in chunk)})"
            for records in self._task_query(soql):
                for record in records:
                    key = wanted.get(str(record.get(field) or "").lower())
                    if key and key not in found:
                        found[key] = str(record["Id"])
        return found

    def create_tasks(self, tasks: Sequence[CreateTask]) -> list[WriteResult]:
        self.prefetch.tasks = None  # a task read prefetched before this write would miss it
        if len(tasks) > BATCH:
            raise ValueError(f"at most {BATCH} tasks per batch")
        if not tasks:
            return []
        owners = {o.id: o for o in self.list_owners()}
        unique = list({t.key: t for t in tasks}.values())  # the same key twice fails both rows: send it once
        records = {t.key: task_record(t, self.settings, owners) for t in unique}
        path = f"composite/sobjects/Task/{self.settings.task_key_field}"
        results = self._collection(path, "PATCH", records)
        return [results[t.key] for t in tasks]

    def close_tasks(self, tasks: Sequence[CloseTask]) -> list[WriteResult]:
        """Set the closed Status on open tasks, 200 a request. A task already gone counts as closed."""
        self.prefetch.tasks = None
        results = {t.key: WriteResult(t.key, ok=True) for t in tasks if not t.crm_id}
        with_ids = list({t.key: t for t in tasks if t.crm_id}.values())
        for start in range(0, len(with_ids), BATCH):
            chunk = with_ids[start:start + BATCH]
            records = {t.key: {"attributes": {"type": "Task"}, "id": t.crm_id, "Status": self.settings.close_status}
                       for t in chunk}
            answers = self._collection("composite/sobjects", "PATCH", records, closing=True)
            for t in chunk:
                answer = answers[t.key]
                results[t.key] = WriteResult(t.key, True, crm_id=t.crm_id) if answer.ok else answer
        return [results[t.key] for t in tasks]

    def _collection(self, path: str, method: str, records: dict[str, dict[str, Any]],
                    closing: bool = False) -> dict[str, WriteResult]:
        """Send records (key -> record) as one Collections request; per-record errors read
        from the 200 answer. Rows that hit UNABLE_TO_LOCK_ROW are sent again after a backoff."""
        results: dict[str, WriteResult] = {}
        pending = dict(records)
        attempt = 0
        while pending:
            keys = list(pending)
            try:
                answer = self._restful(path, method, json={"allOrNone": False, "records": [pending[k] for k in keys]})
            except Transient as exc:  # retried already: the outcome of this request is unknown
                for k in keys:
                    results[k] = (WriteResult(k, False, error=str(exc), retryable=True) if closing else
                                  WriteResult(k, False, error=f"{exc}; will reconcile by key", unknown=True))
                return results
            except (SalesforceMalformedRequest, SalesforceResourceNotFound) as exc:
                raise FatalCRMError(f"Salesforce refused the task write ({_message(exc)}): run `cadence setup "
                                    "salesforce` to see what the org is missing") from None
            if not isinstance(answer, list) or len(answer) != len(keys):
                for k in keys:
                    results[k] = WriteResult(k, False, error="Salesforce answered without a result for this record",
                                             unknown=not closing, retryable=closing)
                return results
            locked: dict[str, dict[str, Any]] = {}
            for k, item in zip(keys, answer, strict=True):
                if item.get("success"):
                    results[k] = WriteResult(k, True, crm_id=str(item.get("id") or ""))
                    continue
                errors = item.get("errors") or [{}]
                code = str(errors[0].get("statusCode", ""))
                message = f"Salesforce {code}: {errors[0].get('message', '')}".strip()
                if code == "UNABLE_TO_LOCK_ROW":
                    locked[k] = pending[k]
                    results[k] = WriteResult(k, False, error=message, retryable=True)
                elif closing and code in GONE:
                    results[k] = WriteResult(k, True)
                elif code in DUPLICATE:  # the key is already on one or more tasks: reconcile, never resend blind
                    results[k] = WriteResult(k, False, error=message, unknown=True)
                else:
                    results[k] = WriteResult(k, False, error=message, retryable=False)
            attempt += 1
            if not locked or attempt > self.settings.max_retries:
                return results
            self.call.sleep(self.call.wait(attempt))
            pending = locked
        return results

    # ------------------------------------------------------------------- owners
    def list_owners(self) -> list[Owner]:
        """Active users, read once per adapter (one sync run) and cached."""
        if self._owners_cache is None:
            first = self.prefetch.take_users()
            self._owners_cache = [to_owner(r) for records in self._query(USERS_SOQL, first=first) for r in records]
        return self._owners_cache

    # -------------------------------------------------------------------- setup
    def setup(self) -> SetupReport:
        from .setup import check_org

        return check_org(self)


def _message(exc: SalesforceError) -> str:
    content = exc.content
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return f"{content[0].get('errorCode', '')}: {content[0].get('message', '')}"
    return f"HTTP {exc.status}"



