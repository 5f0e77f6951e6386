"""The CRM conformance suite now ships in the package: `connector.crm.testing` (so a plugin in
another distribution can import it). This module re-exports it for the tests here."""

from connector.crm.testing import SEED_CONTACTS, SEED_OWNERS, CRMConformance, RecruiterDriver, make_task

__all__ = ["SEED_CONTACTS", "SEED_OWNERS", "CRMConformance", "RecruiterDriver", "make_task"]
