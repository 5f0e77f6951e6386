"""The local (CSV) CRM passes the shared CRM conformance suite (its helpers: tests/support/local.py)."""

from __future__ import annotations

from typing import Any

from support.conformance import SEED_CONTACTS, CRMConformance
from support.local import LocalRecruiter, seed_local

from connector.crm.local import LocalCRM


class TestLocalCRMConformance(CRMConformance):
    def make_crm(self, tmp_path: Any) -> LocalCRM:
        return LocalCRM({"contacts": "contacts.csv", "tasks": "tasks.csv", "max_batch": 50}, base_dir=seed_local(tmp_path))

    def make_recruiter(self, crm: Any, tmp_path: Any) -> LocalRecruiter:
        return LocalRecruiter(tmp_path)

    def custom_property(self) -> str:
        return "tier"

    def make_crm_with_bad_record(self, tmp_path: Any) -> LocalCRM:
        rows = SEED_CONTACTS + [{"id": "c9", "first_name": "Bad", "timezone": "Mars/Olympus_Mons", "email": "not-an-email"}]
        return LocalCRM({}, base_dir=seed_local(tmp_path, rows))
