"""A small HCL lexer: finds blocks, attributes and references in configuration text. Pure.

Terraform's configuration is only ever read here for what the plan JSON leaves out
(destroy-time provisioners, locals, full reference traversals). Whole files are never parsed
with a grammar: strings, heredocs, comments and brackets are skipped with a handful of
regular expressions, and python-hcl2 parses single provisioner blocks only when they are not
plain (bench/bench_check.py compares this with tree-sitter-hcl; see docs/explain.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

_CODE = re.compile(r'["{}\[\]()#/<]')
_TOP = re.compile(r'["{}\[\]()#/<\n]')
_IN_STRING = re.compile(r'[\\"$%]')
_HEREDOC = re.compile(r"<<-?([A-Za-z_][\w-]*)[ \t]*\r?\n")
_HEADER = re.compile(r'\s*([A-Za-z_][\w-]*)((?:\s+(?:"(?:[^"\\\n]|\\.)*"|[A-Za-z_][\w-]*))*)\s*\Z')
_LABEL = re.compile(r'"((?:[^"\\\n]|\\.)*)"|([A-Za-z_][\w-]*)')
_CLOSERS = {"{": "}", "[": "]", "(": ")"}


@dataclass(frozen=True)
class Block:
    """A block found in configuration text: `type "label" ... { body }`."""

    type: str
    labels: tuple[str, ...]
    text: str  # the whole block, header included
    body_start: int  # offsets of the body inside `text`
    body_end: int


def end_of_string(text: str, position: int) -> int:
    """Index just past the closing quote of a string opened before `position`."""
    while True:
        match = _IN_STRING.search(text, position)
        if match is None:
            return len(text)
        at = match.start()
        char = text[at]
        if char == "\\":
            position = at + 2
        elif char == '"':
            return at + 1
        elif text.startswith(char * 2 + "{", at):  # $${ and %%{ are literal
            position = at + 3
        elif text.startswith("{", at + 1):
            position = end_of_code(text, at + 2, "}")
        else:
            position = at + 1


def skip_comment_or_heredoc(text: str, at: int) -> int | None:
    """Index past a comment or heredoc starting at `at`, or None when there is none."""
    if text[at] == "#" or text.startswith("//", at):
        end = text.find("\n", at)
        return len(text) if end < 0 else end
    if text.startswith("/*", at):
        end = text.find("*/", at + 2)
        return len(text) if end < 0 else end + 2
    if text.startswith("<<", at):
        match = _HEREDOC.match(text, at)
        if match is None:
            return None
        marker = re.compile(rf"^[ \t]*{re.escape(match.group(1))}[ \t]*\r?$", re.MULTILINE)
        closing = marker.search(text, match.end())
        return len(text) if closing is None else closing.end()
    return None


def end_of_code(text: str, position: int, closer: str) -> int:
    """Index just past the `closer` that matches an opening bracket before `position`."""
    stack = [closer]
    while stack:
        match = _CODE.search(text, position)
        if match is None:
            return len(text)
        at = match.start()
        char = text[at]
        if char == '"':
            position = end_of_string(text, at + 1)
        elif char in _CLOSERS:
            stack.append(_CLOSERS[char])
            position = at + 1
        elif char in "}])":
            if char == stack[-1]:
                stack.pop()
            position = at + 1
        else:
            skipped = skip_comment_or_heredoc(text, at)
            position = at + 1 if skipped is None else skipped
    return position


def blocks(text: str, start: int = 0, end: int | None = None) -> Iterator[Block]:
    """The blocks directly inside text[start:end] (a file or a block body)."""
    end = len(text) if end is None else end
    position = statement = start
    while position < end:
        match = _TOP.search(text, position, end)
        if match is None:
            return
        at = match.start()
        char = text[at]
        if char == "\n":
            position = statement = at + 1
        elif char == '"':
            position = end_of_string(text, at + 1)
        elif char == "{":
            close = end_of_code(text, at + 1, "}")
            header = _HEADER.match(text, statement, at)
            if header is not None:
                labels = tuple(
                    quoted if quoted else bare for quoted, bare in _LABEL.findall(header.group(2))
                )
                block_start = header.start(1)
                yield Block(
                    header.group(1),
                    labels,
                    text[block_start:close],
                    at + 1 - block_start,
                    close - 1 - block_start,
                )
            position = statement = close
        elif char in "[(":
            position = end_of_code(text, at + 1, _CLOSERS[char])
        elif char in "}])":
            position = at + 1
        else:
            skipped = skip_comment_or_heredoc(text, at)
            position = at + 1 if skipped is None else skipped


_ATTRIBUTE = re.compile(r"[ \t]*([A-Za-z_][\w-]*)[ \t]*=(?!=)[ \t]*")
_BARE_WORD = re.compile(r"[A-Za-z_][\w-]*")
_REST_OF_LINE = re.compile(r"[ \t]*(?:(?:#|//)[^\n]*)?(?:\n|\Z)")
_STATEMENT_END = re.compile(r'["{\[(#/<\n]')


def attributes(text: str, start: int = 0, end: int | None = None) -> dict[str, str]:
    """The attributes directly inside text[start:end] (a block body): name -> expression text.

    Nested blocks are skipped; an expression ends at the first newline outside brackets,
    strings and heredocs, as in HCL's native syntax.
    """
    end = len(text) if end is None else end
    found: dict[str, str] = {}
    position = start
    while position < end:
        char = text[position]
        if char in " \t\r\n;":
            position += 1
            continue
        skipped = skip_comment_or_heredoc(text, position)
        if skipped is not None and not text.startswith("<<", position):
            position = skipped
            continue
        match = _ATTRIBUTE.match(text, position, end)
        value_start = match.end() if match else position
        value_end = _end_of_expression(text, value_start, end)
        if match is not None:
            found[match.group(1)] = text[value_start:value_end].strip()
        position = max(value_end, position + 1)
    return found


def _end_of_expression(text: str, position: int, end: int) -> int:
    """Index of the newline (or `end`) that ends the statement starting at `position`.

    A statement that is a block (`name "label" { ... }`) ends after its closing brace.
    """
    while position < end:
        match = _STATEMENT_END.search(text, position, end)
        if match is None:
            return end
        at = match.start()
        char = text[at]
        if char == "\n":
            return at
        if char == '"':
            position = end_of_string(text, at + 1)
        elif char in _CLOSERS:
            position = end_of_code(text, at + 1, _CLOSERS[char])
        else:
            if char == "#" or text.startswith("//", at):
                return at  # a line comment ends the statement
            skipped = skip_comment_or_heredoc(text, at)
            position = at + 1 if skipped is None else skipped
    return end


def object_items(expression: str) -> dict[str, str] | None:
    """`{ a = x, "b" = y }` -> {"a": "x", "b": "y"}; None when not an object constructor."""
    text = expression.strip()
    if not (text.startswith("{") and text.endswith("}")):
        return None
    if end_of_code(text, 1, "}") != len(text):
        return None  # `{...} ... {...}`, not one object
    items: dict[str, str] = {}
    position, end = 1, len(text) - 1
    while position < end:
        item_end = _end_of_item(text, position, end)
        item = text[position:item_end].strip()
        position = item_end + 1
        if not item:
            continue
        match = re.match(r'("(?:[^"\\]|\\.)*"|[A-Za-z_][\w-]*)\s*[=:](?!=)\s*', item)
        if match is None:
            return None  # a for expression or something unusual
        items[unquote(match.group(1))] = item[match.end() :].strip()
    return items


def _end_of_item(text: str, position: int, end: int) -> int:
    """Index of the comma or newline that ends an object item starting at `position`."""
    while position < end:
        match = re.compile(r'["{\[(#/<\n,]').search(text, position, end)
        if match is None:
            return end
        at = match.start()
        char = text[at]
        if char in "\n,":
            return at
        if char == '"':
            position = end_of_string(text, at + 1)
        elif char in _CLOSERS:
            position = end_of_code(text, at + 1, _CLOSERS[char])
        else:
            skipped = skip_comment_or_heredoc(text, at)
            position = at + 1 if skipped is None else skipped
    return end


_TRAVERSAL = re.compile(
    r"(?<![\w.\-])([A-Za-z_][\w-]*)"
    r'((?:\.[A-Za-z_][\w-]*|\.\d+|\[\s*(?:"(?:[^"\\\n]|\\.)*"|[^\[\]"\n]*)\s*\])+)'
)


@lru_cache(maxsize=4096)
def traversals(expression: str) -> tuple[str, ...]:
    """Every reference-shaped traversal in an expression (`a.b["k"].c`), in order, distinct.

    Literal text inside strings may produce false candidates; callers resolve each one
    against the configuration and drop what names nothing.
    """
    seen: dict[str, None] = {}
    for match in _TRAVERSAL.finditer(expression):
        seen.setdefault(match.group(0).replace(" ", ""), None)
    return tuple(seen)


def single_interpolation(expression: str) -> tuple[str, str, str] | None:
    """`"pre${ ref }post"` -> ("pre", "ref", "post") when the template has exactly one
    interpolation and no directives or escapes; otherwise None."""
    text = expression.strip()
    if len(text) < 2 or text[0] != '"' or end_of_string(text, 1) != len(text):
        return None
    body = text[1:-1]
    start = body.find("${")
    if start < 0 or "\\" in body or "%{" in body or "$${" in body:
        return None
    close = end_of_code(body, start + 2, "}")
    if "${" in body[close:]:
        return None
    return body[:start], body[start + 2 : close - 1].strip(" \t~"), body[close:]


def simple_settings(block_text: str, body_start: int, body_end: int) -> dict[str, Any] | None:
    """A provisioner body whose arguments are all strings, heredocs or bare words, read
    without the HCL parser and rendered as hcl2 renders them; None when anything else
    (a function call, a nested block, a list) needs the real parser.

    Loading hcl2's grammar costs ~0.1 s; nearly every destroy-time provisioner is
    `when = destroy` plus a quoted `command`.
    """
    settings: dict[str, Any] = {}
    position = body_start
    while position < body_end:
        char = block_text[position]
        if char in " \t\r\n":
            position += 1
            continue
        skipped = skip_comment_or_heredoc(block_text, position)
        if skipped is not None and not block_text.startswith("<<", position):
            position = skipped
            continue
        match = _ATTRIBUTE.match(block_text, position, body_end)
        if match is None:
            return None  # a nested block or something unusual
        value_start = match.end()
        if block_text.startswith('"', value_start):
            value_end = end_of_string(block_text, value_start + 1)
            value = block_text[value_start:value_end]
        elif block_text.startswith("<<", value_start):
            heredoc_end = skip_comment_or_heredoc(block_text, value_start)
            if heredoc_end is None:
                return None
            value_end = heredoc_end
            value = f'"{block_text[value_start:value_end].rstrip()}"'
        else:
            word = _BARE_WORD.match(block_text, value_start, body_end)
            if word is None:
                return None
            value_end = word.end()
            value = word.group()
        rest = _REST_OF_LINE.match(block_text, value_end, body_end)
        if rest is None:
            return None  # `a = "x" + y`, a call, an index...
        settings[match.group(1)] = value
        position = rest.end()
    return settings


def warm_up() -> None:
    """Load the HCL parser ahead of need, e.g. in a thread while terraform show runs."""
    from hcl2.parser import parser

    parser()


@lru_cache(maxsize=4096)
def parse_hcl(text: str) -> dict[str, Any]:
    """One block parsed by python-hcl2 (the fallback for provisioners that are not plain)."""
    import hcl2  # lark and its grammar cost ~0.1 s: only when a provisioner must be read

    parsed = hcl2.loads(text)
    if not isinstance(parsed, dict):
        raise ValueError("not a block")
    return parsed


def unquote(label: str) -> str:
    return label[1:-1] if len(label) >= 2 and label[0] == label[-1] == '"' else label


def traversal(expression: str) -> str:
    """`${terraform_data.x}` (hcl2's rendering of a bare reference) -> `terraform_data.x`."""
    text = expression.strip()
    if text.startswith("${") and text.endswith("}"):
        text = text[2:-1].strip()
    return unquote(text)
