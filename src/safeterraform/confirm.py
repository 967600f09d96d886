"""Typed confirmation of the affected nodes (PRODUCT.md §7), over an injectable prompt.

The flow only talks to a `Prompt`; `QuestionaryPrompt` is the terminal one, tests
may hand in their own (and the real one is tested in a pseudo-terminal).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

ATTEMPTS = 3
CONFIRM_VAR = "SAFETERRAFORM_CONFIRM_NODES"


class Prompt(Protocol):
    def text(self, message: str) -> str:
        """The operator's answer; raises KeyboardInterrupt on Ctrl-C, EOFError on EOF."""
        ...

    def yes_no(self, message: str) -> bool:
        """True for yes; raises KeyboardInterrupt on Ctrl-C, EOFError on EOF."""
        ...


class QuestionaryPrompt:
    """The real terminal prompt."""

    def text(self, message: str) -> str:
        import questionary

        answer = questionary.text(message).unsafe_ask()
        return str(answer or "")

    def yes_no(self, message: str) -> bool:
        import questionary

        return bool(questionary.confirm(message, default=False).unsafe_ask())


@dataclass(frozen=True)
class Outcome:
    confirmed: bool
    typed: tuple[str, ...]  # the last answer, split into names
    interrupted: bool = False
    reason: str = ""


def split_names(answer: str) -> tuple[str, ...]:
    """Names separated by spaces and/or commas, in the order typed."""
    return tuple(name for name in re.split(r"[\s,]+", answer.strip()) if name)


def matches(typed: Sequence[str], expected: Sequence[str]) -> bool:
    """Every expected name, nothing else (any order; exact spelling)."""
    return set(typed) == set(expected)


def confirm_nodes(expected: Sequence[str], prompt: Prompt, attempts: int = ATTEMPTS) -> Outcome:
    """Ask for the affected node names; an empty answer stops at once."""
    typed: tuple[str, ...] = ()
    for attempt in range(1, attempts + 1):
        left = attempts - attempt
        try:
            answer = prompt.text(
                f"Type the names of the {len(expected)} affected node(s) to apply"
                f" (attempt {attempt} of {attempts}):"
            )
        except KeyboardInterrupt:
            return Outcome(False, typed, interrupted=True, reason="interrupted")
        except EOFError:
            answer = ""
        typed = split_names(answer)
        if not typed:
            return Outcome(False, typed, reason="empty answer")
        if matches(typed, expected):
            return Outcome(True, typed)
        missing = sorted(set(expected) - set(typed))
        extra = sorted(set(typed) - set(expected))
        print(
            "Not confirmed: "
            + "; ".join(
                part
                for part in (
                    f"missing {', '.join(missing)}" if missing else "",
                    f"not affected: {', '.join(extra)}" if extra else "",
                )
                if part
            )
            + (f". {left} attempt(s) left." if left else ".")
        )
    return Outcome(False, typed, reason=f"{attempts} failed attempts")


def confirm_plain(prompt: Prompt) -> Outcome:
    """Nothing destructive: a plain yes/no."""
    try:
        answer = prompt.yes_no("Nothing is destroyed or replaced. Apply these changes?")
    except KeyboardInterrupt:
        return Outcome(False, (), interrupted=True, reason="interrupted")
    except EOFError:
        answer = False
    return Outcome(answer, ("yes",) if answer else ("no",), reason="" if answer else "answered no")


def confirm_from_env(expected: Sequence[str], env: Mapping[str, str]) -> Outcome | None:
    """Non-interactive: SAFETERRAFORM_CONFIRM_NODES must equal the affected set.

    None when the variable is not set at all. An empty value means "I expect nothing
    destructive".
    """
    if CONFIRM_VAR not in env:
        return None
    typed = split_names(env[CONFIRM_VAR])
    if matches(typed, expected):
        return Outcome(True, typed)
    return Outcome(
        False,
        typed,
        reason=f"{CONFIRM_VAR}={env[CONFIRM_VAR]!r} does not equal the affected nodes "
        f"({' '.join(expected) or 'none'})",
    )
