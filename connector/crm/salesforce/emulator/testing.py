"""pytest fixture: `salesforce_emulator` (function scope) yields a started
:class:`SalesforceEmulator` on a free port, serving TLS with a fresh test CA.

Use it from a conftest with `from connector.crm.salesforce.emulator.testing import salesforce_emulator`.
"""

from __future__ import annotations

import pytest

from .app import SalesforceEmulator


@pytest.fixture
def salesforce_emulator():
    emu = SalesforceEmulator()
    emu.start()
    try:
        yield emu
    finally:
        emu.stop()
