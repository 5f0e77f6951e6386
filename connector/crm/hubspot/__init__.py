"""HubSpot: the adapter (and, in `emulator/`, a faithful stand-in for tests and demos)."""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    # imported lazily so the emulator can be used without loading the client library
    if name == "HubSpotCRM":
        from .adapter import HubSpotCRM

        return HubSpotCRM
    raise AttributeError(name)


__all__ = ["HubSpotCRM"]
