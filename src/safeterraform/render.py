"""An Analysis as a rich renderable, plain text, JSON or Markdown (PRODUCT.md §6).

Never prints on its own: `to_console` prints only to the console it is given, the other
functions return strings. Colour follows that console (none when it is not a terminal or
NO_COLOR is set). Text from the plan is never read as rich markup.
"""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING, Any

from safeterraform.blast import Analysis, DestroyProvisioner, DestructiveChange

if TYPE_CHECKING:  # rich is imported when text is rendered: JSON and Markdown start faster
    from rich.console import Console, RenderableType
    from rich.text import Text

SCHEMA_VERSION = 1

_STRING = {"type": "string"}
_STRINGS = {"type": "array", "items": _STRING}
_NULLABLE_STRING = {"type": ["string", "null"]}
_COUNT = {"type": "integer", "minimum": 0}

# The `--format json` document. Fields are only ever added within a schema_version;
# a removal or change of meaning increments it.
JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "safeterraform check --format json",
    "type": "object",
    "required": [
        "schema_version",
        "terraform_version",
        "destructive",
        "affected_nodes",
        "nodes_known",
        "counts",
        "destroy_provisioners",
        "changes",
        "warnings",
    ],
    "additionalProperties": False,
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION},
        "terraform_version": _STRING,
        "destructive": {"type": "boolean"},
        "affected_nodes": _STRINGS,
        "nodes_known": _COUNT,
        "counts": {
            "type": "object",
            "required": ["destroy", "replace", "forget", "create", "update", "import"],
            "additionalProperties": False,
            "properties": {
                key: _COUNT
                for key in ("destroy", "replace", "forget", "create", "update", "import")
            },
        },
        "destroy_provisioners": {
            "type": "array",
            "items": {
                "type": "object",
                "required": [
                    "address",
                    "node",
                    "type",
                    "command",
                    "unresolved",
                    "source",
                    "removed_block",
                ],
                "additionalProperties": False,
                "properties": {
                    "address": _STRING,
                    "node": _STRING,
                    "type": _STRING,
                    "command": _STRING,
                    "unresolved": _STRINGS,
                    "source": _STRING,
                    "removed_block": {"type": "boolean"},
                },
            },
        },
        "changes": {
            "type": "array",
            "items": {
                "type": "object",
                "required": [
                    "address",
                    "node",
                    "action",
                    "actions",
                    "action_reason",
                    "reason",
                    "replace_paths",
                    "previous_address",
                    "deposed",
                    "create_before_destroy",
                    "provisioners_skipped",
                ],
                "additionalProperties": False,
                "properties": {
                    "address": _STRING,
                    "node": _STRING,
                    "action": {
                        "enum": [
                            "destroy",
                            "replace",
                            "forget",
                            "replace-and-forget",
                            "moved-and-destroyed",
                            "moved-and-replaced",
                            "moved-and-forgotten",
                            "moved-and-replaced-and-forgotten",
                        ]
                    },
                    "actions": _STRINGS,
                    "action_reason": _NULLABLE_STRING,
                    "reason": _NULLABLE_STRING,
                    "replace_paths": _STRINGS,
                    "previous_address": _NULLABLE_STRING,
                    "deposed": _NULLABLE_STRING,
                    "create_before_destroy": {"type": "boolean"},
                    "provisioners_skipped": _NULLABLE_STRING,
                },
            },
        },
        "warnings": _STRINGS,
    },
}

_ACTION_WORDS = {
    "destroy": "destroy",
    "replace": "replace",
    "forget": "forget (removed from state, not destroyed)",
    "replace-and-forget": "replace (the old object is forgotten, not destroyed)",
    "moved-and-destroyed": "moved, then destroyed",
    "moved-and-replaced": "moved, then replaced",
    "moved-and-forgotten": "moved, then forgotten (not destroyed)",
    "moved-and-replaced-and-forgotten": "moved, then replaced (old object forgotten)",
}


def action_words(change: DestructiveChange) -> str:
    words = _ACTION_WORDS.get(change.action, change.action)
    if change.kind == "replace" and "forget" not in change.action:
        words += (
            " (create new, then destroy old)"
            if change.create_before_destroy
            else (" (destroy, then create)")
        )
    return words


def _skipped_words(change: DestructiveChange) -> str:
    return f"its destroy-time provisioners will NOT run ({change.provisioners_skipped})"


def _address(change: DestructiveChange) -> str:
    return change.address + (f" (deposed object {change.deposed})" if change.deposed else "")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def headline(analysis: Analysis) -> str:
    """`3 of 3 nodes affected: phoebe, poison, powder` or `nothing destructive`."""
    if not analysis.destructive:
        return "Nothing destructive: no object is destroyed, replaced or forgotten."
    names = ", ".join(analysis.affected_nodes)
    known = _plural(analysis.nodes_known, "node")
    return f"{len(analysis.affected_nodes)} of {known} affected: {names}"


def counts_line(analysis: Analysis) -> str:
    parts = [
        f"{analysis.count('destroy')} to destroy",
        f"{analysis.count('replace')} to replace",
        f"{analysis.count('forget')} to forget",
        f"{analysis.creates} to create",
        f"{analysis.updates} to update",
    ]
    if analysis.imports:
        parts.append(f"{analysis.imports} to import")
    return ", ".join(parts) + "."


def _provisioner_lines(provisioner: DestroyProvisioner) -> list[Text]:
    from rich.text import Text

    origin = " (removed block)" if provisioner.removed_block else ""
    lines = [
        Text.assemble(
            "  ",
            (provisioner.node, "bold red"),
            "  ",
            provisioner.address,
            f"  {provisioner.type}{origin}",
        )
    ]
    for number, line in enumerate(provisioner.command.split("\n") or [""]):
        lines.append(
            Text.assemble("    ", ("$ " if number == 0 else "  ", "red"), (line, "bold red"))
        )
    if provisioner.unresolved:
        lines.append(
            Text(f"    not resolved from state: {', '.join(provisioner.unresolved)}", "red")
        )
    return lines


def renderable(analysis: Analysis) -> RenderableType:
    """Destroy-time provisioners first (red), then changes by node, then the counts."""
    from rich.console import Group
    from rich.text import Text

    lines: list[Text] = []
    for warning in analysis.warnings:
        lines.append(Text(f"WARNING: {warning}", "bold red"))
    if analysis.destroy_provisioners:
        lines.append(
            Text(
                "DESTROY-TIME PROVISIONERS: "
                f"{_plural(len(analysis.destroy_provisioners), 'command')} "
                "will run as objects are destroyed",
                "bold red",
            )
        )
        for provisioner in analysis.destroy_provisioners:
            lines.extend(_provisioner_lines(provisioner))
        lines.append(Text(""))
    if analysis.destructive:
        lines.append(
            Text(f"DESTRUCTIVE CHANGES on {_plural(len(analysis.affected_nodes), 'node')}", "bold")
        )
        for node, changes in analysis.by_node():
            lines.append(Text.assemble("  ", (node, "bold yellow")))
            for change in changes:
                style = "red" if change.kind != "forget" else "yellow"
                lines.append(
                    Text.assemble("    ", (action_words(change), style), "  ", _address(change))
                )
                if change.previous_address:
                    lines.append(Text(f"      moved from {change.previous_address}"))
                if change.reason:
                    lines.append(Text(f"      because {change.reason}"))
                if change.replace_paths:
                    lines.append(Text(f"      forced by: {', '.join(change.replace_paths)}"))
                if change.provisioners_skipped:
                    lines.append(Text(f"      {_skipped_words(change)}", "yellow"))
        lines.append(Text(""))
    lines.append(Text(headline(analysis), "bold red" if analysis.destructive else "green"))
    lines.append(Text(counts_line(analysis)))
    return Group(*lines)


def to_console(analysis: Analysis, console: Console) -> None:
    """Print the rendering on `console`, and nowhere else. Lines are not wrapped."""
    console.print(renderable(analysis), soft_wrap=True, highlight=False)


def to_text(analysis: Analysis) -> str:
    """The plain-text rendering (what a non-terminal or NO_COLOR console shows)."""
    from rich.console import Console

    buffer = io.StringIO()
    console = Console(
        file=buffer,
        no_color=True,
        color_system=None,
        force_terminal=False,
        width=100,
        highlight=False,
        emoji=False,
    )
    to_console(analysis, console)
    return buffer.getvalue()


def as_dict(analysis: Analysis) -> dict[str, Any]:
    """The JSON document described by JSON_SCHEMA."""
    return {
        "schema_version": SCHEMA_VERSION,
        "terraform_version": analysis.terraform_version,
        "destructive": analysis.destructive,
        "affected_nodes": list(analysis.affected_nodes),
        "nodes_known": analysis.nodes_known,
        "counts": {
            "destroy": analysis.count("destroy"),
            "replace": analysis.count("replace"),
            "forget": analysis.count("forget"),
            "create": analysis.creates,
            "update": analysis.updates,
            "import": analysis.imports,
        },
        "destroy_provisioners": [
            {
                "address": item.address,
                "node": item.node,
                "type": item.type,
                "command": item.command,
                "unresolved": list(item.unresolved),
                "source": item.source,
                "removed_block": item.removed_block,
            }
            for item in analysis.destroy_provisioners
        ],
        "changes": [
            {
                "address": change.address,
                "node": change.node,
                "action": change.action,
                "actions": list(change.actions),
                "action_reason": change.action_reason,
                "reason": change.reason,
                "replace_paths": list(change.replace_paths),
                "previous_address": change.previous_address,
                "deposed": change.deposed,
                "create_before_destroy": change.create_before_destroy,
                "provisioners_skipped": change.provisioners_skipped,
            }
            for change in analysis.changes
        ],
        "warnings": list(analysis.warnings),
    }


def to_json(analysis: Analysis) -> str:
    """The documented schema, one list item per line.

    json.dumps with `indent` falls back to the pure-Python encoder (0.2 s for 2,000
    changes); each item through the C encoder keeps the output readable and fast.
    """
    lines = ["{"]
    data = as_dict(analysis)
    for position, (key, value) in enumerate(data.items()):
        comma = "," if position < len(data) - 1 else ""
        if isinstance(value, list) and value:
            items = ",\n".join(f"    {json.dumps(item)}" for item in value)
            lines.append(f"  {json.dumps(key)}: [\n{items}\n  ]{comma}")
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value)}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _longest_backtick_run(text: str) -> int:
    longest = current = 0
    for char in text:
        current = current + 1 if char == "`" else 0
        longest = max(longest, current)
    return longest


def _code(text: str) -> str:
    """Inline code that survives backticks in the text."""
    fence = "`" * (_longest_backtick_run(text) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _fence(text: str) -> str:
    return "`" * max(3, _longest_backtick_run(text) + 1)


def to_markdown(analysis: Analysis) -> str:
    """For a pull-request comment: the same order as the terminal rendering."""
    out: list[str] = []
    title = "destructive plan" if analysis.destructive else "nothing destructive"
    out.append(f"### safeterraform: {title}")
    out.append("")
    for warning in analysis.warnings:
        out.append(f"> **Warning:** {warning}")
        out.append("")
    if analysis.destroy_provisioners:
        out.append(
            f"#### :rotating_light: Destroy-time provisioners "
            f"({len(analysis.destroy_provisioners)}): these commands run as objects are destroyed"
        )
        out.append("")
        for item in analysis.destroy_provisioners:
            origin = ", removed block" if item.removed_block else ""
            out.append(f"- **{item.node}** {_code(item.address)} ({item.type}{origin})")
            fence = _fence(item.command)
            out.append(f"  {fence}sh")
            out.extend(f"  {line}" for line in item.command.split("\n"))
            out.append(f"  {fence}")
            if item.unresolved:
                out.append(
                    "  not resolved from state: "
                    + ", ".join(_code(reference) for reference in item.unresolved)
                )
        out.append("")
    if analysis.destructive:
        out.append(f"#### Destructive changes on {_plural(len(analysis.affected_nodes), 'node')}")
        out.append("")
        for node, changes in analysis.by_node():
            out.append(f"**{node}**")
            out.append("")
            for change in changes:
                details = []
                if change.previous_address:
                    details.append(f"moved from {_code(change.previous_address)}")
                if change.reason:
                    details.append(f"because {change.reason}")
                if change.replace_paths:
                    details.append(
                        "forced by " + ", ".join(_code(path) for path in change.replace_paths)
                    )
                if change.provisioners_skipped:
                    details.append(_skipped_words(change))
                suffix = f": {'; '.join(details)}" if details else ""
                out.append(f"- {action_words(change)} {_code(_address(change))}{suffix}")
            out.append("")
    out.append(f"**{headline(analysis)}**")
    out.append("")
    out.append(counts_line(analysis))
    return "\n".join(out) + "\n"
