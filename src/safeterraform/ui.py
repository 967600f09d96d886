"""The terminal of a guarded command: consoles, one-line messages, banners and prompts.

Everything the guarded flows show goes through a `UI`, and through its redactor first, so
no output path can print a `-var` value (PRODUCT.md §8). The CLI's own commands and the
shim entry print their last line themselves, as they exit.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from safeterraform.redact import Redactor

if TYPE_CHECKING:
    from rich.console import Console, RenderableType


class Prompt(Protocol):
    def text(self, message: str) -> str:
        """The operator's answer; raises KeyboardInterrupt on Ctrl-C, EOFError on EOF."""
        ...


class QuestionaryPrompt:
    """The real terminal prompt."""

    def text(self, message: str) -> str:
        import questionary

        answer = questionary.text(message).unsafe_ask()
        return str(answer or "")


def plain_output(env: Mapping[str, str], stream_is_tty: bool) -> bool:
    """No colour: NO_COLOR is set (https://no-color.org) or the output is not a terminal."""
    return "NO_COLOR" in env or not stream_is_tty


@dataclass
class UI:
    """The consoles and prompt of one guarded command, with the redactor in front.

    The consoles are made when first used: importing rich costs ~50 ms, which a guarded
    apply spends while terraform plans instead of before (docs/perf.md)."""

    console: Callable[[bool], Console]  # makes the stdout (False) or stderr (True) console
    prompt: Prompt
    interactive: bool  # a person can answer on stdin
    redactor: Redactor = field(default_factory=Redactor)
    consoles: dict[bool, Console] = field(default_factory=dict)

    @property
    def out(self) -> Console:
        if False not in self.consoles:
            self.consoles[False] = self.console(False)
        return self.consoles[False]

    @property
    def err(self) -> Console:
        if True not in self.consoles:
            self.consoles[True] = self.console(True)
        return self.consoles[True]

    def modules(self, asks: bool) -> tuple[str, ...]:
        """What showing a review and (`asks`) asking a person will import: rich, and the
        prompt's library at a terminal. Flows import them ahead, while terraform runs
        (docs/perf.md)."""
        if asks and self.interactive and isinstance(self.prompt, QuestionaryPrompt):
            return ("rich.console", "questionary")
        return ("rich.console",)

    def say(self, line: str) -> None:
        """One plain line on stderr, never wrapped; a closed terminal is not an error."""
        with contextlib.suppress(OSError):
            print(self.redactor.scrub(line), file=sys.stderr, flush=True)

    def note(self, line: str) -> None:
        """One plain line on stdout, never wrapped."""
        with contextlib.suppress(OSError):
            self.out.print(self.redactor.scrub(line), markup=False, highlight=False, soft_wrap=True)

    def show(self, renderable: RenderableType) -> None:
        """A rendering (the destructive diff) on stdout; its text was built from the plan,
        whose sensitive values are already masked as Terraform masks them."""
        with contextlib.suppress(OSError):
            self.out.print(renderable, soft_wrap=True)

    def banner(self, text: str) -> None:
        """A loud red panel on stderr (break-glass)."""
        from rich.panel import Panel

        with contextlib.suppress(OSError):
            self.err.print(Panel(self.redactor.scrub_typed(text), style="bold red"))

    def ask(self, message: str) -> str:
        return self.prompt.text(message)

    @property
    def tell(self) -> Callable[[str], None]:
        return self.say


def make(
    env: Mapping[str, str],
    redactor: Redactor,
    *,
    prompt: Prompt | None = None,
    interactive: bool | None = None,
    out: Console | None = None,
) -> UI:
    """The real terminal unless told otherwise; plain text when NO_COLOR or not a tty."""

    def console(stderr: bool) -> Console:
        from rich.console import Console

        stream = sys.stderr if stderr else sys.stdout
        plain = plain_output(env, stream.isatty())
        return Console(
            stderr=stderr,
            no_color=plain,
            highlight=False,
            color_system=None if plain else "auto",
        )

    return UI(
        console=console,
        prompt=prompt or QuestionaryPrompt(),
        interactive=sys.stdin.isatty() if interactive is None else interactive,
        redactor=redactor,
        consoles={} if out is None else {False: out},
    )


def terminal_width(default: int = 80) -> int:
    try:
        return os.get_terminal_size().columns
    except OSError:
        return default
