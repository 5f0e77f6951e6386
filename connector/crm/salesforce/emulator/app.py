"""A stateful Salesforce REST API emulator for the real `simple-salesforce`, over HTTPS.

    from connector.crm.salesforce.emulator import SalesforceEmulator
    with SalesforceEmulator() as emu:
        emu.seed_contacts(1000, seed=7)
        session = emu.requests_session()          # trusts the emulator's test CA only
        sf = Salesforce(instance_url=emu.base_url, session_id=emu.session_id, session=session)

`handle(method, target, headers, body)` answers one request without a socket; `start()`
serves it over TLS. What it emulates and what it does not: docs/emulator.md.
"""

from __future__ import annotations

import base64
import copy
import functools
import itertools
import json
import random
import re
import threading
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from connector.crm.hubspot.emulator.clock import FakeClock, SystemClock
from connector.crm.hubspot.emulator.faults import Faults
from connector.crm.hubspot.emulator.requestlog import LogEntry, RequestLog
from connector.crm.hubspot.emulator.router import Response

from . import composite
from . import schema as sch
from .soql import SoqlError, parse, parse_datetime, sort_key

UTC = timezone.utc
API_VERSION = "59.0"
MAX_COLLECTION = 200
MAX_URI = 16_384
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_DATA = re.compile(r"^/services/data/v(?P<v>\d+\.\d)(?P<rest>/.*)?$")
_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
_READ_ONLY = {"Id", "IsDeleted", "CreatedDate", "LastModifiedDate", "SystemModstamp"}


class SFError(Exception):
    """A whole-request error: HTTP status and Salesforce's JSON array body."""

    def __init__(self, status: int, code: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        body: dict[str, Any] = {"message": message, "errorCode": code}
        if fields:
            body["fields"] = fields
        self.body = [body]


def case_safe(id15: str) -> str:
    """The 18-character form: three checksum characters flagging upper-case letters."""
    suffix = ""
    for start in (0, 5, 10):
        flags = sum(1 << i for i, ch in enumerate(id15[start:start + 5]) if "A" <= ch <= "Z")
        suffix += _SUFFIX[flags]
    return id15 + suffix


def fmt_time(seconds: float) -> str:
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def _record_error(code: str, message: str, fields: list[str] | None = None) -> dict[str, Any]:
    return {"success": False, "errors": [{"statusCode": code, "message": message, "fields": fields or []}]}


class SalesforceEmulator:
    """One Salesforce org: Users, Accounts, Contacts, Leads, Tasks and the TaskStatus table."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, clock: Any = None, api_max: int = 100_000,
                 page_size: int = 2000, session_id: str = "00D000000000001!emulator-session",
                 consumer_key: str = "emulator-consumer-key", consumer_secret: str = "emulator-consumer-secret",
                 task_key_field: str | None = "TaskKey__c", task_key_unique: bool = True) -> None:
        self.lock = threading.RLock()
        self.clock = clock or SystemClock()
        self.faults = Faults()
        self.log = RequestLog()
        self.host, self.port = host, port
        self.schema = sch.build()
        self.records: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in self.schema}
        self._counter = itertools.count(1)
        self.api_max, self.api_used = api_max, 0
        self.page_size = page_size
        self.session_id = session_id
        self.sessions: set[str] = {session_id}
        self.consumer_key, self.consumer_secret = consumer_key, consumer_secret
        self.jwt_users: set[str] = {"integration@example.com"}
        self.jwt_public_key: Any = None  # PEM of the connected app's certificate key; None: signatures not checked
        self.lock_records = 0  # the next N upserted/updated records fail with UNABLE_TO_LOCK_ROW
        self.lock_requests = 0  # the next N collection writes fail whole with UNABLE_TO_LOCK_ROW
        self.exhaust_after: int | None = None  # after N more data requests, other clients use up the allocation
        self.cursors: dict[str, tuple[list[dict[str, Any]], bool]] = {}
        self._server: Any = None
        self._cert: Any = None
        self.org_id = case_safe("00D" + "Kc" + "0000000001")
        for n, (name, closed, default) in enumerate(sch.TASK_STATUSES):
            rid = self._new_id("TaskStatus")
            self.records["TaskStatus"][rid] = {"Id": rid, "ApiName": name, "MasterLabel": name, "IsClosed": closed,
                                               "IsDefault": default, "SortOrder": n + 1}
        self.integration_user = self.add_user("Integration", "User", "integration@example.com")
        if task_key_field:
            self.add_field("Task", task_key_field, external=True, unique=task_key_unique)

    # ------------------------------------------------------------------ helpers
    def now(self) -> str:
        return fmt_time(self.clock.time())

    def freeze_clock(self, start: Any = None) -> FakeClock:
        fake = FakeClock(start if start is not None else self.clock.time())
        self.clock = fake
        return fake

    def _new_id(self, sobject: str) -> str:
        n = next(self._counter)
        body = ""
        for _ in range(10):
            n, r = divmod(n, 62)
            body = _B62[r] + body
        return case_safe(sch.KEY_PREFIX[sobject] + "Kc" + body)

    def _field(self, sobject: str, name: str) -> dict[str, Any] | None:
        fields = self.schema[sobject]
        if name in fields:
            return fields[name]
        lower = name.lower()
        return next((f for n, f in fields.items() if n.lower() == lower), None)

    def _resolve(self, sobject: str, name: str) -> str:
        if not sobject:
            match = next((o for o in self.schema if o.lower() == name.lower()), None)
            if match is None:
                raise SoqlError("INVALID_TYPE", f"sObject type '{name}' is not supported.")
            return match
        if "." in name:
            rel, _, sub = name.partition(".")
            ref = next((f for f in self.schema[sobject].values() if (f["relationshipName"] or "").lower() == rel.lower()),
                       None)
            if ref is None:
                raise SoqlError("INVALID_FIELD", f"Didn't understand relationship '{rel}' in field path.")
            target = ref["referenceTo"][0]
            sub_field = self._field(target, sub)
            if sub_field is None:
                raise SoqlError("INVALID_FIELD", f"No such column '{sub}' on entity '{target}'.")
            return f"{ref['relationshipName']}.{sub_field['name']}"
        found = self._field(sobject, name)
        if found is None:
            raise SoqlError("INVALID_FIELD", f"No such column '{name}' on entity '{sobject}'. If you are attempting "
                                             "to use a custom field, be sure to append the '__c' after the custom "
                                             "field name.")
        return found["name"]

    def _value(self, sobject: str, row: dict[str, Any], name: str) -> Any:
        if "." not in name:
            return row.get(name)
        rel, _, sub = name.partition(".")
        ref = next(f for f in self.schema[sobject].values() if f["relationshipName"] == rel)
        target_id = row.get(ref["name"])
        target = self._lookup(ref["referenceTo"][0], target_id) if target_id else None
        return target.get(sub) if target else None

    def _lookup(self, sobject: str, rid: str) -> dict[str, Any] | None:
        if sobject == "Contact" and rid and rid.startswith(sch.KEY_PREFIX["Lead"]):
            sobject = "Lead"
        return self.records.get(sobject, {}).get(rid)

    def _attributes(self, sobject: str, rid: str) -> dict[str, str]:
        return {"type": sobject, "url": f"/services/data/v{API_VERSION}/sobjects/{sobject}/{rid}"}

    def _project(self, sobject: str, row: dict[str, Any], fields: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {"attributes": self._attributes(sobject, row["Id"])}
        for name in fields:
            if "." in name:
                rel, _, sub = name.partition(".")
                ref = next(f for f in self.schema[sobject].values() if f["relationshipName"] == rel)
                target = self._lookup(ref["referenceTo"][0], row.get(ref["name"]) or "")
                if target is None:
                    out[rel] = None
                else:
                    nested = out.get(rel) or {"attributes": self._attributes(ref["referenceTo"][0], target["Id"])}
                    nested[sub] = target.get(sub)
                    out[rel] = nested
            else:
                out[name] = row.get(name)
        return out

    def _touch(self, row: dict[str, Any]) -> None:
        stamp = self.now()
        row["LastModifiedDate"] = row["SystemModstamp"] = stamp

    def _insert(self, sobject: str, values: dict[str, Any]) -> dict[str, Any]:
        rid = self._new_id(sobject)
        stamp = self.now()
        row: dict[str, Any] = {f: None for f in self.schema[sobject]}
        for name, meta in self.schema[sobject].items():
            if meta["type"] == "boolean":
                row[name] = False
            default = next((p["value"] for p in meta["picklistValues"] if p["defaultValue"]), None)
            if default is not None:
                row[name] = default
        row.update(values)
        row.update({"Id": rid, "IsDeleted": False, "CreatedDate": stamp, "LastModifiedDate": stamp,
                    "SystemModstamp": stamp})
        if sobject in ("Contact", "Lead", "User") and "Name" in row:
            row["Name"] = " ".join(p for p in (row.get("FirstName"), row.get("LastName")) if p) or row.get("Name")
        self.records[sobject][rid] = row
        return row

    # ------------------------------------------------------------ test actions
    def add_user(self, first: str, last: str, email: str, timezone_sid: str = "America/New_York",
                 active: bool = True) -> str:
        with self.lock:
            row = self._insert("User", {"FirstName": first, "LastName": last, "Email": email, "Username": email,
                                        "TimeZoneSidKey": timezone_sid, "IsActive": active})
            return row["Id"]

    def seed_users(self, n: int = 5, seed: int = 0) -> list[str]:
        rng = random.Random(seed)
        firsts = ["Dana", "Marcus", "Priya", "Tom", "Ines", "Kofi", "Mei", "Lars"]
        lasts = ["Whitfield", "Lee", "Raman", "Okafor", "Garcia", "Berg", "Chen", "Novak"]
        zones = ["America/New_York", "America/Chicago", "Europe/London", "America/Los_Angeles"]
        out = []
        for i in range(n):
            first, last = rng.choice(firsts), rng.choice(lasts)
            out.append(self.add_user(first, last, f"{first.lower()}.{last.lower()}{i}@example.com", zones[i % len(zones)]))
        return out

    def add_field(self, sobject: str, name: str, type_: str = "string", *, external: bool = False,
                  unique: bool = False, picklist: list[str] | None = None, length: int = 0) -> None:
        """Add a custom field (an admin's Setup change)."""
        with self.lock:
            self.schema[sobject][name] = sch.field(name, type_, external=external, unique=unique, picklist=picklist,
                                                   restricted=bool(picklist), length=length)
            for row in self.records[sobject].values():
                row.setdefault(name, False if type_ == "boolean" else None)

    def remove_field(self, sobject: str, name: str) -> None:
        with self.lock:
            self.schema[sobject].pop(name, None)
            for row in self.records[sobject].values():
                row.pop(name, None)

    def add_picklist_value(self, sobject: str, name: str, value: str) -> None:
        with self.lock:
            values = self.schema[sobject][name]["picklistValues"]
            values.append({"active": True, "defaultValue": False, "label": value, "validFor": None, "value": value})

    def create_account(self, name: str) -> str:
        with self.lock:
            return self._insert("Account", {"Name": name})["Id"]

    def create_contact(self, **values: Any) -> str:
        with self.lock:
            values.setdefault("OwnerId", self.integration_user)
            return self._insert("Contact", values)["Id"]

    def _people(self, person_id: str) -> dict[str, dict[str, Any]]:
        """The table a Contact or Lead id belongs to (by its key prefix)."""
        return self.records["Lead" if person_id.startswith(sch.KEY_PREFIX["Lead"]) else "Contact"]

    def update_contact(self, contact_id: str, **values: Any) -> None:
        """A person editing a Contact (or a Lead: any person id)."""
        with self.lock:
            row = self._people(contact_id)[contact_id]
            row.update(values)
            row["Name"] = " ".join(p for p in (row.get("FirstName"), row.get("LastName")) if p)
            self._touch(row)

    def delete_contact(self, contact_id: str) -> None:
        """Move a Contact or Lead to the Recycle Bin: visible to queryAll with IsDeleted = true."""
        with self.lock:
            row = self._people(contact_id)[contact_id]
            row["IsDeleted"] = True
            self._touch(row)

    def purge_contact(self, contact_id: str) -> None:
        """Empty it from the Recycle Bin: gone for every query."""
        with self.lock:
            self._people(contact_id).pop(contact_id, None)

    def merge_contacts(self, winner: str, loser: str) -> None:
        """The loser (a Contact, or a Lead merged into a Lead) is deleted with MasterRecordId =
        winner; its tasks move to the winner. Whether reparenting bumps a task's SystemModstamp
        is UNCONFIRMED: here it does not."""
        with self.lock:
            table = self._people(loser)
            row = table[loser]
            row["IsDeleted"] = True
            row["MasterRecordId"] = winner
            self._touch(row)
            for task in self.records["Task"].values():
                if task.get("WhoId") == loser:
                    task["WhoId"] = winner
            self._touch(table[winner])

    def create_lead(self, **values: Any) -> str:
        with self.lock:
            values.setdefault("OwnerId", self.integration_user)
            values.setdefault("Company", "Unknown")
            return self._insert("Lead", values)["Id"]

    def convert_lead(self, lead_id: str, contact_id: str | None = None) -> str:
        """Convert a Lead (a recruiter's "Convert"): a new Contact from its values (or an existing
        one), the Lead read-only with IsConverted, ConvertedContactId, ConvertedDate and Status
        'Closed - Converted'; its tasks move to the Contact (their SystemModstamp untouched,
        as for a merge). Returns the Contact's id."""
        with self.lock:
            lead = self.records["Lead"][lead_id]
            if contact_id is None:
                account = self._insert("Account", {"Name": lead.get("Company") or "Unknown"})["Id"]
                values = {k: lead.get(k) for k in ("FirstName", "LastName", "Email", "Phone", "MobilePhone", "Title",
                                                   "OwnerId", "HasOptedOutOfEmail", "DoNotCall", "LeadSource")}
                contact_id = self._insert("Contact", values | {"AccountId": account,
                                                               "MailingCountry": lead.get("Country")})["Id"]
            lead.update(IsConverted=True, ConvertedContactId=contact_id, Status="Closed - Converted",
                        ConvertedDate=self.now()[:10])
            self._touch(lead)
            for task in self.records["Task"].values():
                if task.get("WhoId") == lead_id:
                    task["WhoId"] = contact_id
            return contact_id

    def seed_leads(self, n: int, seed: int = 0, owners: list[str] | None = None) -> list[str]:
        """`n` synthetic Leads (reproducible for a seed), spread over the active users."""
        with self.lock:
            if owners is None:
                owners = [u for u, row in self.records["User"].items() if row["IsActive"] and u != self.integration_user]
                owners = owners or self.seed_users(5, seed=seed)
            rng = random.Random(seed + 1)
            firsts, lasts = ["Hedy", "Katherine", "Claude", "Margaret", "John"], ["Lamarr", "Johnson", "Shannon", "Hamilton"]
            ids = []
            for i in range(n):
                first, last = rng.choice(firsts), rng.choice(lasts)
                values = {"FirstName": first, "LastName": last, "Email": f"{first}.{last}.lead{i}@example.com".lower(),
                          "Phone": f"+1415555{rng.randint(1000, 9999)}", "Company": rng.choice(["Acme", "Globex"]),
                          "Country": "United States", "CountryCode": "US", "OwnerId": owners[i % len(owners)],
                          "LeadSource": rng.choice(["Web", "Referral"])}
                ids.append(self._insert("Lead", values)["Id"])
            return ids

    def seed_contacts(self, n: int, seed: int = 0, owners: list[str] | None = None) -> list[str]:
        """`n` synthetic contacts (reproducible for a seed), spread over the active users."""
        with self.lock:
            if owners is None:
                owners = [u for u, row in self.records["User"].items() if row["IsActive"] and u != self.integration_user]
                if not owners:
                    owners = self.seed_users(5, seed=seed)
            rng = random.Random(seed)
            firsts = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Tim"]
            lasts = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Perlman"]
            places = [("US", "+1212555", "United States"), ("GB", "+4420794", "United Kingdom"),
                      ("DE", "+4930123", "Germany"), ("US", "+1312555", "USA")]
            ids = []
            for i in range(n):
                first, last = rng.choice(firsts), rng.choice(lasts)
                code, phone, country = rng.choice(places)
                values = {"FirstName": first, "LastName": last, "Email": f"{first}.{last}.{i}@example.com".lower(),
                          "Phone": f"{phone}{rng.randint(1000, 9999)}", "Title": rng.choice(["Engineer", "Manager", ""]),
                          "MailingCountry": country, "MailingCountryCode": code, "OwnerId": owners[i % len(owners)],
                          "LeadSource": rng.choice(["Web", "Referral", "LinkedIn"])}
                ids.append(self._insert("Contact", values)["Id"])
            return ids

    def tasks(self, include_deleted: bool = False) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(r) for r in self.records["Task"].values() if include_deleted or not r["IsDeleted"]]

    def task_keys(self, key_field: str = "TaskKey__c") -> list[str]:
        """The key of every live task (a duplicated key appears twice)."""
        return [t[key_field] for t in self.tasks() if t.get(key_field)]

    def task_by_key(self, key: str, key_field: str = "TaskKey__c") -> dict[str, Any] | None:
        return next((t for t in self.tasks() if (t.get(key_field) or "").lower() == key.lower()), None)

    def update_task(self, task_id: str, **values: Any) -> None:
        """A person editing a task in the UI (Status changes keep IsClosed/CompletedDateTime right)."""
        with self.lock:
            row = self.records["Task"][task_id]
            self._apply_task(row, values, creating=False)
            self._touch(row)

    def complete_task(self, task_id: str, *, disposition: str = "", status: str = "Completed", at: Any = None,
                      note: str = "") -> None:
        with self.lock:
            values: dict[str, Any] = {"Status": status}
            if disposition:
                values["CallDisposition"] = disposition
            if note:
                values["Description"] = note
            self.update_task(task_id, **values)
            if at is not None:
                seconds = at.timestamp() if isinstance(at, datetime) else float(at)
                self.records["Task"][task_id]["CompletedDateTime"] = fmt_time(seconds)

    def delete_task(self, task_id: str) -> None:
        with self.lock:
            row = self.records["Task"][task_id]
            row["IsDeleted"] = True
            self._touch(row)

    def create_task_raw(self, **values: Any) -> str:
        """Insert a task with no checks (e.g. a duplicate key an import left behind)."""
        with self.lock:
            row = self._insert("Task", {})
            self._apply_task(row, values, creating=True)
            return row["Id"]

    # ---------------------------------------------------------------- request log
    def counts(self, status: int | None = None) -> dict[str, int]:
        return self.log.counts(status)

    def total_requests(self) -> int:
        return self.log.total()

    def reset_log(self) -> None:
        self.log.reset()

    def requests(self) -> list[LogEntry]:
        return self.log.entries()

    # ------------------------------------------------------------- HTTP handling
    def handle(self, method: str, target: str, headers: dict | None = None, body: bytes = b"") -> Response:
        method = method.upper()
        parts = urlsplit(target)
        path = parts.path or "/"
        query = parse_qs(parts.query, keep_blank_values=True)
        headers = {k.lower(): v for k, v in (headers or {}).items()}
        arrived = self.clock.time()
        template, is_write = self._template(method, path)
        if len(target) > MAX_URI:
            self.log.add(LogEntry(method, path, template, 414, arrived))
            return Response(414, [{"errorCode": "URI_TOO_LONG", "message": "URI Too Long"}])
        fault = self.faults.pick(method, path, template, is_write)
        if fault and fault.kind == "reset":
            self.log.add(LogEntry(method, path, template, 0, arrived, "reset"))
            return Response(0, fault="reset")
        if fault and fault.kind == "status":
            code = {503: "SERVER_UNAVAILABLE", 500: "UNKNOWN_EXCEPTION"}.get(fault.status, "UNKNOWN_EXCEPTION")
            resp = Response(fault.status, [{"errorCode": code, "message": f"Injected fault: HTTP {fault.status}"}])
            self.log.add(LogEntry(method, path, template, fault.status, arrived, str(fault.status)))
            return resp
        with self.lock:
            resp = self._dispatch(method, path, query, headers, body)
        if fault and fault.kind == "drop":
            resp.fault = "drop"
        if fault and fault.kind == "slow":
            resp.delay = fault.delay
        self.log.add(LogEntry(method, path if "oauth2" not in path else template, template, resp.status, arrived,
                              fault.kind if fault else None))
        return resp

    @staticmethod
    def _template(method: str, path: str) -> tuple[str, bool]:
        if path.startswith("/services/oauth2/token"):
            return "POST /services/oauth2/token", False
        m = _DATA.match(path)
        rest = (m.group("rest") or "/") if m else path
        if re.match(r"^/(query|queryAll)/?$", rest):
            return f"GET /{rest.strip('/')}", False
        if re.match(r"^/(query|queryAll)/[^/]+$", rest):
            return f"GET /{rest.split('/')[1]}/{{cursor}}", False
        if rest.startswith("/composite/sobjects/"):
            obj_field = rest[len("/composite/sobjects/"):]
            return f"{method} /composite/sobjects/{obj_field}", True
        if rest.rstrip("/") == "/composite":
            return f"{method} /composite", False
        if rest.rstrip("/") == "/composite/sobjects":
            return f"{method} /composite/sobjects", True
        if rest.endswith("/describe") or rest.endswith("/describe/"):
            return f"GET /sobjects/{rest.split('/')[2]}/describe", False
        return f"{method} {rest}", method != "GET"

    def _dispatch(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
                  body: bytes) -> Response:
        if path.rstrip("/") == "/services/oauth2/token":
            return self._token(method, headers, body)
        m = _DATA.match(path)
        if m is None:
            return Response(404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}])
        if not self._authorized(headers):
            return Response(401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
        if self.exhaust_after is not None:
            if self.exhaust_after <= 0:
                self.api_used, self.exhaust_after = max(self.api_used, self.api_max), None
            else:
                self.exhaust_after -= 1
        if self.api_used >= self.api_max:
            return Response(403, [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}],
                            {"Sforce-Limit-Info": f"api-usage={self.api_used}/{self.api_max}"})
        self.api_used += 1
        limit_header = {"Sforce-Limit-Info": f"api-usage={self.api_used}/{self.api_max}"}
        try:
            if float(m.group("v")) < 46.0 and "/composite/sobjects/" in path:
                raise SFError(404, "NOT_FOUND", "The requested resource does not exist")
            resp = self._route(method, m.group("rest") or "/", query, body)
        except SFError as exc:
            resp = Response(exc.status, exc.body)
        except SoqlError as exc:
            resp = Response(400, [{"message": exc.message, "errorCode": exc.code}])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            resp = Response(400, [{"message": f"emulator: {type(exc).__name__}: {exc}", "errorCode": "JSON_PARSER_ERROR"}])
        resp.headers.update(limit_header)
        return resp

    def _authorized(self, headers: dict[str, str]) -> bool:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        return scheme.lower() in ("bearer", "oauth") and token.strip() in self.sessions

    def expire_sessions(self) -> None:
        """Every issued session id stops working (the static `session_id` too)."""
        with self.lock:
            self.sessions.clear()

    def _issue(self) -> dict[str, Any]:
        token = f"{self.org_id[:15]}!AQ{next(self._counter):010d}emulator"
        self.sessions.add(token)
        return {"access_token": token, "instance_url": self.base_url, "id": f"{self.base_url}/id/{self.org_id}/"
                f"{self.integration_user}", "token_type": "Bearer", "issued_at": str(int(self.clock.time() * 1000)),
                "signature": base64.b64encode(b"emulator").decode(), "scope": "api"}

    def _token(self, method: str, headers: dict[str, str], body: bytes) -> Response:
        def fail(error: str, description: str) -> Response:
            return Response(400, {"error": error, "error_description": description})

        if method != "POST":
            return Response(405, {"error": "invalid_request", "error_description": "must use HTTP POST"})
        form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        grant = form.get("grant_type", "")
        if grant == "client_credentials":
            scheme, _, encoded = headers.get("authorization", "").partition(" ")
            try:
                key, _, secret = base64.b64decode(encoded).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                key, secret = "", ""
            if scheme.lower() != "basic" or key != self.consumer_key:
                return fail("invalid_client_id", "client identifier invalid")
            if secret != self.consumer_secret:
                return fail("invalid_client", "invalid client credentials")
            return Response(200, self._issue())
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            import jwt

            assertion = form.get("assertion", "")
            try:
                if self.jwt_public_key is not None:
                    claims = jwt.decode(assertion, self.jwt_public_key, algorithms=["RS256"],
                                        options={"verify_aud": False, "verify_exp": False})
                else:
                    claims = jwt.decode(assertion, options={"verify_signature": False})
            except jwt.PyJWTError:
                return fail("invalid_grant", "invalid assertion")
            if claims.get("iss") != self.consumer_key:
                return fail("invalid_client_id", "client identifier invalid")
            if claims.get("sub") not in self.jwt_users:
                return fail("invalid_grant", "user hasn't approved this consumer")
            try:  # simple-salesforce sends `exp` as a string of digits
                expired = float(claims.get("exp", 0)) < self.clock.time()
            except (TypeError, ValueError):
                expired = True
            if expired:
                return fail("invalid_grant", "expired authorization code")
            return Response(200, self._issue())
        if grant == "password":
            if form.get("client_id") != self.consumer_key or form.get("client_secret") != self.consumer_secret:
                return fail("invalid_client_id", "client identifier invalid")
            return fail("invalid_grant", "authentication failure")  # no passwords kept: use JWT or client credentials
        return fail("unsupported_grant_type", "grant type not supported")

    def _route(self, method: str, rest: str, query: dict[str, list[str]], body: bytes) -> Response:
        parts = [p for p in rest.split("/") if p]
        if method == "GET" and parts and parts[0] in ("query", "queryAll"):
            if len(parts) == 1:
                q = (query.get("q") or [""])[-1]
                return Response(200, self._query(q, include_deleted=parts[0] == "queryAll"))
            if len(parts) == 2:
                return Response(200, self._more(parts[1]))
        if method == "GET" and parts == ["limits"]:
            return Response(200, {"DailyApiRequests": {"Max": self.api_max, "Remaining": self.api_max - self.api_used}})
        if method == "GET" and len(parts) == 3 and parts[0] == "sobjects" and parts[2] == "describe":
            return Response(200, self._describe(parts[1]))
        if method == "POST" and parts == ["composite"]:
            return Response(200, composite.serve(self, body))
        if parts[:2] == ["composite", "sobjects"]:
            data = json.loads(body or b"{}")
            if not isinstance(data, dict) or not isinstance(data.get("records"), list):
                raise SFError(400, "JSON_PARSER_ERROR", "records: expected an array")
            records = data["records"]
            if len(records) > MAX_COLLECTION:  # the HTTP status is UNCONFIRMED (fact sheet §2.5): 400 here
                raise SFError(400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records "
                                                        "into this call")
            if self.lock_requests > 0:
                self.lock_requests -= 1
                raise SFError(400, "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record")
            all_or_none = bool(data.get("allOrNone"))
            if method == "PATCH" and len(parts) == 4:
                return Response(200, self._upsert(parts[2], unquote(parts[3]), records, all_or_none))
            if method == "POST" and len(parts) == 2:
                return Response(200, self._write_many(records, all_or_none, update=False))
            if method == "PATCH" and len(parts) == 2:
                return Response(200, self._write_many(records, all_or_none, update=True))
        if method == "GET" and len(parts) == 3 and parts[0] == "sobjects":
            row = self.records.get(parts[1], {}).get(parts[2])
            if row is None or row["IsDeleted"]:
                raise SFError(404, "NOT_FOUND", "The requested resource does not exist")
            return Response(200, self._project(parts[1], row, list(self.schema[parts[1]])))
        raise SFError(404, "NOT_FOUND", "The requested resource does not exist")

    # -- query
    def _query(self, text: str, include_deleted: bool) -> dict[str, Any]:
        q = parse(text, self._resolve)
        if q.sobject not in self.records:
            raise SoqlError("INVALID_TYPE", f"sObject type '{q.sobject}' is not supported.")
        rows = []
        for row in self.records[q.sobject].values():
            if row.get("IsDeleted") and not include_deleted:
                continue
            if q.where is None or q.where(functools.partial(self._value, q.sobject, row)):
                rows.append(row)
        if q.order:
            rows.sort(key=sort_key(q.order, lambda r, name: self._value(q.sobject, r, name)))
        if q.limit is not None:
            rows = rows[:q.limit]
        projected = [self._project(q.sobject, r, q.fields) for r in rows]
        return self._page(projected, include_deleted, 0, "")

    def _page(self, rows: list[dict[str, Any]], include_deleted: bool, offset: int, cursor: str) -> dict[str, Any]:
        end = offset + self.page_size
        page = {"totalSize": len(rows), "done": end >= len(rows), "records": rows[offset:end]}
        if end < len(rows):
            if not cursor:
                cursor = case_safe("01g" + "Kc" + f"{next(self._counter):010d}")
                self.cursors[cursor] = (rows, include_deleted)
                while len(self.cursors) > 50:
                    self.cursors.pop(next(iter(self.cursors)))
            endpoint = "queryAll" if include_deleted else "query"
            page["nextRecordsUrl"] = f"/services/data/v{API_VERSION}/{endpoint}/{cursor}-{end}"
        elif cursor:
            self.cursors.pop(cursor, None)
        return page

    def _more(self, locator: str) -> dict[str, Any]:
        cursor, _, offset = locator.rpartition("-")
        if cursor not in self.cursors or not offset.isdigit():
            raise SFError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        rows, include_deleted = self.cursors[cursor]
        return self._page(rows, include_deleted, int(offset), cursor)

    def _describe(self, sobject: str) -> dict[str, Any]:
        match = next((o for o in self.schema if o.lower() == sobject.lower()), None)
        if match is None:
            raise SFError(404, "NOT_FOUND", "The requested resource does not exist")
        return {"name": match, "label": match, "keyPrefix": sch.KEY_PREFIX.get(match), "createable": True,
                "updateable": True, "queryable": True, "custom": False,
                "fields": copy.deepcopy(list(self.schema[match].values())), "recordTypeInfos": [],
                "childRelationships": [], "urls": {"describe": f"/services/data/v{API_VERSION}/sobjects/{match}/describe"}}

    # -- writes
    def _closed_statuses(self) -> set[str]:
        return {r["ApiName"] for r in self.records["TaskStatus"].values() if r["IsClosed"]}

    def _check_values(self, sobject: str, values: dict[str, Any], creating: bool) -> dict[str, Any] | None:
        """A per-record error for values that cannot be written, else None."""
        for name, value in values.items():
            meta = self.schema[sobject].get(name)
            if meta is None:
                return _record_error("INVALID_FIELD", f"No such column '{name}' on sobject of type {sobject}", [name])
            if not meta["createable"] or (not creating and not meta["updateable"]) or name in _READ_ONLY:
                return _record_error("INVALID_FIELD_FOR_INSERT_UPDATE", f"Unable to create/update fields: {name}. "
                                     "Please check the security settings of this field and verify that it is "
                                     "read/write for your profile or permission set.", [name])
            if value is None:
                continue
            kind = meta["type"]
            if kind in ("string", "combobox", "textarea", "email", "phone", "picklist") and not isinstance(value, str):
                return _record_error("INVALID_TYPE_ON_FIELD_IN_RECORD", f"{name}: value not of required type", [name])
            if isinstance(value, str) and meta["length"] and len(value) > meta["length"]:
                return _record_error("STRING_TOO_LONG", f"{meta['label']}: data value too large: {value[:40]}... "
                                     f"(max length={meta['length']})", [name])
            if kind == "picklist" and meta["restrictedPicklist"] and value not in {p["value"] for p in meta["picklistValues"]}:
                return _record_error("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                                     f"{meta['label']}: bad value for restricted picklist field: {value}", [name])
            if kind == "date" and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(value)):
                # the error for a datetime in a date field is UNCONFIRMED (fact sheet §8.8): rejected here
                return _record_error("INVALID_TYPE_ON_FIELD_IN_RECORD", f"{name}: value not of required type: {value}",
                                     [name])
            if kind == "datetime":
                try:
                    parse_datetime(str(value))
                except ValueError:
                    return _record_error("INVALID_TYPE_ON_FIELD_IN_RECORD", f"{name}: value not of required type: "
                                         f"{value}", [name])
            if kind == "boolean" and not isinstance(value, bool):
                return _record_error("INVALID_TYPE_ON_FIELD_IN_RECORD", f"{name}: value not of required type", [name])
            if kind == "reference":
                if not _ID.match(str(value)):
                    return _record_error("MALFORMED_ID", f"{meta['label']}: id value of incorrect type: {value}", [name])
                target = self._lookup(meta["referenceTo"][0], str(value))
                if target is None:
                    return _record_error("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [name])
                if target.get("IsDeleted"):
                    return _record_error("ENTITY_IS_DELETED", "entity is deleted", [name])
                if target.get("IsConverted"):  # the code is the emulator's reading (fact sheet silent)
                    return _record_error("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead", [name])
        return None

    def _apply_task(self, row: dict[str, Any], values: dict[str, Any], creating: bool) -> None:
        was_closed = bool(row.get("IsClosed"))
        old_status = row.get("Status")
        for name, value in values.items():
            if name == "ReminderDateTime" and value:
                value = fmt_time(parse_datetime(str(value)).timestamp())
            row[name] = value
        closed = row.get("Status") in self._closed_statuses()
        row["IsClosed"] = closed
        if closed and (not was_closed or creating):
            row["CompletedDateTime"] = self.now()
        elif not closed:
            row["CompletedDateTime"] = None
        elif old_status != row.get("Status") and not was_closed:
            row["CompletedDateTime"] = self.now()
        row["IsHighPriority"] = row.get("Priority") == "High"

    def _lock_fault(self) -> dict[str, Any] | None:
        if self.lock_records > 0:
            self.lock_records -= 1
            return _record_error("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record or 1 records")
        return None

    def _finish(self, results: list[dict[str, Any] | None], ops: list[Any], all_or_none: bool) -> list[dict[str, Any]]:
        """Apply the planned writes (all, or none when allOrNone and something failed)."""
        failed = any(r is not None for r in results)
        out = []
        for planned, op in zip(results, ops, strict=True):
            if planned is not None:
                out.append({"id": None, **planned})
            elif failed and all_or_none:
                out.append({"id": None, "success": False, "errors": [{
                    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK", "fields": [],
                    "message": "Record rolled back because not all records were valid and the request was using "
                               "AllOrNone header"}]})
            else:
                out.append(op())
        return out

    def _upsert(self, sobject: str, ext_field: str, records: list[dict[str, Any]], all_or_none: bool) -> list[Any]:
        if sobject not in self.records:
            raise SFError(404, "NOT_FOUND", "The requested resource does not exist")
        meta = self._field(sobject, ext_field)
        if meta is None or not meta["externalId"]:
            raise SFError(404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {ext_field}")
        ext_field = meta["name"]
        seen: dict[str, int] = {}
        for rec in records:
            key = str(rec.get(ext_field) or "").lower()
            seen[key] = seen.get(key, 0) + 1
        index: dict[str, list[dict[str, Any]]] = {}
        for row in self.records[sobject].values():
            if not row["IsDeleted"] and row.get(ext_field):
                index.setdefault(str(row[ext_field]).lower(), []).append(row)
        results: list[dict[str, Any] | None] = []
        ops: list[Any] = []
        for rec in records:
            values = {k: v for k, v in rec.items() if k != "attributes"}
            value = str(values.get(ext_field) or "")
            matches = index.get(value.lower(), [])
            error = None
            if (rec.get("attributes") or {}).get("type") not in (None, sobject):
                error = _record_error("INVALID_TYPE", "one type per upsert request")
            elif not value:
                error = _record_error("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{ext_field}]", [ext_field])
            elif seen[value.lower()] > 1:
                error = _record_error("DUPLICATE_VALUE", f"Duplicate external id specified: {value}", [ext_field])
            elif len(matches) > 1:
                error = _record_error("DUPLICATE_EXTERNAL_ID", f"{meta['label']}: more than one record found for "
                                      f"external id field: [{', '.join(m['Id'] for m in matches)}]", [ext_field])
            else:
                error = self._check_values(sobject, values, creating=not matches) or self._lock_fault()
            results.append(error)
            ops.append(lambda v=values, m=matches: self._upsert_one(sobject, v, m[0] if m else None))
        return self._finish(results, ops, all_or_none)

    def _upsert_one(self, sobject: str, values: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
        if existing is None:
            row = self._insert(sobject, {})
            if sobject == "Task":
                self._apply_task(row, values, creating=True)
            else:
                row.update(values)
            return {"id": row["Id"], "success": True, "errors": [], "created": True}
        if sobject == "Task":
            self._apply_task(existing, values, creating=False)
        else:
            existing.update(values)
        self._touch(existing)
        return {"id": existing["Id"], "success": True, "errors": [], "created": False}

    def _write_many(self, records: list[dict[str, Any]], all_or_none: bool, update: bool) -> list[Any]:
        results: list[dict[str, Any] | None] = []
        ops: list[Any] = []
        for rec in records:
            sobject = (rec.get("attributes") or {}).get("type", "")
            values = {k: v for k, v in rec.items() if k not in ("attributes", "id", "Id")}
            rid = rec.get("id") or rec.get("Id") or ""
            error = None
            if sobject not in self.records:
                error = _record_error("INVALID_TYPE", f"sObject type '{sobject}' is not supported")
            elif update:
                row = self.records[sobject].get(rid)
                if not _ID.match(str(rid)):
                    error = _record_error("MALFORMED_ID", f"malformed id {rid}", ["Id"])
                elif row is None or row["IsDeleted"]:
                    error = _record_error("ENTITY_IS_DELETED", "entity is deleted", ["Id"])
            elif rid:
                error = _record_error("INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
            if error is None:
                error = self._check_values(sobject, values, creating=not update) or (update and self._lock_fault()) or None
            results.append(error)
            ops.append(lambda s=sobject, v=values, i=rid: self._write_one(s, v, i, update))
        return self._finish(results, ops, all_or_none)

    def _write_one(self, sobject: str, values: dict[str, Any], rid: str, update: bool) -> dict[str, Any]:
        if update:
            row = self.records[sobject][rid]
        else:
            row = self._insert(sobject, {})
        if sobject == "Task":
            self._apply_task(row, values, creating=not update)
        else:
            row.update(values)
        self._touch(row)
        return {"id": row["Id"], "success": True, "errors": []}

    # ------------------------------------------------------------------- server
    def start(self) -> SalesforceEmulator:
        from .server import TLSServer
        from .tls import make_certificate

        if self._server is None:
            if self._cert is None:
                self._cert = make_certificate((self.host, "localhost") if self.host != "localhost" else ("localhost",))
            self._server = TLSServer(self, self._cert.server_context(), self.host, self.port)
            self._server.start()
            self.port = self._server.port
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    @property
    def ca_file(self) -> str:
        if self._cert is None:
            raise RuntimeError("the emulator is not running; call start()")
        return str(self._cert.ca_file)

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator is not running; call start()")
        return f"https://{self.host}:{self.port}"

    def requests_session(self) -> Any:
        """A `requests.Session` that trusts this emulator's test CA (and nothing else)."""
        import requests

        session = requests.Session()
        session.verify = self.ca_file
        session.trust_env = False  # REQUESTS_CA_BUNDLE would override `verify` (fact sheet §1.4)
        return session

    def env(self) -> dict[str, str]:
        """Environment for the connector in session-id mode against this emulator."""
        return {"SALESFORCE_SESSION_ID": self.session_id, "SALESFORCE_INSTANCE_URL": self.base_url,
                "SALESFORCE_CA_BUNDLE": self.ca_file}

    def __enter__(self) -> SalesforceEmulator:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def iter_ids(rows: Iterable[dict[str, Any]]) -> list[str]:
    return [r["Id"] for r in rows]
