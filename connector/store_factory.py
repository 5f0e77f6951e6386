"""Open the state a config names: `state:` is a path (SQLite, the embedded default), a
`postgresql://` URL, or `{env: VAR}` naming an environment variable that holds either.

Callers (the sync, `status`, `plan`, the views, the service, the fleet) get a `Store` and
never a concrete class. A PostgreSQL URL is never printed with its password
(`StateLocation.describe`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .crm.base import ConfigError
from .store import Store

STATE_FILE = "cadence-state.sqlite"
PG_SCHEMES = ("postgresql://", "postgres://")


@dataclass(frozen=True)
class StateLocation:
    """Where one config's state lives. `url` may hold a password: show `describe()` instead."""

    kind: str  # "sqlite" or "postgresql"
    path: Path | None = None
    url: str = ""

    def describe(self) -> str:
        if self.kind == "sqlite":
            return str(self.path)
        from .store_pg import safe_url

        return safe_url(self.url)


def location_of(value: str, directory: Path | str = ".") -> StateLocation:
    """A `state:` value (already taken out of the environment) as a location."""
    if value.startswith(PG_SCHEMES):
        return StateLocation("postgresql", url=value)
    path = Path(value)
    return StateLocation("sqlite", path=path if path.is_absolute() else Path(directory) / path)


def state_location(loaded: Any, env: Mapping[str, str] | None = None) -> StateLocation:
    """Where a loaded config's state is (`.config.state`, relative to `.directory`)."""
    env = os.environ if env is None else env
    directory = Path(loaded.directory)
    named = loaded.config.state
    if named is None or named == "":
        return StateLocation("sqlite", path=directory / STATE_FILE)
    if not isinstance(named, str):  # {env: VAR}
        value = env.get(named.env, "").strip()
        if not value:
            raise ConfigError(f"state: the environment variable {named.env} is not set (it should hold the state's "
                              "path or postgresql:// URL)")
        return location_of(value, directory)
    return location_of(named, directory)


def open_store(where: StateLocation, account: str, *, read_only: bool = False, exclusive: bool = False) -> Store:
    """Open the state for one account.

    `read_only`: every write is discarded (SQLite: a private in-memory copy; PostgreSQL: one
    transaction rolled back at close), for `plan` and `status`. `exclusive`: the account's run
    lock is taken before anything else (LockHeld at once if another run holds it) and held
    until close(), as a sync does."""
    if where.kind == "postgresql":
        from .store_pg import PostgresStore

        return PostgresStore.connect(where.url, account, read_only=read_only, exclusive=exclusive)
    from .store_sqlite import SQLiteStore

    assert where.path is not None
    if read_only:
        return SQLiteStore.snapshot(where.path, account)
    return SQLiteStore.open(where.path, account, exclusive=exclusive)
