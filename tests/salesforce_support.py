"""Moved to tests/support/salesforce.py: import `support.salesforce`. Kept while branches written before the move land."""

from support.salesforce import *  # noqa: F403
