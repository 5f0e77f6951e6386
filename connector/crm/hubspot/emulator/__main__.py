"""``python -m connector.crm.hubspot.emulator``: run the emulator from the command line."""

from .cli import emulator_hubspot

if __name__ == "__main__":
    emulator_hubspot(prog_name="python -m connector.crm.hubspot.emulator")
