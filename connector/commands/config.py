"""`cadence check` and `cadence schema`: validate a config file, print its JSON Schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from connector.clikit import EXIT_BAD_INPUT, echo_json, fail
from connector.configfile import ConfigFileError, LoadedConfig, Problem, load_config
from sequences.config import json_schema


def summarize(loaded: LoadedConfig) -> dict[str, Any]:
    """Counts for the one-line summary of a valid config."""
    config = loaded.config
    return {
        "file": str(loaded.path),
        "cadences": len(config.cadences),
        "steps": sum(len(c.steps) for c in config.cadences),
        "scripts": len(config.scripts),
        "crm": config.crm.type,
    }


def _summary_line(summary: dict[str, Any]) -> str:
    return (
        f"{summary['file']}: OK: {_count(summary['cadences'], 'cadence')}, {_count(summary['steps'], 'step')}, "
        f"{_count(summary['scripts'], 'script')}, CRM {summary['crm']}"
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


@click.command("check")
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print {ok, problems, summary} as JSON on stdout.")
@click.pass_context
def check_command(ctx: click.Context, config: Path, as_json: bool) -> None:
    """Validate CONFIG (and the script files it names); list every problem as FILE:LINE:COL: field: message."""
    if not config.exists() and not as_json:
        fail(f"{config}: no such config file")
    try:
        loaded = load_config(config)
    except ConfigFileError as exc:
        _report(exc.problems, as_json)
        ctx.exit(EXIT_BAD_INPUT)
    from connector.configcheck import deeper_problems

    errors, warnings = deeper_problems(loaded)
    summary = summarize(loaded)
    if as_json:
        echo_json({"ok": not errors, "problems": [p.to_dict() for p in errors],
                   "warnings": [p.to_dict() for p in warnings], "summary": summary if not errors else None})
    else:
        for problem in errors:
            click.echo(f"{problem}", err=True)
        for problem in warnings:
            click.echo(_as_warning(problem), err=True)
        if not errors:
            click.echo(_summary_line(summary) + (f" ({_count(len(warnings), 'warning')})" if warnings else ""))
    if errors:
        ctx.exit(EXIT_BAD_INPUT)


def _as_warning(problem: Problem) -> str:
    """`FILE:LINE:COL: path: warning: message` (an error has no `warning:`)."""
    where = f"{problem.file}:{problem.line}:{problem.col}"
    return f"{where}: {problem.path}: warning: {problem.message}" if problem.path else f"{where}: warning: {problem.message}"


def _report(problems: list[Problem], as_json: bool) -> None:
    if as_json:
        echo_json({"ok": False, "problems": [p.to_dict() for p in problems], "warnings": [], "summary": None})
        return
    for problem in problems:
        click.echo(str(problem), err=True)


@click.command("schema")
def schema_command() -> None:
    """Print the config's JSON Schema (for editors: see examples/README.md)."""
    echo_json(json_schema())
