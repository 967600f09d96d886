"""`safeterraform log`: the audit log as a table, or as JSON lines."""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from safeterraform import audit, launcher, policy
from safeterraform.errors import SafeTerraformError

MAX_PROBLEMS_SHOWN = 10
VERDICT_STYLES = {
    "refused": "red",
    "break-glass": "bold red",
    "failed": "red",
    "not-confirmed": "yellow",
    "confirmed": "green",
    "applied": "green",
    "passed": "dim",
}


def select(
    records: Sequence[dict[str, Any]],
    last: int | None,
    workspace: str | None,
    verdict: str | None,
) -> list[dict[str, Any]]:
    """The records matching every filter, oldest first; `last` applies after filtering."""
    chosen = [
        record
        for record in records
        if (workspace is None or record.get("workspace") == workspace)
        and (verdict is None or record.get("verdict") == verdict)
    ]
    if last is not None:
        chosen = chosen[-last:] if last else []
    return chosen


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _names(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_text(item) for item in value)
    return _text(value)


def command_line(record: dict[str, Any]) -> str:
    """What the operator ran, as a shell would show it."""
    program = _text(record.get("program")) or "terraform"
    argv = record.get("argv")
    if not isinstance(argv, list):
        return f"{program} {_text(argv)}".strip()
    words = [_text(word) for word in argv]
    if words and os.path.basename(words[0]) in ("terraform", "tofu"):
        return shlex.join(words)
    return shlex.join([program, *words])


def _time(value: Any) -> str:
    """`2025-01-31T09:15:02.123Z` shown as `2025-01-31 09:15:02Z`."""
    text = _text(value)
    if len(text) >= 19 and text[10] == "T":
        return f"{text[:10]} {text[11:19]}Z"
    return text


def table(records: Sequence[dict[str, Any]], path: str) -> Table:
    """The records as a rich table; every cell is plain text, never markup."""
    result = Table(title=f"audit log {path}", title_justify="left")
    result.add_column("time", no_wrap=True)
    for column in ("user", "workspace", "command", "verdict", "nodes"):
        result.add_column(column, overflow="fold")
    result.add_column("exit", no_wrap=True, justify="right")
    for record in records:
        verdict = _text(record.get("verdict"))
        verdict_cell = Text(verdict, style=VERDICT_STYLES.get(verdict, ""))
        reason = record.get("break_glass_reason")
        if reason:
            verdict_cell.append(f"\n{_text(reason)}", style="red")
        result.add_row(
            Text(_time(record.get("time"))),
            Text(_text(record.get("user"))),
            Text(_text(record.get("workspace"))),
            Text(command_line(record)),
            verdict_cell,
            Text(_names(record.get("affected_nodes"))),
            Text(_text(record.get("exit_code"))),
        )
    return result


def _warn(err: Console, path: str, problems: Sequence[str]) -> None:
    for problem in problems[:MAX_PROBLEMS_SHOWN]:
        err.print(Text(f"safeterraform: warning: audit log {path}: {problem}"), soft_wrap=True)
    if len(problems) > MAX_PROBLEMS_SHOWN:
        more = len(problems) - MAX_PROBLEMS_SHOWN
        err.print(Text(f"safeterraform: warning: {more} more unreadable lines"), soft_wrap=True)


def run(
    last: int | None,
    workspace: str | None,
    verdict: str | None,
    as_json: bool,
    console: Console | None = None,
    err: Console | None = None,
) -> int:
    console = console or Console()
    err = err or Console(stderr=True)
    if last is not None and last < 0:
        raise SafeTerraformError("safeterraform: --last must be 0 or more")
    config = policy.load(os.environ, os.getcwd(), launcher.system_config(dict(os.environ)))
    if config.error:
        err.print(
            Text(f"safeterraform: warning: {config.error}; showing the default audit log"),
            soft_wrap=True,
        )
    path = audit.default_path(os.environ, config.audit_log)
    try:
        records, problems = audit.read(path)
    except FileNotFoundError:
        console.print(Text(f"No audit log yet at {path}: nothing guarded has run."), soft_wrap=True)
        return 0
    except OSError as error:
        reason = error.strerror or str(error)
        raise SafeTerraformError(f"safeterraform: cannot read audit log {path}: {reason}") from None
    _warn(err, path, problems)
    chosen = select(records, last, workspace, verdict)
    if as_json:
        for record in chosen:
            console.out(json.dumps(record, sort_keys=True), highlight=False)
        return 0
    if not chosen:
        console.print(Text(f"No records in {path} match."), soft_wrap=True)
        return 0
    console.print(table(chosen, path))
    return 0
