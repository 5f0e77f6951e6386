"""Which CRMs are installed, and building the one a config names.

CRMs are found through the `crm_cadence.crms` entry-point group, loaded lazily (a plugin
that fails to import only matters when a config asks for it). Tests add CRMs without
entry points through `register(name, factory)`, scoped by a context manager, and can hide
installed plugins with `only_registered()`. The test session runs inside `own_plugins_only()`
(tests/conftest.py): only the CRMs this package ships and those registered are seen, so a
plugin installed on a developer's machine never leaks into a test.

A factory is a class or callable taking the CRM settings and the config's directory:

    factory(settings: dict, *, base_dir: Path, env: Mapping[str, str]) -> CRM

or, when it has one, `factory.from_config(settings, base_dir=..., env=...)`.
`settings` holds the `crm:` keys of the config minus `type`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

from .base import CRM, ConfigError

GROUP = "crm_cadence.crms"
_OWN_PACKAGE = __name__.split(".")[0]  # "connector"

Factory = Callable[..., CRM]


class UnknownCRMError(ConfigError):
    """The config names a CRM no installed plugin provides."""


class PluginLoadError(ConfigError):
    """An installed CRM plugin could not be imported."""


@dataclass
class _Registry:
    extra: dict[str, Factory] = field(default_factory=dict)
    use_entry_points: bool = True
    own_only: bool = False  # entry points of this package's own modules only


_REGISTRY = _Registry()


def _entry_points() -> dict[str, EntryPoint]:
    if not _REGISTRY.use_entry_points:
        return {}
    found = entry_points(group=GROUP)
    return {ep.name: ep for ep in found if not _REGISTRY.own_only or ep.module.split(".")[0] == _OWN_PACKAGE}


def installed() -> list[str]:
    """Names of every CRM that can be named in `crm: {type: ...}`, sorted."""
    return sorted(set(_entry_points()) | set(_REGISTRY.extra))


def get_factory(name: str) -> Factory:
    """The factory for CRM `name`; a clear error when unknown or broken."""
    if name in _REGISTRY.extra:
        return _REGISTRY.extra[name]
    ep = _entry_points().get(name)
    if ep is None:
        from difflib import get_close_matches

        names = installed()
        close = get_close_matches(name, names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise UnknownCRMError(
            f"crm.type: unknown CRM {name!r}{hint} (installed: {', '.join(names) or 'none'})"
        )
    try:
        return ep.load()
    except Exception as exc:  # a plugin's import error must not look like our bug
        raise PluginLoadError(
            f"crm.type: the CRM plugin {name!r} ({ep.value}) failed to load: "
            f"{type(exc).__name__}: {exc}"
        ) from exc


@contextlib.contextmanager
def register(name: str, factory: Factory) -> Iterator[None]:
    """Make `factory` available as CRM `name` inside the `with` block (tests, embedding)."""
    previous = _REGISTRY.extra.get(name)
    _REGISTRY.extra[name] = factory
    try:
        yield
    finally:
        if previous is None:
            _REGISTRY.extra.pop(name, None)
        else:
            _REGISTRY.extra[name] = previous


def only_registered() -> contextlib.AbstractContextManager[None]:
    """Ignore entry points inside the block: only `register()`ed CRMs exist."""
    return _setting("use_entry_points", False)


def own_plugins_only() -> contextlib.AbstractContextManager[None]:
    """Inside the block, installed plugins from other packages are ignored (the test session)."""
    return _setting("own_only", True)


@contextlib.contextmanager
def _setting(name: str, value: bool) -> Iterator[None]:
    before = getattr(_REGISTRY, name)
    setattr(_REGISTRY, name, value)
    try:
        yield
    finally:
        setattr(_REGISTRY, name, before)


def build(name: str, settings: Mapping[str, Any], *, base_dir: Path, env: Mapping[str, str]) -> CRM:
    """Build CRM `name` from its settings."""
    factory = get_factory(name)
    maker = getattr(factory, "from_config", None) or factory
    return maker(dict(settings), base_dir=Path(base_dir), env=env)


def load_crm(loaded_config: Any, *, env: Mapping[str, str] = os.environ) -> CRM:
    """The CRM a loaded config (`.config`, `.directory`) names, ready to use."""
    crm_settings = loaded_config.config.crm
    settings = crm_settings.model_dump(exclude={"type"})
    return build(crm_settings.type, settings, base_dir=Path(loaded_config.directory), env=env)


def account_of(loaded_config: Any, *, env: Mapping[str, str] = os.environ) -> str:
    """The account a config's runs use (its `account:`, else the CRM's own), without building
    the CRM when its factory can tell (`account_for`): no token or request needed."""
    if loaded_config.config.account:
        return str(loaded_config.config.account)
    crm_settings = loaded_config.config.crm
    settings = crm_settings.model_dump(exclude={"type"})
    factory = get_factory(crm_settings.type)
    account_for = getattr(factory, "account_for", None)
    if account_for is not None:  # as the config spells it; the state knows which account that reached
        from connector.accounts import known_account
        from connector.store_factory import state_location

        return known_account(state_location(loaded_config, env), str(account_for(settings, env=env)))
    crm = build(crm_settings.type, settings, base_dir=Path(loaded_config.directory), env=env)
    try:
        return crm.account_id()
    finally:
        crm.close()
