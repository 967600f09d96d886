"""Strings from plan, state or config made inert for display (README "What is enforced").

A node name, an address, a provisioner command or a value comes from people the operator
does not control (a cloud tag, a module input). Shown raw, `\\x1b[1A\\x1b[2K` erases the
lines above it and can print a fake verdict. Every such string is shown through `inert`:
control characters, escape sequences and invisible direction overrides become visible
escapes (`\\x1b`, `\\n`, `\\u202e`). `markdown` also escapes Markdown and HTML, for text
outside code spans. Standard library only: log, render and confirm all import it.
"""

from __future__ import annotations

import re

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
    if code > 0xFFFF:
        return f"\\U{code:08x}"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


# Beyond the list: every other control or format character (Unicode categories Cc, Cf,
# and the line and paragraph separators Zl, Zp): the Arabic letter mark U+061C, a soft
# hyphen, the tag characters U+E0000..E007F that hide ASCII text, U+2028.
_HIDDEN_CATEGORIES = frozenset(("Cc", "Cf", "Zl", "Zp"))


def _unsafe(char: str) -> bool:
    code = ord(char)
    if code < 0x80:
        return code < 0x20 or code == 0x7F
    if code <= 0x9F or char in _INVISIBLE:
        return True
    import unicodedata  # imported once, and only for text that is not ASCII

    return unicodedata.category(char) in _HIDDEN_CATEGORIES


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


# Terraform's own output (plan, show) prints values from state as they are; the shim
# passes it through `Stream`, which keeps terraform's colours (SGR: ESC [ digits ; m) and
# its newlines and tabs, and shows every other control character as `inert` does.
_SGR_BODY = frozenset("0123456789;")
# Printable ASCII, newlines and tabs: what `feed` passes on as it is, a run at a time
# (docs/perf.md: 200 KB of a 2,000-resource plan, 34 ms one character at a time, 6 ms so).
_PLAIN_RUN = re.compile(r"[\x20-\x7e\n\t]+")


class Stream:
    """An incremental filter of terraform's output: `feed` text as it arrives, `end` at EOF;
    an escape sequence cut between two reads is held until it is complete."""

    def __init__(self) -> None:
        self._held = ""

    def feed(self, text: str) -> str:
        text = self._held + text
        self._held = ""
        out = []
        index = 0
        while index < len(text):
            plain = _PLAIN_RUN.match(text, index)
            if plain is not None:  # most of a plan: a run of printable ASCII, copied whole
                out.append(plain.group())
                index = plain.end()
                continue
            char = text[index]
            if char == "\x1b":
                end = index + 2
                if text[index + 1 : index + 2] == "[":
                    while end < len(text) and text[end] in _SGR_BODY:
                        end += 1
                    if end < len(text) and text[end] == "m":
                        out.append(text[index : end + 1])  # a colour: terraform's own
                        index = end + 1
                        continue
                if end >= len(text):  # perhaps a colour whose end has not arrived yet
                    self._held = text[index:]
                    break
                out.append("\\x1b")
            elif char in "\n\t" or not _unsafe(char):
                out.append(char)
            else:
                out.append(_visible(char))
            index += 1
        return "".join(out)

    def end(self) -> str:
        held, self._held = self._held, ""
        return inert(held)
