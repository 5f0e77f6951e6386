"""The HubSpot adapter passes the shared CRM conformance suite, against the emulator."""

from __future__ import annotations

from typing import Any

import pytest
from support.conformance import SEED_CONTACTS, SEED_OWNERS, CRMConformance
from support.hubspot import HubSpotRecruiter, make_crm, to_properties

from connector.crm.hubspot.emulator import iana_to_hubspot_tz


class TestHubSpotConformance(CRMConformance):
    @pytest.fixture(autouse=True)
    def _emulator(self, hubspot_emulator: Any) -> None:
        self.emu = hubspot_emulator
        owners = self.emu.seed_owners(len(SEED_OWNERS), seed=1)
        self.owner_ids = {o["id"]: owners[i]["id"] for i, o in enumerate(SEED_OWNERS)}
        self.ids = {}
        for c in SEED_CONTACTS:
            props = to_properties(c) | {"hubspot_owner_id": self.owner_ids[c["owner_id"]]}
            props["hs_timezone"] = iana_to_hubspot_tz(c["timezone"])
            self.ids[c["id"]] = self.emu.create_contact(props)

    def make_crm(self, tmp_path: Any) -> Any:
        crm = make_crm(self.emu)
        from support.hubspot import create_property

        create_property(self.emu, "contacts", "candidate_tier", "Candidate tier", group="contactinformation")
        return crm

    def custom_property(self) -> str:
        return "candidate_tier"

    def inject_write_fault(self, kind: str) -> bool:
        self.emu.faults.fail_next(1, "drop" if kind == "lost" else 503, path_glob="*/tasks/batch/create")
        return True

    def make_crm_with_bad_record(self, tmp_path: Any) -> Any:
        self.emu.create_contact({"firstname": "Bad", "phone": "call me maybe",
                                 "country": "Atlantis"})
        return make_crm(self.emu)

    def make_recruiter(self, crm: Any, tmp_path: Any) -> HubSpotRecruiter:
        return HubSpotRecruiter(self.emu, self.ids)

    def contact_ids(self) -> list[str]:
        return [self.ids[c["id"]] for c in SEED_CONTACTS]
