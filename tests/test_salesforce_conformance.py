"""The Salesforce adapter passes the shared CRM conformance suite, against the emulator (real
simple-salesforce over HTTPS, signing in by client credentials)."""

from __future__ import annotations

from typing import Any

import pytest
from support.conformance import SEED_CONTACTS, SEED_OWNERS, CRMConformance
from support.salesforce import CUSTOM_FIELDS, SalesforceRecruiter, make_crm, prepare, to_fields


class TestSalesforceConformance(CRMConformance):
    @pytest.fixture(autouse=True)
    def _emulator(self, salesforce_emulator: Any) -> None:
        self.emu = salesforce_emulator
        prepare(self.emu)
        self.owner_ids = {o["id"]: self.emu.add_user(o["first_name"], o["last_name"], o["email"], o["timezone"])
                          for o in SEED_OWNERS}
        self.ids = {}
        for c in SEED_CONTACTS:
            values = to_fields(c) | {"OwnerId": self.owner_ids[c["owner_id"]]}
            self.ids[c["id"]] = self.emu.create_contact(**values)

    def make_crm(self, tmp_path: Any) -> Any:
        if "Tier__c" not in self.emu.schema["Contact"]:
            self.emu.add_field("Contact", "Tier__c")
        return make_crm(self.emu)

    def custom_property(self) -> str:
        return "Tier__c"

    def inject_write_fault(self, kind: str) -> bool:
        if kind == "lost":  # applied, answer lost: the adapter sends the upsert again (an update by key)
            self.emu.faults.fail_next(1, "drop", path_glob="PATCH /composite/*")
        else:  # the whole request refused as locked: retried with backoff
            self.emu.lock_requests = 1
        return True

    def make_crm_with_bad_record(self, tmp_path: Any) -> Any:
        self.emu.create_contact(FirstName="Bad", Phone="call me maybe", MailingCountry="Atlantis")
        return make_crm(self.emu)

    def make_recruiter(self, crm: Any, tmp_path: Any) -> SalesforceRecruiter:
        return SalesforceRecruiter(self.emu, self.ids)

    def contact_ids(self) -> list[str]:
        return [self.ids[c["id"]] for c in SEED_CONTACTS]


class _LeadRecruiter(SalesforceRecruiter):
    def update_contact(self, contact_id: str, **changes: str) -> None:
        cid = self.ids.get(contact_id, contact_id)
        fields = to_fields(changes)
        if cid.startswith("00Q") and "MailingCountry" in fields:
            fields["Country"] = fields.pop("MailingCountry")
        self.emu.update_contact(cid, **fields)


class TestSalesforceLeadsConformance(TestSalesforceConformance):
    """The same suite with `objects: [Contact, Lead]` and two of the three seeded people Leads: a Lead is a
    contact like any other to the sync (reads, custom properties, tasks through WhoId, the sweep)."""

    @pytest.fixture(autouse=True)
    def _emulator(self, salesforce_emulator: Any) -> None:
        self.emu = salesforce_emulator
        prepare(self.emu)
        for name in (*CUSTOM_FIELDS.values(), "Tier__c"):
            self.emu.add_field("Lead", name)
        self.owner_ids = {o["id"]: self.emu.add_user(o["first_name"], o["last_name"], o["email"], o["timezone"])
                          for o in SEED_OWNERS}
        self.ids = {}
        for n, c in enumerate(SEED_CONTACTS):
            values = to_fields(c) | {"OwnerId": self.owner_ids[c["owner_id"]]}
            if n == 0:
                self.ids[c["id"]] = self.emu.create_contact(**values)
            else:
                values["Country"] = values.pop("MailingCountry")
                self.ids[c["id"]] = self.emu.create_lead(**values)

    def make_crm(self, tmp_path: Any) -> Any:
        if "Tier__c" not in self.emu.schema["Contact"]:
            self.emu.add_field("Contact", "Tier__c")
        return make_crm(self.emu, objects=["Contact", "Lead"], lead_fields=dict(CUSTOM_FIELDS))

    def make_crm_with_bad_record(self, tmp_path: Any) -> Any:
        self.emu.create_lead(FirstName="Bad", Phone="call me maybe", Country="Atlantis")
        return self.make_crm(tmp_path)

    def make_recruiter(self, crm: Any, tmp_path: Any) -> SalesforceRecruiter:
        return _LeadRecruiter(self.emu, self.ids)
