"""Reading a cadence config file: YAML and Markdown in, a validated `Config` or located problems out.

This is the I/O shell around `sequences.config` (which stays pure). Every problem names the
file, the 1-based line and column, the dotted field path and a message a person can act on:

    examples/recruiting.yaml:12:9: cadences[0].steps[1].wiat: unknown key; did you mean 'wait'?

All problems in a file are reported at once; only YAML that cannot be parsed stops early.
"""

from __future__ import annotations

import logging
import re
import sys
import warnings
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.scalarbool import ScalarBoolean

from sequences.config import Config, reference_problems
from sequences.templates import check_template

from .configlocate import validation_problems
from .configproblems import ConfigFileError, Problem, describe, did_you_mean, dotted, value_position
from .yamlbounds import alias_bomb

__all__ = ["ConfigFileError", "LoadedConfig", "Problem", "load_config"]

log = logging.getLogger(__name__)

# A `{{ ... }}` span, only to locate template errors in Markdown; `check_template` judges it.
_TEMPLATE_SPAN = re.compile(r"\{\{.*?\}\}", re.S)


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    config: Config
    path: Path  # as given
    directory: Path  # absolute; relative paths in the config (CSV files, scripts) start here


def load_config(path: str | Path) -> LoadedConfig:
    """Read, resolve script body files, and validate; raise `ConfigFileError` on any problem."""
    path = Path(path)
    label = str(path)
    try:
        return _load(path, label)
    except ConfigFileError:
        raise
    except Exception as exc:  # a shape of input no check above foresaw: still a located answer, never a traceback
        log.debug("unexpected error reading %s", label, exc_info=True)
        raise ConfigFileError([Problem(label, 1, 1, "", f"this file cannot be read as a cadence config "
                                                         f"({type(exc).__name__}); check its structure")]) from None


def _load(path: Path, label: str) -> LoadedConfig:
    tree = _parse_yaml(_read_text(path, label), label)
    directory = path.resolve().parent
    data = _plain(tree)
    problems = _attach_body_files(tree, data, label, path.parent, directory)
    problems += _crm_file_problems(tree, label, directory)
    references = _reference_problems(tree, label)
    problems += references
    try:
        config = Config.model_validate(data)
    except RecursionError:
        raise ConfigFileError([Problem(label, 1, 1, "", "nesting is too deep")]) from None
    except ValidationError as exc:
        problems += validation_problems(exc, tree, label, covered=references)
    if problems:
        raise ConfigFileError(problems)
    return LoadedConfig(config=config, path=path, directory=directory)


# ------------------------------------------------------------------------------- reading


def _read_text(path: Path, label: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        message = "no such file"
    except IsADirectoryError:
        message = "is a directory, not a config file"
    except UnicodeDecodeError as exc:
        message = f"is not UTF-8 text (byte {exc.start})"
    except OSError as exc:
        message = f"cannot be read: {exc.strerror or exc}"
    raise ConfigFileError([Problem(label, 1, 1, "", message)])


def _reader_problem(exc: Exception, text: str, label: str) -> Problem:
    """Locate a reader error (no mark): by its character position when it gives one."""
    position = getattr(exc, "position", None)
    line, col = 1, 1
    if isinstance(position, int):
        before = text[:position]
        line = before.count("\n") + 1
        col = position - (before.rfind("\n") + 1) + 1
    character = getattr(exc, "character", None)
    what = f"character {character!r} is not allowed in YAML" if character is not None else str(exc).splitlines()[0]
    return Problem(label, line, col, "", what)


def _complex_key_problem(text: str, label: str) -> Problem:
    """Locate the first mapping key that is not a plain value (a list or a mapping used as a key)."""
    message = "a key must be a plain name, not a list or a mapping"
    try:
        root = YAML(typ="rt").compose(text)
    except Exception:
        return Problem(label, 1, 1, "", message)
    stack = [root] if root is not None else []
    while stack:
        node = stack.pop()
        if isinstance(node, MappingNode):
            for key, value in node.value:
                if not isinstance(key, ScalarNode):
                    return Problem(label, key.start_mark.line + 1, key.start_mark.column + 1, "", message)
                stack.append(value)
        elif isinstance(node, SequenceNode):
            stack.extend(node.value)
    return Problem(label, 1, 1, "", message)


def _parse_yaml(text: str, label: str) -> CommentedMap:
    bomb = alias_bomb(text)  # before anything walks the tree: aliases can expand it a billion-fold
    if bomb is not None:
        raise ConfigFileError([Problem(label, bomb.line, bomb.col, "", bomb.message)])
    with warnings.catch_warnings():  # e.g. a reused anchor: legal YAML, not worth a line on stderr
        warnings.simplefilter("ignore")
        limit = sys.get_int_max_str_digits()
        sys.set_int_max_str_digits(0)  # let a huge number through to validation, which names its field
        try:
            tree = YAML(typ="rt").load(text)
        except DuplicateKeyError as exc:
            raise ConfigFileError(_duplicate_keys(text, label) or [_syntax_problem(exc, label)]) from None
        except MarkedYAMLError as exc:
            raise ConfigFileError([_unclosed_quote(text, exc, label) or _syntax_problem(exc, label)]) from None
        except YAMLError as exc:  # e.g. a control character the YAML reader refuses
            raise ConfigFileError([_reader_problem(exc, text, label)]) from None
        except TypeError:  # a complex key (`? [a, b]: ...`) cannot be a dict key
            raise ConfigFileError([_complex_key_problem(text, label)]) from None
        except (ValueError, RecursionError) as exc:  # nesting 1,000 levels deep, or a value YAML cannot build
            what = "nesting is too deep" if isinstance(exc, RecursionError) else f"a value cannot be read ({exc})"
            raise ConfigFileError([Problem(label, 1, 1, "", what)]) from None
        finally:
            sys.set_int_max_str_digits(limit)
    if tree is None:
        raise ConfigFileError([Problem(label, 1, 1, "", "the file is empty; a config needs at least a `cadences:` list")])
    if not isinstance(tree, CommentedMap):
        raise ConfigFileError(
            [Problem(label, 1, 1, "", f"expected settings (key: value) at the top level, got {describe(tree)}")]
        )
    return tree


_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\']|\'\')*\'')


def _unclosed_quote(text: str, exc: MarkedYAMLError, label: str) -> Problem | None:
    """A quote left open on an earlier line makes YAML stumble lines later, where the next
    quote closes it; point at the line that opened it instead."""
    if not exc.problem_mark:
        return None
    lines = text.splitlines()
    for number in range(min(exc.problem_mark.line, len(lines) - 1), -1, -1):
        line = lines[number]
        body = _QUOTED.sub("", line.split(" #")[0])  # closed strings removed, comments dropped
        value = body.partition(": ")[2] if ": " in body else body.lstrip(" -")
        if value.lstrip().startswith(('"', "'")):
            if number == exc.problem_mark.line:
                return None  # the error is on this very line: YAML's own message says it
            column = line.index(value.lstrip()[0], len(line) - len(line.lstrip()))
            # only when that string runs on to the line where YAML stumbled (a legal multi-line
            # string that ends earlier is not the culprit)
            start = sum(len(x) + 1 for x in lines[:number]) + column
            found = _QUOTED.match(text, start)
            ends_on = text.count("\n", 0, found.end()) if found else len(lines)
            if ends_on != exc.problem_mark.line:
                return None
            return Problem(label, number + 1, column + 1, "",
                           "YAML syntax error: this quoted string is never closed on its line (add the closing quote)")
    return None


def _syntax_problem(exc: MarkedYAMLError, label: str) -> Problem:
    if exc.context_mark and "quoted scalar" in (exc.context or ""):
        # an unclosed quote is noticed lines later (at the next quote, or the end of the file):
        # point at the quote that was opened, where the fix is
        mark = exc.context_mark
        return Problem(label, mark.line + 1, mark.column + 1, "",
                       "YAML syntax error: this quoted string is never closed (add the closing quote)")
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    problem = (exc.problem or "").split(" with value ")[0]  # duplicate-key text quotes whole values
    message = f"YAML syntax error: {problem}" if problem else "YAML syntax error"
    if exc.context and exc.context_mark and exc.problem_mark:
        message += f" ({exc.context} started at line {exc.context_mark.line + 1})"
    return Problem(label, line, col, "", message)


def _duplicate_keys(text: str, label: str) -> list[Problem]:
    """Every repeated key in every mapping (ruamel stops at the first), from the node tree."""
    try:
        root = YAML(typ="rt").compose(text)
    except MarkedYAMLError:
        return []
    found: list[Problem] = []

    def walk(node: Node | None, path: list[str | int]) -> None:
        if isinstance(node, MappingNode):
            seen: dict[Any, int] = {}
            for key, value in node.value:
                name = key.value
                if not isinstance(name, str) or name == "<<":  # merge keys may repeat
                    continue
                if name in seen:
                    line, col = key.start_mark.line + 1, key.start_mark.column + 1
                    message = f"duplicate key (first given at line {seen[name]})"
                    found.append(Problem(label, line, col, dotted([*path, name]), message))
                else:
                    seen[name] = key.start_mark.line + 1
                walk(value, [*path, name])
        elif isinstance(node, SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, [*path, i])

    walk(root, [])
    return found


def _plain(node: Any) -> Any:
    """ruamel's round-trip types (CommentedMap, ScalarFloat, TimeStamp...) as plain Python."""
    if isinstance(node, dict):
        return {_plain(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, bool | ScalarBoolean) or node is None:
        return None if node is None else bool(node)
    if isinstance(node, str):
        return str(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, datetime):
        return datetime(*node.timetuple()[:6], node.microsecond, tzinfo=node.tzinfo)
    if isinstance(node, date):
        return date(node.year, node.month, node.day)
    if hasattr(node, "value"):  # TaggedScalar: an unknown `!tag`, read as its text
        return _plain(node.value)
    return node


# ------------------------------------------------------------------ files the config names


def inside_folder(folder: Path, name: str) -> Path | None:
    """The file `name` names relative to `folder`, symlinks resolved, or None when it leads
    outside `folder` (an absolute path, `..`, or a link pointing out). The one check for every
    file a config names: script body files and the local CRM's CSV files."""
    if Path(name).is_absolute():
        return None
    path = (folder / name).resolve()
    return path if path.is_relative_to(folder.resolve()) else None


# The local CRM's settings that name a file, and the one that lets them lead outside the folder.
LOCAL_CRM_FILES = ("contacts", "tasks", "owners")
ALLOW_OUTSIDE = "allow_outside_folder"


def _crm_file_problems(tree: CommentedMap, label: str, directory: Path) -> list[Problem]:
    """A local CRM file named outside the config's folder, unless `crm.allow_outside_folder: true`
    says so: `contacts: /etc/passwd` would be read (and shown), `tasks: ../x` overwritten."""
    crm = tree.get("crm")
    if not isinstance(crm, CommentedMap) or crm.get("type", "local") != "local" or crm.get(ALLOW_OUTSIDE) is True:
        return []
    problems = []
    for key in LOCAL_CRM_FILES:
        name = crm.get(key)
        if isinstance(name, str) and name and inside_folder(directory, name) is None:
            line, col = value_position(crm, key)
            problems.append(Problem(label, line, col, f"crm.{key}",
                                    f"{name!r} is outside the config's folder ({directory}); give a path relative "
                                    f"to it, e.g. {key}.csv, or set `crm.{ALLOW_OUTSIDE}: true` to allow it"))
    return problems


# ---------------------------------------------------------------------------- body files


def _attach_body_files(tree: CommentedMap, data: dict, label: str, shown_dir: Path, real_dir: Path) -> list[Problem]:
    """Put each script's `body_file` text into its `body`, checking the file and its templates."""
    scripts = tree.get("scripts")
    if not isinstance(scripts, CommentedMap):
        return []
    problems: list[Problem] = []
    for script_id, script in scripts.items():
        if not isinstance(script, CommentedMap) or not isinstance(script.get("body_file"), str):
            continue
        where = f"scripts.{script_id}.body_file"
        line, col = value_position(script, "body_file")
        if "body" in script:
            problems.append(Problem(label, line, col, where, "give `body` or `body_file`, not both"))
            continue
        name = script["body_file"]
        shown = str(shown_dir / name)
        if inside_folder(real_dir, name) is None:
            problems.append(Problem(label, line, col, where,
                                    f"{name!r} is outside the config's folder; give a path relative to it, "
                                    "e.g. scripts/intro-call.md"))
            continue
        try:
            body = (real_dir / name).read_text(encoding="utf-8")
        except FileNotFoundError:
            problems.append(Problem(label, line, col, where, f"file not found: {shown}{_nearby_file_hint(real_dir, name)}"))
            continue
        except (OSError, UnicodeDecodeError) as exc:
            reason = "is not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else f"cannot be read: {exc}"
            problems.append(Problem(label, line, col, where, f"{shown} {reason}"))
            continue
        body_problems = [Problem(shown, ln, cl, where, msg) for ln, cl, msg in _template_errors(body)]
        problems += body_problems
        if not body_problems:  # a bad body stays out, so the model does not report it again
            data["scripts"][script_id]["body"] = body
    return problems


def _template_errors(text: str) -> list[tuple[int, int, str]]:
    """(line, col, message) for every unknown variable in a template text, 1-based."""
    errors = []
    for match in _TEMPLATE_SPAN.finditer(text):
        try:
            check_template(match.group(0))
        except ValueError as exc:
            before = text[: match.start()]
            errors.append((before.count("\n") + 1, match.start() - (before.rfind("\n") + 1) + 1, str(exc)))
    return errors


def _nearby_file_hint(directory: Path, name: str) -> str:
    folder = (directory / name).parent
    if not folder.is_dir():
        return ""
    rel = Path(name).parent
    candidates = [str(rel / p.name) if str(rel) != "." else p.name for p in sorted(folder.glob("*.md"))]
    return did_you_mean(name, candidates)


# ---------------------------------------------------------------------------- references


def _reference_problems(tree: CommentedMap, label: str) -> list[Problem]:
    """Cadence and script references and unique ids (`sequences.config.reference_problems`, the
    checks the model runs too), on the raw tree so they run always, each pointed at its node."""
    problems = []
    for found in reference_problems(tree):
        line, col = value_position(_node(tree, found.path[:-1]), found.path[-1])
        message = found.message
        if found.first is not None:
            message += f" (first at line {value_position(_node(tree, found.first[:-1]), found.first[-1])[0]})"
        problems.append(Problem(label, line, col, found.where, message))
    return problems


def _node(tree: CommentedMap, path: tuple[str | int, ...]) -> Any:
    node: Any = tree
    for segment in path:
        node = node[segment]
    return node


