"""The `cadence` command."""

from __future__ import annotations

import gc
import importlib

import click

from connector import __version__
from connector.clikit import GC_THRESHOLD, CommandGroup

# (module, attribute, name): commands live beside the concern they drive.
_COMMANDS = [
    ("connector.commands.config", "check_command", "check"),
    ("connector.commands.config", "schema_command", "schema"),
    ("connector.commands.preview", "preview_command", "preview"),
    ("connector.commands.sync", "plan_command", "plan"),
    ("connector.commands.sync", "sync_command", "sync"),
    ("connector.commands.sync", "serve_command", "serve"),
    ("connector.commands.sync", "status_command", "status"),
    ("connector.commands.views", "agenda_command", "agenda"),
    ("connector.commands.views", "report_command", "report"),
    ("connector.commands.hubspot", "setup_group", "setup"),
    ("connector.commands.salesforce", "demo_group", "demo"),
    ("connector.commands.hubspot", "emulator_group", "emulator"),
    ("connector.fleet.commands", "worker_command", "worker"),
    ("connector.fleet.commands", "fleet_group", "fleet"),
]


@click.group(
    cls=CommandGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="Exit codes (every command): 0 success (also a sync stopped by SIGTERM/Ctrl-C after recording its "
           "work), 1 the run failed (CRM unreachable or refusing, lock held, state file unusable), 2 bad input "
           "(config, flags, missing token, a CRM file that cannot be read) or a mass change held for confirmation.",
)
@click.version_option(__version__, prog_name="cadence")
def main() -> None:
    """Persistent, not a pest: follow-up cadences for recruiters, synced into the CRM as tasks.

    \b
    Start here:
      cadence sync examples/recruiting.yaml         one sync with the local CRM (no account)
      cadence check examples/recruiting.yaml        validate a cadence config
      cadence preview examples/recruiting.yaml      the touches a silent contact would get
      cadence demo                                  the HubSpot path, against a local emulator
      cadence demo salesforce                       the Salesforce path, against a local emulator
    """
    gc.set_threshold(*GC_THRESHOLD)


for _module, _attr, _name in _COMMANDS:
    main.add_command(getattr(importlib.import_module(_module), _attr), _name)

if __name__ == "__main__":
    main()
