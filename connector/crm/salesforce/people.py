"""Reading people from Salesforce: Contacts (and Leads when `crm.objects` has Lead) by
`SystemModstamp`, and the sweep's check of known ids.

Ids stay Salesforce's own: a Contact's starts 003, a Lead's 00Q, so they never clash, and a
task's WhoId takes either. A first read skips converted Leads; a later read sees a Lead's
conversion as the Lead merged into its new Contact (`mapping.to_contact`).

A run's reads open with one Composite request (one API call, up to 5 queries): the first
page of each people query, the task changes since the same cursor, and the active users
when this adapter has not read them yet. The rest of each result follows `nextRecordsUrl`
as usual. `read_task_changes` and `list_owners` are then answered from that request when
they come right after (see `Prefetch`); any failed subrequest is simply run again on its
own, so bundling never changes what is read, only how many requests it takes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from simple_salesforce.exceptions import SalesforceError, SalesforceGeneralError, SalesforceMalformedRequest

from connector.crm.base import ContactBatch, FatalCRMError, ReadContext
from sequences.records import Contact

from .http import error_code, error_message
from .mapping import checked_contact, contact_fields, soql_string, soql_time, to_contact, valid_field_name

if TYPE_CHECKING:
    from .adapter import SalesforceCRM

log = logging.getLogger("cadence.salesforce")

LEAD_PREFIX = "00Q"
ID_CHUNK = 300  # ids per `Id IN (...)` query: ~23 encoded bytes each, well inside the 16 KB URI limit
PREFETCH_MAX_AGE = 300.0  # seconds: a prefetched task read older than this is read again
USERS_SOQL = "SELECT Id, FirstName, LastName, Email, TimeZoneSidKey FROM User WHERE IsActive = true"
Page = dict[str, Any]


class Prefetch:
    """Results of the opening Composite request, each used at most once: the task changes for
    the same `since` if `read_task_changes` comes next, with no write in between, within
    PREFETCH_MAX_AGE (monotonic) and complete in one page (a later page's query locator could
    have expired while the people were read); the users' first page for `list_owners`."""

    def __init__(self) -> None:
        self.tasks: tuple[datetime | None, Page, float] | None = None
        self.users: Page | None = None

    def take_tasks(self, since: datetime | None) -> Page | None:
        held, self.tasks = self.tasks, None
        if held is None or held[0] != since or time.monotonic() - held[2] > PREFETCH_MAX_AGE:
            return None
        return held[1] if held[1].get("done", True) else None

    def take_users(self) -> Page | None:
        held, self.users = self.users, None
        return held if held is not None and held.get("done", True) else None


def query_url(version: str, soql: str, include_deleted: bool) -> str:
    return f"/services/data/v{version}/{'queryAll' if include_deleted else 'query'}/?{urlencode({'q': soql})}"


def composite_queries(crm: SalesforceCRM, queries: Mapping[str, tuple[str, bool]]) -> dict[str, Page | SalesforceError]:
    """reference -> the first page of each query, or the error its subrequest got; {} when the
    Composite request itself was refused (the caller then runs each query on its own)."""
    version = crm.settings.api_version
    urls = {ref: query_url(version, soql, deleted) for ref, (soql, deleted) in queries.items()}
    body = {"allOrNone": False,
            "compositeRequest": [{"method": "GET", "url": url, "referenceId": ref} for ref, url in urls.items()]}
    try:
        answer = crm._restful("composite", "POST", json=body)
    except SalesforceError:  # limits, sessions and 5xx were sorted (and raised) by the caller already
        return {}
    out: dict[str, Page | SalesforceError] = {}
    items = answer.get("compositeResponse") if isinstance(answer, dict) else None
    for item in items if isinstance(items, list) else []:
        ref, status, page = str(item.get("referenceId", "")), int(item.get("httpStatusCode") or 0), item.get("body")
        if ref not in urls:
            continue
        if status == 200 and isinstance(page, dict):
            out[ref] = page
        else:
            kind = SalesforceMalformedRequest if status == 400 else SalesforceGeneralError
            out[ref] = kind(urls[ref], status, ref, page)
    return out


def people_query(crm: SalesforceCRM, sobject: str, fields: Sequence[str], since: datetime | None) -> tuple[str, bool]:
    """(SOQL, include_deleted): a first read takes the live records; later reads go through
    queryAll on SystemModstamp (the sync applies its overlap), so deleted and merged records
    (IsDeleted, MasterRecordId) arrive in the same pages as the changed ones."""
    select = f"SELECT {', '.join(fields)} FROM {sobject}"
    if since is None:  # converted Leads live on as their Contacts: nothing to start for them
        where = " WHERE IsConverted = false" if sobject == "Lead" else ""
        return f"{select}{where} ORDER BY SystemModstamp, Id", False
    return f"{select} WHERE SystemModstamp >= {soql_time(since)} ORDER BY SystemModstamp, Id", True


def people_fields(crm: SalesforceCRM, sobject: str, extra: Sequence[str] = ()) -> list[str]:
    wanted = [f for f in extra if valid_field_name(f)]
    s = crm.settings
    fields = contact_fields(s.fields_of(sobject), s.extra_fields_of(sobject) + wanted, sobject)
    dropped = crm._dropped_fields.get(sobject, set())
    return [f for f in fields if f not in dropped]


def read_people(crm: SalesforceCRM, ctx: ReadContext) -> Iterator[ContactBatch]:
    """Every configured object's changes since `ctx.since`, pages interleaved (so no query
    locator waits long), opened by one Composite request with the task and user reads."""
    objects: list[str] = list(crm.settings.objects)
    queries = {obj: people_query(crm, obj, people_fields(crm, obj, ctx.properties), ctx.since) for obj in objects}
    bundle: dict[str, tuple[str, bool]] = dict(queries)
    bundle["tasks"] = (crm.task_changes_soql(ctx.tasks_since), True)
    if crm._owners_cache is None:
        bundle["users"] = (USERS_SOQL, False)
    answers = composite_queries(crm, bundle)
    crm.prefetch = Prefetch()
    tasks, users = answers.get("tasks"), answers.get("users")
    if isinstance(tasks, dict):
        crm.prefetch.tasks = (ctx.tasks_since, tasks, time.monotonic())
    if isinstance(users, dict):
        crm.prefetch.users = users
    streams = [_pages(crm, obj, ctx, answers.get(obj)) for obj in objects]
    while streams:
        for stream in list(streams):
            batch = next(stream, None)
            if batch is None:
                streams.remove(stream)
            else:
                yield batch


def _pages(crm: SalesforceCRM, sobject: str, ctx: ReadContext, first: Page | SalesforceError | None) -> Iterator[ContactBatch]:
    fields = people_fields(crm, sobject, ctx.properties)
    soql, include_deleted = people_query(crm, sobject, fields, ctx.since)
    try:
        if isinstance(first, SalesforceMalformedRequest):
            raise first
        pages = crm._query(soql, include_deleted=include_deleted, first=first if isinstance(first, dict) else None)
        records = next(pages, None)
    except SalesforceMalformedRequest as exc:
        if error_code(exc) != "INVALID_FIELD" or not _drop_unknown_fields(crm, sobject, fields, ctx.properties):
            raise FatalCRMError(f"Salesforce refused the {sobject} query: {error_message(exc)}") from None
        yield from _pages(crm, sobject, ctx, None)
        return
    if records is not None:
        yield _batch(crm, sobject, records)
    for records in pages:
        yield _batch(crm, sobject, records)


def _drop_unknown_fields(crm: SalesforceCRM, sobject: str, fields: list[str], optional: Sequence[str]) -> bool:
    """Fields a config rule names but the object lacks are left out (with a warning), once.
    Returns False when a required field is missing (the admin must add it)."""
    describe = crm._restful(f"sobjects/{sobject}/describe")
    known = {f["name"].lower() for f in describe.get("fields", [])}
    missing = [f for f in fields if "." not in f and f.lower() not in known]
    if not missing or any(f not in optional and f not in crm.settings.extra_fields_of(sobject) for f in missing):
        return False
    for name in missing:
        log.warning(f"a config rule names a field {sobject} does not have; it reads as empty", extra={"field": name})
        crm._dropped_fields.setdefault(sobject, set()).add(name)
    return True


def _batch(crm: SalesforceCRM, sobject: str, records: Sequence[Mapping[str, Any]]) -> ContactBatch:
    contacts, bad = [], []
    for record in records:
        contact, problems = checked_contact(record, crm.settings.fields_of(sobject), sobject)
        contacts.append(contact)
        bad.extend(problems)
    return ContactBatch(contacts, bad)


def verify_people(crm: SalesforceCRM, ids: Sequence[str]) -> Iterator[Contact]:
    """The requested people that are gone: deleted (or emptied from the Recycle Bin) as
    `Contact(id, deleted=True)`, merged as `Contact(id, merged_into=<winner>)`, and converted
    Leads as merged into their Contact. Ids are sorted to their object by key prefix."""
    wanted = list(dict.fromkeys(str(i) for i in ids if str(i)))
    leads = [i for i in wanted if i.startswith(LEAD_PREFIX)]
    contacts = [i for i in wanted if not i.startswith(LEAD_PREFIX)]
    for sobject, chunk_ids in (("Contact", contacts), ("Lead", leads)):
        extra = ", IsConverted, ConvertedContactId" if sobject == "Lead" else ""
        for start in range(0, len(chunk_ids), ID_CHUNK):
            chunk = chunk_ids[start:start + ID_CHUNK]
            soql = (f"SELECT Id, IsDeleted, MasterRecordId{extra} FROM {sobject} WHERE Id IN "
                    f"({', '.join(soql_string(i) for i in chunk)})")
            seen: dict[str, Mapping[str, Any]] = {}
            for records in crm._query(soql, include_deleted=True):
                seen.update({str(r["Id"]): r for r in records})
            for cid in chunk:
                row = seen.get(cid)
                if row is None:
                    yield Contact(id=cid, deleted=True)
                elif row.get("IsDeleted") or row.get("IsConverted"):
                    yield to_contact(row, crm.settings.fields_of(sobject), sobject)
