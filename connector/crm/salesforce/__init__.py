"""Salesforce: Contacts in, follow-up Tasks out, on `simple-salesforce` (see README, "Salesforce").

`SalesforceCRM` is imported on first use: the CLI mounts the emulator's command from this
package, and must not pay for simple-salesforce's import at every start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .adapter import SalesforceCRM

__all__ = ["SalesforceCRM"]


def __getattr__(name: str) -> Any:
    if name == "SalesforceCRM":
        from .adapter import SalesforceCRM

        return SalesforceCRM
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
