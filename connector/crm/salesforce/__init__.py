"""Salesforce: Contacts in, follow-up Tasks out, on `simple-salesforce` (see README, "Salesforce")."""

from .adapter import SalesforceCRM

__all__ = ["SalesforceCRM"]
