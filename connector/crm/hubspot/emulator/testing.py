"""pytest fixture: ``hubspot_emulator`` (function scope) yields a started
:class:`HubSpotEmulator` on a free port (rate limits off, real clock).

Use it from a conftest with ``from connector.crm.hubspot.emulator.testing import hubspot_emulator``.
"""

from __future__ import annotations

import pytest

from .app import HubSpotEmulator


@pytest.fixture
def hubspot_emulator():
    emu = HubSpotEmulator()
    emu.start()
    try:
        yield emu
    finally:
        emu.stop()
