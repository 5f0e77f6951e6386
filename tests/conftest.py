"""Shared fixtures: the HubSpot emulator (real HTTP, real client library).

Helper modules (crm_conformance, hubspot_support, secret_scan) sit beside this file; the
pytest settings in pyproject.toml put this folder on the path and load secret_scan.
"""

from __future__ import annotations

from connector.crm.hubspot.emulator.testing import hubspot_emulator  # noqa: F401  (registers the fixture)
