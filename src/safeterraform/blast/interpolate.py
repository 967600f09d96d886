"""Destroy-time provisioner commands as they will run: `self.*`, `count.index` and `each.key`
resolved from the prior object, sensitive values masked as Terraform masks them. Pure.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from safeterraform.blast.hcl import end_of_code
from safeterraform.blast.nodes import child, scalar
from safeterraform.plan import ResourceChange

SENSITIVE = "(sensitive value)"

_SELF = re.compile(r'self((?:\s*(?:\.[A-Za-z_][\w-]*|\[\s*(?:"(?:[^"\\]|\\.)*"|\d+)\s*\]))+)\Z')
_STEP = re.compile(r'\.([A-Za-z_][\w-]*)|\[\s*(?:"((?:[^"\\]|\\.)*)"|(\d+))\s*\]')
_QUOTED_TOKENS = re.compile(r"\\.|\$\$\{|%%\{|\$\{|%\{")
_HEREDOC_TOKENS = re.compile(r"\$\$\{|%%\{|\$\{|%\{")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def describe(
    kind: str, settings: Mapping[str, Any], change: ResourceChange
) -> tuple[str, tuple[str, ...]]:
    """A provisioner's command (hcl2's rendering of its arguments) as the operator should
    read it, and the interpolations that stayed unresolved."""
    unresolved: list[str] = []

    def resolved(value: Any) -> str:
        text, left = resolve(value, change)
        unresolved.extend(left)
        return text

    if kind == "local-exec" and "command" in settings:
        return resolved(settings["command"]), tuple(unresolved)
    if kind == "remote-exec" and isinstance(settings.get("inline"), list):
        return "\n".join(resolved(line) for line in settings["inline"]), tuple(unresolved)
    parts = [
        f"{key} = {resolved(value)}"
        for key, value in settings.items()
        if key not in ("when", "__is_block__") and isinstance(value, str)
    ]
    return ", ".join(parts), tuple(unresolved)


def resolve(raw: Any, change: ResourceChange) -> tuple[str, tuple[str, ...]]:
    """Resolve `self.*`, `count.index` and `each.key` in an expression rendered by hcl2.

    Other interpolations, and references to values that are not in the prior object,
    are left exactly as written and returned as unresolved.
    """
    if not isinstance(raw, str):
        return json.dumps(raw), ()
    out: list[str] = []
    unresolved: list[str] = []
    for part in _template(raw):
        if isinstance(part, str):
            out.append(part)
            continue
        expression, original = part
        value = _evaluate(expression, change)
        if value is None:
            unresolved.append(original)
            out.append(original)
        else:
            out.append(value)
    return "".join(out), tuple(unresolved)


@lru_cache(maxsize=1024)
def _template(raw: str) -> tuple[str | tuple[str, str], ...]:
    """`raw` split into literal text and (expression, as written) interpolations, once per
    text: the thousands of instances of one block share their provisioner's command."""
    text = raw.strip()
    quoted = len(text) >= 2 and text[0] == text[-1] == '"'
    heredoc = False
    if quoted:
        text = text[1:-1]
        if text.startswith("<<"):
            heredoc = True
            text = _heredoc_body(text)
    tokens = _HEREDOC_TOKENS if heredoc or not quoted else _QUOTED_TOKENS
    parts: list[str | tuple[str, str]] = []
    position = 0
    while True:
        match = tokens.search(text, position)
        if match is None:
            parts.append(text[position:])
            break
        parts.append(text[position : match.start()])
        token = match.group()
        if token.startswith("\\"):
            parts.append(_ESCAPES.get(token[1], token))
            position = match.end()
        elif token in ("$${", "%%{"):
            parts.append(token[1:])
            position = match.end()
        else:
            end = end_of_code(text, match.end(), "}")
            expression = text[match.end() : end - 1].strip(" \t\r\n~")
            parts.append((expression, text[match.start() : end]))
            position = end
    return tuple(parts)


def _heredoc_body(text: str) -> str:
    """hcl2 renders a heredoc as `<<-EOT\\n...\\n  EOT`: keep the lines between, dedented
    for `<<-` as terraform does."""
    lines = text.split("\n")
    body = lines[1:-1]
    if text.startswith("<<-"):
        indents = [len(line) - len(line.lstrip()) for line in body if line.strip()]
        cut = min(indents, default=0)
        body = [line[cut:] for line in body]
    return "\n".join(body)


def _evaluate(expression: str, change: ResourceChange) -> str | None:
    if expression == "count.index" and isinstance(change.index, int):
        return str(change.index)
    if expression == "each.key" and isinstance(change.index, str):
        return change.index
    steps = _self_steps(expression)
    if steps is None:
        return None
    value: Any = change.before
    sensitive: Any = change.before_sensitive
    for key in steps:
        if sensitive is True:
            return SENSITIVE
        value = child(value, key)
        sensitive = child(sensitive, key)
        if value is None:
            return None
    if sensitive is True:
        return SENSITIVE
    return _template_string(value)


@lru_cache(maxsize=1024)
def _self_steps(expression: str) -> tuple[str | int, ...] | None:
    """The keys of a `self.a["b"][0]` reference, once per expression; None for others."""
    match = _SELF.match(expression)
    if match is None:
        return None
    return tuple(
        step.group(1)
        or (json.loads(f'"{step.group(2)}"') if step.group(2) is not None else int(step.group(3)))
        for step in _STEP.finditer(match.group(1))
    )


def _template_string(value: Any) -> str | None:
    """A value as terraform interpolates it into a string; None when it would not."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return scalar(value)
