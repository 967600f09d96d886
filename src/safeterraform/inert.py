"""Strings from plan, state or config made inert for display (README "What is enforced").

A node name, an address, a provisioner command or a value comes from people the operator
does not control (a cloud tag, a module input). Shown raw, `\\x1b[1A\\x1b[2K` erases the
lines above it and can print a fake verdict. Every such string is shown through `inert`:
control characters, escape sequences and invisible direction overrides become visible
escapes (`\\x1b`, `\\n`, `\\u202e`). `markdown` also escapes Markdown and HTML, for text
outside code spans. Standard library only: log, render and confirm all import it.
"""

from __future__ import annotations

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Unicode format characters that reorder or hide text (bidi overrides and isolates, zero
# width joiners and marks): shown as escapes too (the "Trojan Source" characters).
_INVISIBLE = frozenset(
    "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    "\u2060\u2066\u2067\u2068\u2069\ufeff"
)
# Mid-line Markdown syntax (emphasis, code, links, tables, strikethrough); the rest only
# means something at the start of a line, where this text never is.
_MARKDOWN = frozenset("\\`*_[]|~")
_HTML = {"<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;"}


def _visible(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def _unsafe(char: str) -> bool:
    code = ord(char)
    return code < 0x20 or 0x7F <= code <= 0x9F or char in _INVISIBLE


def inert(text: str, *, newlines: bool = False) -> str:
    """`text` with every control character shown as an escape; `newlines` keeps `\\n`
    (for our own multi-line messages, whose parts from the plan are inert already)."""
    if not any(map(_unsafe, text)):
        return text  # the common case, without building a new string
    return "".join(
        char if not _unsafe(char) or (newlines and char == "\n") else _visible(char)
        for char in text
    )


def changed(text: str) -> bool:
    """Whether `inert` shows `text` differently from what it is."""
    return any(map(_unsafe, text))


def markdown(text: str) -> str:
    """Inert text for Markdown outside code spans: Markdown and HTML syntax escaped too."""
    shown = inert(text)
    return "".join(_HTML.get(char, f"\\{char}" if char in _MARKDOWN else char) for char in shown)
