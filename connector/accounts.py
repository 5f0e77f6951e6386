"""Which account a state belongs to: found from the CRM's identity, kept in the state, and a
state of another account refused rather than adopted.

Every account in a state carries an identity row (the `cached` table, name `identity`): the
CRM's own id for it (HubSpot: `hubspot:<portalId>`), and one `alias <id>` row per id a
config spelled it with (HubSpot before portal ids: `hubspot:<host>`). A sync resolves its
account in this order:

1. the account whose identity is this CRM's (any URL spelling of the same portal lands here);
2. the identity itself, when the state already holds it;
3. an alias with data and no other identity: a state created before identities were kept
   keeps its account string, so its task keys do not change (no duplicate after an upgrade);
4. otherwise, in a state file (SQLite, one account per file by design), data of any other
   account is a foreign state: refused with exit 2, saying whose it is. A PostgreSQL state is
   shared by many accounts (a fleet): a new identity there is a new account.

`cadence status` has no token and makes no request: `known_account` finds the account from
the config's spelling (an alias row), or the file's only account.

An `account:` set in the config pins the account string: none of this applies.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from .crm.base import ConfigError, CRMError
from .store import ts
from .store_factory import StateLocation

IDENTITY = "identity"
ALIAS = "alias "


class ForeignStateError(ConfigError):
    """The state belongs to another CRM account (exit 2: a person must point `state:` elsewhere)."""


class _Db:
    """A small read/write handle on the state's tables, whichever the backend."""

    def __init__(self, where: StateLocation):
        self.where = where
        self.kind = where.kind
        self.conn: Any = None
        if where.kind == "sqlite":
            assert where.path is not None
            from .statefile import check_state_file

            check_state_file(where.path)  # an empty, foreign or cut-short file: BadStateFile, exit 2
            if not where.path.exists() or where.path.stat().st_size == 0:
                return
            self.conn = sqlite3.connect(str(where.path), timeout=10.0, isolation_level=None)
        else:
            from .store_pg import connect

            self.conn = connect(where.url)

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        if self.conn is None:
            return []
        if self.kind != "sqlite":
            sql = sql.replace("?", "%s")
        try:
            cursor = self.conn.execute(sql, params)
        except Exception as exc:  # a state not created yet (or a very old file): no such table
            if isinstance(exc, sqlite3.OperationalError) or type(exc).__name__ == "UndefinedTable":
                return []
            raise
        return [tuple(r.values()) if isinstance(r, dict) else tuple(r) for r in cursor.fetchall()]

    def execute(self, sql: str, *params: Any) -> None:
        if self.conn is None:
            return
        if self.kind != "sqlite":
            sql = sql.replace("?", "%s")
        self.conn.execute(sql, params)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def _identity_of(db: _Db, account: str) -> str | None:
    rows = db.rows("SELECT data FROM cached WHERE account = ? AND name = ?", account, IDENTITY)
    return str(json.loads(rows[0][0]).get("identity", "")) if rows else None


def _has_data(db: _Db, account: str) -> bool:
    return bool(db.rows("SELECT 1 FROM runs WHERE account = ? LIMIT 1", account)
                or db.rows("SELECT 1 FROM tasks WHERE account = ? LIMIT 1", account)
                or db.rows("SELECT 1 FROM enrollments WHERE account = ? LIMIT 1", account))


def _accounts(db: _Db) -> list[str]:
    """Every account with data in a state file (SQLite only: a shared database is not scanned)."""
    names = {r[0] for r in db.rows("SELECT DISTINCT account FROM runs")}
    names |= {r[0] for r in db.rows("SELECT DISTINCT account FROM tasks")}
    return sorted(names)


def resolve(where: StateLocation, identity: str, aliases: Sequence[str] = ()) -> str:
    """The account string a sync of the CRM `identity` uses in this state (see the module's doc).
    Raises ForeignStateError for a state file that belongs to another account."""
    db = _Db(where)
    try:
        if db.conn is None:
            return identity
        bound = db.rows("SELECT account FROM cached WHERE name = ? AND data = ? ORDER BY account", IDENTITY,
                        _identity_json(identity))
        if bound:
            return str(bound[0][0])
        if _has_data(db, identity) and _identity_of(db, identity) in (None, identity):
            return identity
        for alias in aliases:
            if alias and _has_data(db, alias) and _identity_of(db, alias) is None:
                return alias  # a state from before identities were kept: it keeps its account string
        if db.kind == "sqlite":
            others = [a for a in _accounts(db) if a != identity]
            if others:
                raise ForeignStateError(_foreign_message(where, identity, aliases, others, db))
        return identity
    finally:
        db.close()


def _foreign_message(where: StateLocation, identity: str, aliases: Sequence[str], others: list[str], db: _Db) -> str:
    whose = ", ".join(f"{a!r}" + (f" (CRM account {i!r})" if (i := _identity_of(db, a)) and i != a else "")
                      for a in others[:3])
    legacy = [a for a in others if _identity_of(db, a) is None and a.split(":")[0] == identity.split(":")[0]]
    hint = ""
    if legacy:
        hint = (f" If {legacy[0]!r} is this same account under another spelling of its address, run once with "
                f"the address it was created with, so the state records the account's id.")
    return (f"state {where.describe()}: this state belongs to account {whose}, not to this config's CRM account "
            f"{identity!r}{' (' + ', '.join(repr(a) for a in aliases) + ')' if aliases else ''}: it was not used. "
            f"Point `state:` at this account's own file (or move this one away: a sync with no state rebuilds "
            f"it from the CRM).{hint}")


def _identity_json(identity: str) -> str:
    return json.dumps({"identity": identity}, sort_keys=True)


def remember(where: StateLocation, account: str, identity: str, aliases: Sequence[str] = ()) -> None:
    """Keep the account's identity and the spellings it was reached by (a sync, after taking the lock)."""
    db = _Db(where)
    try:
        now = ts(datetime.now(timezone.utc))
        upsert = ("INSERT INTO cached (account, name, data, updated_at) VALUES (?, ?, ?, ?) "
                  "ON CONFLICT (account, name) DO UPDATE SET data = excluded.data")
        if _identity_of(db, account) != identity:
            db.execute(upsert, account, IDENTITY, _identity_json(identity), now)
        for alias in aliases:
            if alias and alias != account:
                db.execute(upsert, account, ALIAS + alias, "{}", now)
    finally:
        db.close()


def known_account(where: StateLocation, alias: str) -> str:
    """The account a config reaches, without a token or a request (`cadence status`): the
    alias itself when the state holds it, the account that was reached by that spelling, or a
    state file's only account; else the alias (an empty state)."""
    db = _Db(where)
    try:
        if db.conn is None or _has_data(db, alias):
            return alias
        by_alias = db.rows("SELECT account FROM cached WHERE name = ? ORDER BY account", ALIAS + alias)
        if by_alias:
            return str(by_alias[0][0])
        by_identity = db.rows("SELECT account FROM cached WHERE name = ? AND data = ?", IDENTITY, _identity_json(alias))
        if by_identity:
            return str(by_identity[0][0])
        if db.kind == "sqlite":
            accounts = _accounts(db)
            if len(accounts) == 1 and accounts[0].split(":")[0] == alias.split(":")[0]:
                return accounts[0]
        return alias
    finally:
        db.close()


def for_run(configured: str | None, crm: Any, where: StateLocation) -> tuple[str, Any]:
    """(account, keep): the account a run uses, and a function the run calls once it holds the
    lock, to keep the account's identity in the state. `configured`: the config's `account:`."""
    from .crm.base import HasAccountAliases

    if configured:
        return configured, lambda: None
    spelled = crm.account_aliases() if isinstance(crm, HasAccountAliases) else []
    try:
        identity = crm.account_id()
    except CRMError:
        if not spelled:
            raise
        # the CRM cannot say who it is (401, unreachable): the account the state knows this spelling
        # by; the run then fails on its first call, and that failure is recorded in the state
        return known_account(where, spelled[0]), lambda: None
    aliases = [a for a in spelled if a != identity]
    account = resolve(where, identity, aliases)
    return account, lambda: remember(where, account, identity, aliases)
