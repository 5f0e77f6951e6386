"""Shared fixtures: the HubSpot emulator (real HTTP, real client library) and its helpers."""

from __future__ import annotations

import sys
from pathlib import Path

from connector.crm.hubspot.emulator.testing import hubspot_emulator  # noqa: F401  (registers the fixture)

sys.path.insert(0, str(Path(__file__).parent))  # test helper modules (crm_conformance, hubspot_support)
