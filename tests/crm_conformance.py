"""Moved to tests/support/conformance.py: import `support.conformance`. Kept while branches written before the move land."""

from support.conformance import *  # noqa: F403
