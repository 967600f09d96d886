"""An Analysis as a rich renderable, plain text, JSON or Markdown
(docs/design.md#the-destructive-diff).

Never prints on its own: `to_console` prints only to the console it is given, the other
functions return strings. Colour follows that console (none when it is not a terminal or
NO_COLOR is set). Text from the plan is never read as rich markup.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from safeterraform.blast import Analysis, Cause, DestroyProvisioner, DestructiveChange
from safeterraform.blast.cause import unkeyed_text
from safeterraform.blast.nodes import display_name, display_names
from safeterraform.inert import inert, markdown

if TYPE_CHECKING:  # rich is imported for a console only: text, JSON and Markdown start faster
    from rich.console import Console, RenderableType

SCHEMA_VERSION = 2

# The `--format json` document is described by schemas/check.schema.json (published with
# the project; tests validate every golden against it). Fields are only ever added within a
# schema_version; a removal or change of meaning increments it.

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
    """`3 of 3 nodes affected: phoebe (192.0.2.67), poison (192.0.2.66), ...` or
    `nothing destructive`."""
    if not analysis.destructive:
        return "Nothing destructive: no object is destroyed, replaced or forgotten."
    names = analysis.labels()
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


HIDDEN_WORDS = "a sensitive value was not used as its name"
_LISTED = 10  # names and per-node origins listed in a cause group before "and N more"

# A rendering is a list of lines, each a list of (text, style) segments: plain text joins
# the text (fast, no rich import), the console gets the same lines as rich Text.
Segment = tuple[str, str]
Line = list[Segment]


def _provisioner_lines(provisioner: DestroyProvisioner) -> list[Line]:
    origin = " (removed block)" if provisioner.removed_block else ""
    lines: list[Line] = [
        [
            ("  ", ""),
            (display_name(provisioner.node), "bold red"),
            ("  ", ""),
            (provisioner.address, ""),
            (f"  {provisioner.type}{origin}", ""),
        ]
    ]
    for number, line in enumerate(provisioner.command.split("\n") or [""]):
        lines.append([("    ", ""), ("$ " if number == 0 else "  ", "red"), (line, "bold red")])
    if provisioner.unresolved:
        lines.append([(f"    not resolved from state: {', '.join(provisioner.unresolved)}", "red")])
    return lines


def _listed(names: Sequence[str], limit: int = _LISTED) -> str:
    shown = display_names(names[:limit])
    return shown if len(names) <= limit else f"{shown}, and {len(names) - limit} more"


def cause_groups(
    analysis: Analysis,
) -> list[tuple[str, Cause, tuple[DestructiveChange, ...], list[DestructiveChange]]]:
    """Per origin shared by changes: (headline, the first change's cause, the changes, the
    changes whose own origin the headline does not spell out)."""
    groups = []
    for cause, changes in analysis.by_cause():
        nodes = sorted({change.node for change in changes})
        who = (
            f"node {display_name(nodes[0])}"
            if len(nodes) == 1
            else f"{len(nodes)} nodes ({_listed(nodes)})"
        )
        summaries = {change.cause.summary for change in changes if change.cause}
        unkeyed = {unkeyed_text(summary) for summary in summaries}
        listed: list[DestructiveChange] = []
        if len(summaries) == 1:
            what = cause.summary
        elif len(unkeyed) == 1:  # the same origin but for instance keys, e.g. own config
            what = unkeyed.pop()
        else:
            what = cause.shape
            listed = list(changes)
        one = "one cause" if len(changes) > 1 and cause.kind != "not_found" else "cause"
        groups.append((f"{who}, {one}: {what}", cause, changes, listed))
    return groups


def _cause_lines(analysis: Analysis) -> list[Line]:
    groups = cause_groups(analysis)
    if not groups:
        return []
    lines: list[Line] = [[("WHY", "bold")]]
    for title, cause, changes, listed in groups:
        lines.append([("  ", ""), (title, "bold")])
        if len(cause.links) > 1:
            first = changes[0]
            for number, link in enumerate(cause.links):
                lead = f"{first.address}: " if number == 0 else "← "
                style = "bold" if link.origin else ""
                lines.append([("    ", ""), (lead, ""), (link.text, style)])
        once = _once(listed)
        for change in listed[:_LISTED]:
            text = _listed_cause(change, change.node in once)
            lines.append([(f"    {display_name(change.node)}: {text}", "")])
        if len(listed) > _LISTED:
            lines.append([(f"    and {len(listed) - _LISTED} more", "")])
        for note in notes(changes):
            lines.append([(f"    ({note})", "")])
    lines.append([("", "")])
    return lines


def _once(changes: Sequence[DestructiveChange]) -> set[str]:
    """The nodes with one change in `changes`: their name alone says which change it is."""
    seen: dict[str, int] = {}
    for change in changes:
        seen[change.node] = seen.get(change.node, 0) + 1
    return {node for node, count in seen.items() if count == 1}


def _listed_cause(change: DestructiveChange, alone: bool) -> str:
    """A change's own origin under its group's headline: the difference alone where the
    headline already says what changed and the node has no other change listed
    (`phoebe: "192.0.2.67" → "198.51.100.67"`), else the whole summary."""
    assert change.cause is not None
    cause = change.cause
    shape = cause.shape.removesuffix(" changed")
    if alone and cause.detail and unkeyed_text(cause.summary).startswith(shape):
        return cause.detail
    return cause.summary


def notes(changes: Sequence[DestructiveChange]) -> list[str]:
    """The notes of a cause group, each once: a value is shown once per chain, not on
    every line (issue 27)."""
    return list(dict.fromkeys(c.cause.note for c in changes if c.cause and c.cause.note))


def _lines(analysis: Analysis) -> list[Line]:
    """The rendering's lines, every text from the plan shown inert (safeterraform.inert)."""
    return [[(inert(text), style) for text, style in line] for line in _plan_lines(analysis)]


def _plan_lines(analysis: Analysis) -> list[Line]:
    """Destroy-time provisioners first (red), then changes by node, why, then the counts."""
    lines: list[Line] = []
    for warning in analysis.warnings:
        lines.append([(f"WARNING: {warning}", "bold red")])
    if analysis.destroy_provisioners:
        lines.append(
            [
                (
                    "DESTROY-TIME PROVISIONERS: "
                    f"{_plural(len(analysis.destroy_provisioners), 'command')} "
                    "will run as objects are destroyed",
                    "bold red",
                )
            ]
        )
        for provisioner in analysis.destroy_provisioners:
            lines.extend(_provisioner_lines(provisioner))
        lines.append([("", "")])
    if analysis.destructive:
        lines.append(
            [(f"DESTRUCTIVE CHANGES on {_plural(len(analysis.affected_nodes), 'node')}", "bold")]
        )
        for node, changes in analysis.by_node():
            lines.append([("  ", ""), (analysis.label(node), "bold yellow")])
            for change in changes:
                style = "red" if change.kind != "forget" else "yellow"
                lines.append(
                    [
                        ("    ", ""),
                        (action_words(change), style),
                        ("  ", ""),
                        (_address(change), ""),
                    ]
                )
                if change.previous_address:
                    lines.append([(f"      moved from {change.previous_address}", "")])
                if change.reason:
                    lines.append([(f"      because {change.reason}", "")])
                if change.replace_paths:
                    lines.append([(f"      forced by: {', '.join(change.replace_paths)}", "")])
                if change.provisioners_skipped:
                    lines.append([(f"      {_skipped_words(change)}", "yellow")])
                if change.name_hidden:
                    lines.append([(f"      {HIDDEN_WORDS}", "yellow")])
        lines.append([("", "")])
        lines.extend(_cause_lines(analysis))
    lines.append([(headline(analysis), "bold red" if analysis.destructive else "green")])
    lines.append([(counts_line(analysis), "")])
    return lines


def renderable(analysis: Analysis) -> RenderableType:
    """The rendering as rich Text lines (see _lines)."""
    from rich.console import Group
    from rich.text import Text

    return Group(
        *(Text.assemble(*((text, style) for text, style in line)) for line in _lines(analysis))
    )


def to_console(analysis: Analysis, console: Console) -> None:
    """Print the rendering on `console`, and nowhere else. Lines are not wrapped."""
    console.print(renderable(analysis), soft_wrap=True, highlight=False)


def to_text(analysis: Analysis) -> str:
    """The plain-text rendering (what a non-terminal or NO_COLOR console shows)."""
    return "".join("".join(text for text, _ in line) + "\n" for line in _lines(analysis))


def _cause_dict(cause: Cause | None) -> dict[str, Any] | None:
    if cause is None:
        return None
    return {
        "kind": cause.kind,
        "summary": cause.summary,
        "note": cause.note,
        "links": [
            {
                "kind": link.kind,
                "subject": link.subject,
                "text": link.text,
                "old": link.old,
                "new": link.new,
                "origin": link.origin,
            }
            for link in cause.links
        ],
    }


def as_dict(analysis: Analysis) -> dict[str, Any]:
    """The JSON document described by schemas/check.schema.json."""
    return {
        "schema_version": SCHEMA_VERSION,
        "terraform_version": analysis.terraform_version,
        "destructive": analysis.destructive,
        "affected_nodes": list(analysis.affected_nodes),
        "node_addresses": {node: list(found) for node, found in analysis.node_addresses},
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
                "node_name_hidden": change.name_hidden,
                "action": change.action,
                "actions": list(change.actions),
                "action_reason": change.action_reason,
                "reason": change.reason,
                "replace_paths": list(change.replace_paths),
                "previous_address": change.previous_address,
                "deposed": change.deposed,
                "create_before_destroy": change.create_before_destroy,
                "provisioners_skipped": change.provisioners_skipped,
                "cause": _cause_dict(change.cause),
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


def to_markdown(
    analysis: Analysis, workspace: str | None = None, directory: str | None = None
) -> str:
    """For a pull-request comment, result first (as tfcmt and Atlantis comments lead):
    destructive or not, the nodes, the counts, workspace and directory; then the
    destroy-time provisioners, never collapsed; then the changes by node and why, in a
    collapsed `<details>` (docs/ci.md)."""
    out: list[str] = []
    title = "destructive plan" if analysis.destructive else "nothing destructive"
    out.append(f"### safeterraform: {title}")
    out.append("")
    out.append(f"**{markdown(headline(analysis))}**")
    out.append("")
    out.append(counts_line(analysis))
    where = []
    if workspace is not None:
        where.append(f"workspace {_code(workspace)}")
    if directory is not None:
        where.append(f"directory {_code(directory)}")
    if where:
        out.append("")
        out.append("Plan of " + ", ".join(where) + ".")
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
            node = _code(display_name(item.node))
            out.append(f"- **{node}** {_code(item.address)} ({item.type}{origin})")
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
        out.append("<details>")
        out.append(
            f"<summary>Destructive changes on {_plural(len(analysis.affected_nodes), 'node')}"
            ", and why</summary>"
        )
        out.append("")
        for node, changes in analysis.by_node():
            out.append(f"**{_code(analysis.label(node))}**")
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
                if change.name_hidden:
                    details.append(HIDDEN_WORDS)
                suffix = f": {'; '.join(details)}" if details else ""
                out.append(f"- {action_words(change)} {_code(_address(change))}{suffix}")
            out.append("")
        out.extend(_markdown_causes(analysis))
        out.append("</details>")
    while out and out[-1] == "":
        out.pop()
    # Code spans and fences keep their text literal; control characters are made visible.
    return "\n".join(inert(line) for line in out) + "\n"


def _markdown_causes(analysis: Analysis) -> list[str]:
    groups = cause_groups(analysis)
    if not groups:
        return []
    out = ["#### Why", ""]
    for title, cause, changes, listed in groups:
        out.append(f"- {_code(title)}")
        if len(cause.links) > 1:
            first = changes[0]
            for number, link in enumerate(cause.links):
                text = _code(f"{first.address}: {link.text}" if number == 0 else link.text)
                lead = "" if number == 0 else "← "
                out.append(f"  - {lead}**{text}**" if link.origin else f"  - {lead}{text}")
        once = _once(listed)
        for change in listed[:_LISTED]:
            text = _listed_cause(change, change.node in once)
            out.append(f"  - {_code(display_name(change.node))}: {_code(text)}")
        if len(listed) > _LISTED:
            out.append(f"  - and {len(listed) - _LISTED} more")
        for note in notes(changes):
            out.append(f"  - ({_code(note)})")
    out.append("")
    return out
