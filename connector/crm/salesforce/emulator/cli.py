"""`cadence emulator salesforce`: run the emulator until Ctrl-C or SIGTERM.

The first line printed is the instance URL (https://); the second the CA file the client
must trust. The environment lines to paste follow on stderr.
"""

from __future__ import annotations

import signal
import sys
import threading

import click

from .app import SalesforceEmulator


@click.command("salesforce")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8766, show_default=True, type=int, help="Port; 0 picks a free one.")
@click.option("--contacts", default=0, show_default=True, type=int, help="Synthetic contacts to seed.")
@click.option("--leads", default=0, show_default=True, type=int, help="Synthetic Leads to seed.")
@click.option("--users", default=5, show_default=True, type=int, help="Users (task owners) to seed.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed for the synthetic data.")
@click.option("--api-max", "api_max", default=15_000, show_default=True, type=int,
              help="Daily API allocation (Developer Edition: 15,000).")
@click.option("--page-size", "page_size", default=2000, show_default=True, type=int, help="Query page size.")
def emulator_salesforce(host, port, contacts, leads, users, seed, api_max, page_size):
    """Run a local Salesforce REST API emulator (HTTPS with a throwaway test CA)."""
    emu = SalesforceEmulator(host=host, port=port, api_max=api_max, page_size=page_size)
    if users:
        emu.seed_users(users, seed=seed)
    if contacts:
        emu.seed_contacts(contacts, seed=seed)
    if leads:
        emu.seed_leads(leads, seed=seed)
    stop = threading.Event()

    def _stop(signum, frame):
        stop.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        emu.start()
        click.echo(emu.base_url)
        click.echo(emu.ca_file)
        sys.stdout.flush()
        click.echo(f"seeded {contacts} contacts, {leads} leads, {users} users; daily API allocation {api_max}; Ctrl-C to stop\n"
                   "for crm: {type: salesforce, auth: session}, export:\n"
                   f"  SALESFORCE_INSTANCE_URL={emu.base_url}\n  SALESFORCE_CA_BUNDLE={emu.ca_file}\n"
                   "  SALESFORCE_SESSION_ID=<the emulator's session id, see docs/emulator.md>", err=True)
        while not stop.wait(0.2):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        emu.stop()
    sys.exit(0)


main = emulator_salesforce
