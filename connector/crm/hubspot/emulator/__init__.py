"""A stateful HubSpot CRM API emulator (stdlib HTTP server) for tests and demos.

    from connector.crm.hubspot.emulator import HubSpotEmulator
    with HubSpotEmulator() as emu:
        emu.seed_contacts(1000, seed=7)
        client = hubspot.HubSpot(access_token=emu.token, host=emu.base_url, base_url=emu.base_url)

See docs/emulator.md.
"""

from .app import HubSpotEmulator
from .clock import FakeClock, SystemClock
from .properties import hubspot_tz_to_iana, iana_to_hubspot_tz
from .requestlog import LogEntry

__all__ = ["FakeClock", "HubSpotEmulator", "LogEntry", "SystemClock", "hubspot_tz_to_iana", "iana_to_hubspot_tz"]
