"""Shared fixtures: the HubSpot emulator (real HTTP, real client library).

Shared test helpers live in tests/support/ (imported as `support.<module>`): the pytest
settings in pyproject.toml put this folder on the path and load support.secret_scan.

Hypothesis explores new examples on every developer run; under CI (CI=true) it replays a
fixed set (`derandomize`), so a landing never depends on luck. New failures found on a
developer machine are pinned as regular tests.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings
from support.pg import pg_database, pg_url  # noqa: F401  (registers the fixtures)

from connector.crm import registry
from connector.crm.hubspot.emulator.testing import hubspot_emulator  # noqa: F401  (registers the fixture)
from connector.crm.salesforce.emulator.testing import salesforce_emulator  # noqa: F401  (registers the fixture)

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(autouse=True, scope="session")
def _own_crm_plugins_only():
    """A CRM plugin installed on this machine never leaks into a test: only the package's own
    CRMs and those a test registers exist (as sqlite-utils does with its plugins)."""
    with registry.own_plugins_only():
        yield
