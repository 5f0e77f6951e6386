"""A stateful Salesforce REST API emulator (stdlib HTTPS server) for tests and demos.

    from connector.crm.salesforce.emulator import SalesforceEmulator
    with SalesforceEmulator() as emu:
        emu.seed_contacts(1000, seed=7)
        sf = Salesforce(instance_url=emu.base_url, session_id=emu.session_id, session=emu.requests_session())

See docs/emulator.md.
"""

from .app import SalesforceEmulator, case_safe

__all__ = ["SalesforceEmulator", "case_safe"]
