"""What `cadence check` finds beyond a config's shape: calling hours, the local CRM's files,
and the Salesforce settings.

- A call window reaching outside 08:00-21:00 (the US TCPA calling hours) is a *warning*:
  the config loads, and calls are narrowed to fit, but the config says something it will
  not do. It is reported at the key that says it (`channels.call`, a call step's `window`,
  or `calendar.working_hours` when calls use the working hours).
- A contacts or owners file the local CRM's settings name and that does not exist is an
  *error*: no sync can run.

Each problem is located at its key's line and column in the YAML file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from sequences.config import TCPA_CALL_WINDOW
from sequences.durations import parse_window
from sequences.records import Channel

from .configfile import LoadedConfig, Problem


def _tree(path: Path) -> Any:
    try:
        return YAML(typ="rt").load(path.read_text(encoding="utf-8-sig"))
    except Exception:  # the config loaded, so this cannot fail; a location is a nicety
        return None


def _where(tree: Any, keys: list[str | int]) -> tuple[int, int]:
    """1-based (line, column) of the value at `keys` (or of the deepest key found)."""
    node, line, col = tree, 1, 1
    for key in keys:
        if isinstance(node, CommentedMap) and key in node:
            line, col = node.lc.value(key) if node.lc.data.get(key) else (line - 1, col - 1)
            line, col = line + 1, col + 1
            node = node[key]
        elif isinstance(node, CommentedSeq) and isinstance(key, int) and key < len(node):
            line, col = node.lc.item(key)
            line, col = line + 1, col + 1
            node = node[key]
        else:
            break
    return line, col


def _outside_calling_hours(text: str) -> bool:
    window, legal = parse_window(text), parse_window(TCPA_CALL_WINDOW)
    return window.start < legal.start or window.end > legal.end


def deeper_problems(loaded: LoadedConfig) -> tuple[list[Problem], list[Problem]]:
    """(errors, warnings) of a config that loaded."""
    config = loaded.config
    label = str(loaded.path)
    tree = _tree(Path(loaded.path))
    errors: list[Problem] = []
    warnings: list[Problem] = []

    def add(bucket: list[Problem], keys: list[str | int], message: str) -> None:
        line, col = _where(tree, keys)
        bucket.append(Problem(label, line, col, ".".join(str(k) if isinstance(k, str) else f"[{k}]" for k in keys)
                              .replace(".[", "["), message))

    legal = TCPA_CALL_WINDOW
    if "call" in config.channels.model_fields_set:
        if _outside_calling_hours(config.channels.call):
            add(warnings, ["channels", "call"], f"{config.channels.call} goes outside the legal calling hours {legal} "
                                                f"(contact-local, US TCPA): calls are kept within {legal}")
    elif _outside_calling_hours(config.calendar.working_hours):
        add(warnings, ["calendar", "working_hours"],
            f"{config.calendar.working_hours} goes outside the legal calling hours {legal} and calls use the working "
            f"hours: calls are kept within {legal} (set channels.call to say so)")
    for c_index, cadence in enumerate(config.cadences):
        for s_index, step in enumerate(cadence.steps):
            if step.channel is Channel.CALL and step.window and _outside_calling_hours(step.window):
                add(warnings, ["cadences", c_index, "steps", s_index, "window"],
                    f"{step.window} goes outside the legal calling hours {legal}: this call is kept within {legal}")

    if config.crm.type == "salesforce":  # the plugin's own checks, no secret needed
        from connector.crm.salesforce.settings import settings_problems

        for where, message in settings_problems(config.crm.model_dump(exclude={"type"}))[1]:
            add(errors, ["crm", *where], message)
    if config.crm.type == "local":
        settings = config.crm.model_dump()
        base = Path(loaded.directory)
        for key in ("contacts", "owners"):
            name = settings.get(key)
            if not isinstance(name, str) or not name:
                continue  # only files the config names (a default that is absent is the sync's to report)
            path = Path(name) if Path(name).is_absolute() else base / name
            if not path.is_file():
                add(errors, ["crm", key], f"the local CRM's {key} file {path} does not exist"
                                  + (" (a CSV with an id column per contact)" if key == "contacts" else ""))
    return errors, warnings
