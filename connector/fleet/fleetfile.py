"""The fleet file: the accounts a fleet of workers syncs, each a cadence config and its schedule,
and the shared PostgreSQL state.

```yaml
state: {env: CADENCE_STATE}        # or postgresql://user@host/db (a password belongs in the variable)
accounts:
  - name: acme                      # unique; the lock and the metrics are per name
    config: acme/cadence.yaml       # relative to this file
    every: 15m                      # or cron: "*/15 * * * *" (a 6th field counts seconds)
```

Problems are reported as FILE:LINE: field: what is wrong (exit 2), all of them at once.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from croniter import croniter

from ..store_factory import StateLocation, location_of


class FleetFileError(Exception):
    """The fleet file cannot be used: every problem, located."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class FleetAccount:
    name: str
    config: Path
    cron: str  # procrastinate's cron: 5 fields, or 6 with seconds last
    schedule: str  # as written: "every 15m" / "cron */15 * * * *"


@dataclass(frozen=True)
class Fleet:
    path: Path
    state: StateLocation
    accounts: tuple[FleetAccount, ...]

    def account(self, name: str) -> FleetAccount:
        for account in self.accounts:
            if account.name == name:
                return account
        raise KeyError(name)


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def every_to_cron(text: str) -> str:
    """An interval that divides a minute, an hour or a day, as a cron expression with seconds
    (so every worker, on every machine, agrees on the periods)."""
    value = str(text).strip().lower().replace(" ", "")
    parts = re.findall(r"(\d+)([smhd])", value)
    if value.isdigit():
        seconds = int(value)
    elif parts and "".join(n + u for n, u in parts) == value:
        seconds = sum(int(n) * _UNITS[u] for n, u in parts)
    else:
        raise ValueError(f"{text!r} is not an interval like 30s, 15m, 1h or 1d")
    if seconds <= 0:
        raise ValueError("the interval must be longer than 0s")
    if seconds < 60 and 60 % seconds == 0:
        return f"* * * * * */{seconds}"
    if seconds % 60 == 0 and seconds < 3600 and 3600 % seconds == 0:
        return f"*/{seconds // 60} * * * * 0"
    if seconds % 3600 == 0 and seconds < 86400 and 86400 % seconds == 0:
        return f"0 */{seconds // 3600} * * * 0"
    if seconds == 86400:
        return "0 0 * * * 0"
    raise ValueError(f"{text!r} does not divide a minute, an hour or a day evenly: write a `cron:` instead")


def load_fleet(path: Path, env: Mapping[str, str] | None = None) -> Fleet:
    """Read and check a fleet file; FleetFileError lists every problem with its line."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    env = os.environ if env is None else env
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise FleetFileError([f"{path}: cannot read the fleet file: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError:
        raise FleetFileError([f"{path}: not UTF-8 text"]) from None
    from ..yamlbounds import alias_bomb

    bomb = alias_bomb(text)
    if bomb is not None:
        raise FleetFileError([f"{path}:{bomb.line}:{bomb.col}: {bomb.message}"])
    try:
        data = YAML(typ="rt").load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise FleetFileError([f"{where}: not valid YAML: {getattr(exc, 'problem', None) or exc}"]) from None

    problems: list[str] = []

    def at(node: Any, key: Any = None) -> str:
        try:
            if key is not None:
                line = node.lc.key(key)[0] if isinstance(key, str) else node.lc.item(key)[0]
            else:
                line = node.lc.line
            return f"{path}:{line + 1}"
        except (AttributeError, KeyError, TypeError, IndexError):
            return str(path)

    if not isinstance(data, dict):
        raise FleetFileError([f"{path}:1: the fleet file must be a mapping with `state:` and `accounts:`"])
    for key in data:
        if key not in ("state", "accounts"):
            problems.append(f"{at(data, key)}: {key}: unknown field (known: state, accounts)")

    state: StateLocation | None = None
    raw_state = data.get("state")
    if raw_state is None:
        problems.append(f"{path}:1: state: missing (the shared postgresql:// URL, or {{env: VAR}})")
    else:
        value: str | None = None
        if isinstance(raw_state, dict) and set(raw_state) == {"env"} and isinstance(raw_state["env"], str):
            value = env.get(raw_state["env"], "").strip()
            if not value:
                problems.append(f"{at(data, 'state')}: state: the environment variable {raw_state['env']} is not set")
                value = None
        elif isinstance(raw_state, str):
            value = raw_state.strip()
        else:
            problems.append(f"{at(data, 'state')}: state: a postgresql:// URL or {{env: VAR}} was expected")
        if value is not None:
            state = location_of(value, path.parent)
            if state.kind != "postgresql":
                problems.append(f"{at(data, 'state')}: state: a fleet shares its state on PostgreSQL: a postgresql:// URL "
                                "was expected (workers on several machines cannot share a SQLite file)")

    accounts: list[FleetAccount] = []
    raw_accounts = data.get("accounts")
    if not isinstance(raw_accounts, list) or not raw_accounts:
        problems.append(f"{at(data, 'accounts') if 'accounts' in data else f'{path}:1'}: accounts: a list of at least one account was expected")
        raw_accounts = []
    seen: set[str] = set()
    for index, item in enumerate(raw_accounts):
        where = at(raw_accounts, index)
        if not isinstance(item, dict):
            problems.append(f"{where}: accounts[{index}]: a mapping with name, config and every or cron was expected")
            continue
        for key in item:
            if key not in ("name", "config", "every", "cron"):
                problems.append(f"{at(item, key)}: accounts[{index}].{key}: unknown field (known: name, config, every, cron)")
        name = item.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            problems.append(f"{at(item, 'name') if 'name' in item else where}: accounts[{index}].name: "
                            "a name of letters, digits, '.', '_' or '-' was expected")
            continue
        if name in seen:
            problems.append(f"{at(item, 'name')}: accounts[{index}].name: {name!r} is listed twice")
        seen.add(name)
        config = item.get("config")
        config_path: Path | None = None
        if not isinstance(config, str) or not config.strip():
            problems.append(f"{at(item, 'config') if 'config' in item else where}: accounts[{index}].config: "
                            "the path of a cadence config was expected")
        else:
            config_path = Path(config) if Path(config).is_absolute() else path.parent / config
            if not config_path.is_file():
                problems.append(f"{at(item, 'config')}: accounts[{index}].config: no file {config_path}")
        every, cron = item.get("every"), item.get("cron")
        expression = ""
        if (every is None) == (cron is None):
            problems.append(f"{where}: accounts[{index}]: give exactly one of `every:` and `cron:`")
        elif every is not None:
            try:
                expression = every_to_cron(str(every))
            except ValueError as exc:
                problems.append(f"{at(item, 'every')}: accounts[{index}].every: {exc}")
        else:
            fields = str(cron).split()
            if len(fields) not in (5, 6) or not croniter.is_valid(str(cron)):
                problems.append(f"{at(item, 'cron')}: accounts[{index}].cron: {cron!r} is not a cron expression "
                                "(5 fields, or 6 with seconds last)")
            else:
                expression = str(cron)
        if config_path is not None and expression:
            accounts.append(FleetAccount(name, config_path, expression,
                                         f"every {every}" if every is not None else f"cron {cron}"))
    if problems:
        raise FleetFileError(problems)
    assert state is not None
    return Fleet(path, state, tuple(accounts))
