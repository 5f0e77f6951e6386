"""The embedded default CRM: contacts from a CSV file, tasks to a CSV file a recruiter edits."""

from .crm import LocalCRM

__all__ = ["LocalCRM"]
