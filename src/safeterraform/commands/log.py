"""`safeterraform log`: the audit log, one line per record; in full as a table; or as JSON
lines.

One line per record fits the terminal: fields that do not fit are shortened with an
ellipsis. The full table is laid out for the terminal it is shown in: one column per field when that
fits, else a compact layout (time, user and workspace stacked in one column). Column
widths are computed here, not by rich, so that text wraps at spaces and only a word longer
than its whole column is folded (rich's own squeezing breaks words mid-word).
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from safeterraform import audit, launcher, policy
from safeterraform.errors import SafeTerraformError
from safeterraform.inert import inert
from safeterraform.redact import Redactor, has_secrets, redact_argv

MAX_PROBLEMS_SHOWN = 10
VERDICT_STYLES = {
    "refused": "red",
    "break-glass": "bold red",
    "failed": "red",
    "interrupted": "yellow",
    "not-confirmed": "yellow",
    "confirmed": "green",
    "applied": "green",
    "passed": "dim",
    "outcome-unknown": "bold red",
}
# A word longer than this is folded rather than widening its column further.
LONGEST_UNFOLDED_WORD = 16
TIME_WIDTH = len("2025-01-31 09:15:02Z")


@dataclass(frozen=True)
class Entry:
    """A record and, for a break-glass record, the later record that says how it ended."""

    record: dict[str, Any]
    outcome: dict[str, Any] | None = None
    unknown: bool = False  # a confirmed apply whose shim is gone without an outcome


def _same_command(first: dict[str, Any], second: dict[str, Any]) -> bool:
    keys = ("user", "host", "cwd", "argv", "break_glass_reason")
    return all(first.get(key) == second.get(key) for key in keys)


def entries(records: Sequence[dict[str, Any]], host: str | None = None) -> list[Entry]:
    """Each record with its outcome: a break-glass record is written before the command
    runs; the first later record of the same command with an exit code is how it ended.
    A confirmed apply of `host` whose shim is gone without an outcome is `unknown`."""
    orphaned = {id(record) for record, _ in audit.orphans(records, host)} if host else set()
    result = []
    for index, record in enumerate(records):
        outcome = None
        if id(record) in orphaned:
            result.append(Entry(record, None, unknown=True))
            continue
        if record.get("verdict") == "break-glass":
            outcome = next(
                (
                    later
                    for later in records[index + 1 :]
                    if later.get("exit_code") is not None and _same_command(record, later)
                ),
                None,
            )
        result.append(Entry(record, outcome))
    return result


def known_verdicts(records: Sequence[dict[str, Any]]) -> list[str]:
    """The verdicts `--verdict` accepts: every verdict a record can carry, and any other
    verdict that is in this log (written by another version)."""
    found = {_text(record.get("verdict")) for record in records} - {""}
    return sorted(set(audit.VERDICTS) | found)


def select(
    found: Sequence[Entry],
    last: int | None,
    workspace: str | None,
    verdict: str | None,
) -> list[Entry]:
    """The entries matching every filter, oldest first; `last` applies after filtering."""
    chosen = [
        entry
        for entry in found
        if (workspace is None or entry.record.get("workspace") == workspace)
        and (verdict is None or entry.record.get("verdict") == verdict)
    ]
    if last is not None:
        chosen = chosen[-last:] if last else []
    return chosen


def _text(value: Any) -> str:
    """A field as shown: names, reasons and paths came from plans and state (inert)."""
    return "" if value is None else inert(str(value))


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
    words = ["" if word is None else str(word) for word in argv]
    if not (words and os.path.basename(words[0]) in ("terraform", "tofu")):
        words = [program, *words]
    return inert(shlex.join(words))


def _time(value: Any) -> str:
    """`2025-01-31T09:15:02.123Z` shown as `2025-01-31 09:15:02Z`."""
    text = _text(value)
    if len(text) >= 19 and text[10] == "T":
        return f"{text[:10]} {text[11:19]}Z"
    return text


def _exit_code(entry: Entry) -> str:
    code = entry.record.get("exit_code")
    if code is None and entry.outcome is not None:
        code = entry.outcome.get("exit_code")
    return _text(code)


def _verdict(entry: Entry) -> Text:
    verdict = _text(entry.record.get("verdict"))
    cell = Text(verdict, style=VERDICT_STYLES.get(verdict, ""))
    reason = entry.record.get("break_glass_reason")
    if reason:
        cell.append(f"\nreason: {_text(reason)}", style="red")
    if verdict == "break-glass":
        if entry.outcome is not None:
            ended = _text(entry.outcome.get("verdict"))
            cell.append(f"\noutcome: {ended}, exit {_text(entry.outcome.get('exit_code'))}")
        elif entry.record.get("exit_code") is not None:
            cell.append(f"\noutcome: exit {_text(entry.record.get('exit_code'))}")
        else:
            cell.append("\noutcome: not recorded (no record after it)")
    if entry.unknown:
        cell.append(f"\n{audit.OUTCOME_UNKNOWN}", style="bold red")
    return cell


@dataclass(frozen=True)
class _Column:
    header: str
    cells: list[Text]
    wraps: bool = True
    justify: Literal["left", "right"] = "left"
    unbroken: int = 0  # the first line of every cell is kept whole up to this width

    def natural(self) -> int:
        lines = [self.header, *(line for cell in self.cells for line in cell.plain.split("\n"))]
        return max(len(line) for line in lines)

    def minimum(self) -> int:
        """The narrowest width that breaks no word (words over the limit fold anyway)."""
        if not self.wraps:
            return self.natural()
        words = [
            *self.header.split(),
            *(word for cell in self.cells for word in cell.plain.split()),
        ]
        longest = min(max((len(word) for word in words), default=1), LONGEST_UNFOLDED_WORD)
        return max(longest, self.unbroken)


def fit(naturals: Sequence[int], minimums: Sequence[int], available: int) -> list[int]:
    """Column widths summing to at most `available`: take from the widest column that is
    still above its minimum, one character at a time; below every minimum, from the widest."""
    widths = list(naturals)
    while sum(widths) > available:
        shrinkable = [i for i, width in enumerate(widths) if width > minimums[i]]
        candidates = shrinkable or [i for i, width in enumerate(widths) if width > 1]
        if not candidates:
            break
        widest = max(candidates, key=lambda i: widths[i] - (minimums[i] if shrinkable else 0))
        widths[widest] -= 1
    return widths


def _wide_columns(chosen: Sequence[Entry]) -> list[_Column]:
    records = [entry.record for entry in chosen]
    return [
        _Column("time", [Text(_time(r.get("time"))) for r in records], wraps=False),
        _Column("user", [Text(_text(r.get("user"))) for r in records]),
        _Column("workspace", [Text(_text(r.get("workspace"))) for r in records]),
        _Column("command", [Text(command_line(r)) for r in records]),
        _Column("verdict", [_verdict(entry) for entry in chosen]),
        _Column("nodes", [Text(_names(r.get("affected_nodes"))) for r in records]),
        _Column("exit", [Text(_exit_code(entry)) for entry in chosen], False, "right"),
    ]


def _compact_columns(chosen: Sequence[Entry]) -> list[_Column]:
    records = [entry.record for entry in chosen]
    who = [
        Text(f"{_time(r.get('time'))}\n{_text(r.get('user'))} in {_text(r.get('workspace'))}")
        for r in records
    ]
    wide = _wide_columns(chosen)
    return [_Column("time, user in workspace", who, unbroken=TIME_WIDTH), *wide[3:]]


def _build(columns: Sequence[_Column], width: int) -> Table:
    result = Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
    )
    for column in columns:
        result.add_column(
            column.header,
            overflow="fold",
            no_wrap=not column.wraps,
            justify=column.justify,
        )
    for row in zip(*(column.cells for column in columns), strict=True):
        result.add_row(*row)
    widths = fit(
        [column.natural() for column in columns],
        [column.minimum() for column in columns],
        width - _overhead(result),
    )
    for column_width, table_column in zip(widths, result.columns, strict=True):
        table_column.width = column_width
    return result


def _overhead(result: Table) -> int:
    """Characters a table row spends on dividers and padding."""
    padding = sum(result._get_padding_width(index) for index in range(len(result.columns)))
    return result._extra_width + padding


def table(chosen: Sequence[Entry], width: int) -> Table:
    """The entries as a table `width` columns wide; every cell is plain text, never markup."""
    columns = _wide_columns(chosen)
    wide = _build(columns, width)
    if sum(column.minimum() for column in columns) + _overhead(wide) <= width:
        return wide
    return _build(_compact_columns(chosen), width)


# -- one line per record (the default) ---------------------------------------------------

LINE_HEADERS = ("time", "user", "dir", "workspace", "verdict", "nodes", "agent/approver")
LINE_CAPS = (11, 8, 0, 9, 13, 0, 16)  # 0: shares what is left (dir, nodes)
NODES = 5  # the column of the affected nodes


def _fit_left(text: str, width: int) -> str:
    """The end of `text` (a directory's last components matter), an ellipsis before it."""
    return text if len(text) <= width else "…" + text[len(text) - width + 1 :]


def _fit_right(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _fit_nodes(text: str, width: int) -> str:
    """As many whole names as fit, then how many more: `powder,poison +1`."""
    names = text.split(",")
    if len(text) <= width or len(names) < 2:
        return _fit_right(text, width)
    for shown in range(len(names) - 1, 0, -1):
        fitted = f"{','.join(names[:shown])} +{len(names) - shown}"
        if len(fitted) <= width:
            return fitted
    return _fit_right(f"+{len(names)}", width)


def who(record: dict[str, Any]) -> str:
    """The coding agent that ran it and the person who approved it, where recorded."""
    agent = _text(record.get("agent"))
    approver = _text(record.get("approved_by")).split(" (approved ")[0].split("@")[0]
    return f"{agent or '-'}/{approver}" if approver else agent


def line_cells(entry: Entry) -> list[str]:
    """One record's cells: month, day and time to the minute (UTC), user, directory,
    workspace, verdict (with the exit code of a break-glass run), nodes, agent/approver."""
    record = entry.record
    verdict = _text(record.get("verdict"))
    code = _exit_code(entry)
    if code and verdict in ("break-glass", "failed"):  # how the run it let through ended
        verdict = f"{verdict} {code}"
    if entry.unknown:  # said in full below the lines
        verdict = f"{verdict} ?"
    return [
        _time(record.get("time"))[5:16],  # 01-31 09:15: the year is in --full and --json
        _text(record.get("user")),
        _text(record.get("cwd")),
        _text(record.get("workspace")),
        verdict,
        _names(record.get("affected_nodes")).replace(", ", ","),
        who(record),
    ]


def lines(chosen: Sequence[Entry], width: int) -> list[Text]:
    """Each record on one line of at most `width` characters: a field that does not fit
    is shortened with an ellipsis (the directory at its start), never wrapped."""
    rows = [list(LINE_HEADERS), *(line_cells(entry) for entry in chosen)]
    naturals = [max(len(row[i]) for row in rows) for i in range(len(LINE_HEADERS))]
    widths = [min(n, cap) if cap else n for n, cap in zip(naturals, LINE_CAPS, strict=True)]
    spare = (
        width - (len(widths) - 1) - sum(w for w, cap in zip(widths, LINE_CAPS, strict=True) if cap)
    )
    directory, nodes = naturals[2], naturals[5]
    if directory + nodes > spare:  # the nodes first; the directory keeps its last words
        directory = min(directory, max(10, spare - nodes))
        nodes = max(spare - directory, 0)
    widths[2], widths[5] = directory, nodes
    shown = []
    for number, row in enumerate(rows):
        cells = [
            _fit_left(cell, w)
            if i == 2
            else _fit_nodes(cell, w)
            if i == NODES and number
            else _fit_right(cell, w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        text = Text(" ".join(cell.ljust(w) for cell, w in zip(cells, widths, strict=True)).rstrip())
        if number == 0:
            text.stylize("bold")
        else:
            verdict = row[4].split(" ")[0]
            text.stylize(VERDICT_STYLES.get(verdict, ""))
        shown.append(text)
    return shown


def _warn(err: Console, path: str, problems: Sequence[str]) -> None:
    for problem in problems[:MAX_PROBLEMS_SHOWN]:
        err.print(Text(f"safeterraform: warning: audit log {path}: {problem}"), soft_wrap=True)
    if len(problems) > MAX_PROBLEMS_SHOWN:
        more = len(problems) - MAX_PROBLEMS_SHOWN
        err.print(Text(f"safeterraform: warning: {more} more unreadable lines"), soft_wrap=True)


def shown(record: dict[str, Any]) -> dict[str, Any]:
    """A record as `log` shows it: `-var` values redacted, even in records written before
    the shim redacted them (the file itself is never rewritten behind anyone's back)."""
    argv = record.get("argv")
    if not isinstance(argv, list) or not all(isinstance(word, str) for word in argv):
        return record
    redactor = Redactor.for_args(argv)
    copy = dict(record, argv=redact_argv(argv))
    if isinstance(record.get("reason"), str):
        copy["reason"] = redactor.scrub(record["reason"])
    if isinstance(record.get("break_glass_reason"), str):
        copy["break_glass_reason"] = redactor.scrub_typed(record["break_glass_reason"])
    return copy


def carries_secrets(record: dict[str, Any]) -> bool:
    """The stored record itself holds a `-var` value (written before redaction)."""
    argv = record.get("argv")
    return isinstance(argv, list) and all(isinstance(w, str) for w in argv) and has_secrets(argv)


def _check_verdict(verdict: str | None, records: Sequence[dict[str, Any]]) -> None:
    valid = known_verdicts(records)
    if verdict is not None and verdict not in valid:
        raise SafeTerraformError(
            f"safeterraform: unknown verdict {verdict!r}; valid verdicts: {', '.join(valid)}"
        )


def run(
    last: int | None,
    workspace: str | None,
    verdict: str | None,
    as_json: bool,
    console: Console | None = None,
    err: Console | None = None,
    secrets: bool = False,
    full: bool = False,
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
        _check_verdict(verdict, [])
        console.print(Text(f"No audit log yet at {path}: nothing guarded has run."), soft_wrap=True)
        return 0
    except OSError as error:
        reason = error.strerror or str(error)
        raise SafeTerraformError(f"safeterraform: cannot read audit log {path}: {reason}") from None
    _check_verdict(verdict, records)
    _warn(err, path, problems)
    if secrets:
        records = [record for record in records if carries_secrets(record)]
        err.print(
            Text(
                f"{len(records)} record(s) in {path} hold -var values (shown redacted); the "
                'file is not rewritten: see the README, "Secrets in old audit logs".'
            ),
            soft_wrap=True,
        )
    records = [shown(record) for record in records]
    if as_json:
        for record in select([Entry(record) for record in records], last, workspace, verdict):
            console.out(json.dumps(record.record, sort_keys=True), highlight=False)
        return 0
    chosen = select(entries(records, audit.identity(os.environ)[1]), last, workspace, verdict)
    if not chosen:
        console.print(Text(f"No records in {path} match."), soft_wrap=True)
        return 0
    console.print(Text(f"audit log {path}"), soft_wrap=True)
    if full:
        console.print(table(chosen, console.width))
    else:
        for line in lines(chosen, console.width):
            console.print(line, soft_wrap=True)
        for entry in chosen:
            if entry.unknown:
                words = inert(audit.orphan_words(entry.record))
                console.print(Text(f"? {words}", style="bold red"), soft_wrap=True)
    return 0
