"""``emulator_hubspot``: run the emulator until Ctrl-C or SIGTERM.

The first line printed is the base URL.  Mounted by the main CLI as
``cadence emulator hubspot``; also ``python -m connector.crm.hubspot.emulator``.
"""

from __future__ import annotations

import signal
import sys
import threading

import click

from .app import HubSpotEmulator


@click.command("hubspot")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8765, show_default=True, type=int, help="Port; 0 picks a free one.")
@click.option("--contacts", "contacts", default=0, show_default=True, type=int, help="Synthetic contacts to seed.")
@click.option("--owners", default=5, show_default=True, type=int, help="Owners to seed.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed for the synthetic data.")
@click.option("--token", default="emulator-token", show_default=True,
              help="Bearer token the emulator accepts (never printed).")
@click.option("--rate-limit", "rate_limit", default="free", show_default=True,
              type=click.Choice(["free", "starter", "pro", "enterprise", "off"]), help="HubSpot tier to enforce.")
@click.option("--search-lag", "search_lag", default=0.0, show_default=True, type=float,
              help="Seconds before a write shows up in search.")
@click.option("--portal-id", "portal_id", default=24_681_357, show_default=True, type=int,
              help="The portal id it answers on GET /account-info/v3/details (the account crm-cadence syncs).")
def emulator_hubspot(host, port, contacts, owners, seed, token, rate_limit, search_lag, portal_id):
    """Run a local HubSpot CRM API emulator."""
    emu = HubSpotEmulator(token=token, rate_limit=rate_limit, host=host, port=port, hub_id=portal_id)
    emu.faults.search_lag_seconds = search_lag
    if owners:
        emu.seed_owners(owners, seed=seed)
    if contacts:
        emu.seed_contacts(contacts, seed=seed)
    stop = threading.Event()

    def _stop(signum, frame):
        stop.set()

    # handlers go in before the URL is printed: a caller may signal as soon as it reads it
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        emu.start()
        click.echo(emu.base_url)
        sys.stdout.flush()
        click.echo(f"seeded {contacts} contacts, {owners} owners; rate limit {rate_limit}; Ctrl-C to stop", err=True)
        while not stop.wait(0.2):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        emu.stop()
    sys.exit(0)


main = emulator_hubspot
