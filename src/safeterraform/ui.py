"""The terminal of a guarded command: consoles, one-line messages, banners and prompts.

Everything the guarded flows show goes through a `UI`, and through its redactor first, so
no output path can print a `-var` value (docs/design.md#secrets). The CLI's own commands and the
shim entry print their last line themselves, as they exit.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from safeterraform.inert import inert
from safeterraform.redact import Redactor

if TYPE_CHECKING:
    from types import FrameType

    from prompt_toolkit.application import Application
    from prompt_toolkit.input import Input
    from rich.console import Console, RenderableType

    from safeterraform.blast import Analysis


class Prompt(Protocol):
    def text(self, message: str, *, fresh: bool = False) -> str:
        """The operator's answer; raises KeyboardInterrupt on Ctrl-C, EOFError on EOF.
        `fresh`: keys that reached the terminal before the question was drawn are dropped
        as it is drawn (counted in `dropped_at_draw`)."""
        ...

    @property
    def dropped_at_draw(self) -> int:
        """How many keys the last fresh question dropped as it was drawn."""
        ...

    def forget_typeahead(self) -> int:
        """Drop the keys an earlier answer read past its Enter; how many there were."""
        ...


class QuestionaryPrompt:
    """The real terminal prompt."""

    def __init__(self) -> None:
        self.input: Input | None = None  # the terminal's input, once a prompt has run
        self.dropped: list[int] = []

    @property
    def dropped_at_draw(self) -> int:
        return sum(self.dropped)

    def text(self, message: str, *, fresh: bool = False) -> str:
        import questionary

        application = questionary.text(message).application
        self.input = application.input
        self.dropped = []
        if fresh:
            _drop_keys_at_first_draw(application, self.dropped)
        with _signals_end(application) as received:
            try:
                answer = application.run()
            except OSError as error:  # the terminal went away (EIO): no answer
                if received:
                    raise received[0] from None
                raise EOFError(str(error)) from error
        if received:
            raise received[0]
        return str(answer or "")

    def forget_typeahead(self) -> int:
        """prompt_toolkit reads the terminal in chunks and keeps what followed an answer's
        Enter for the next prompt (its "typeahead"): lines typed in one go at one node's
        prompt would answer the next node's, before its plan was shown."""
        if self.input is None:
            return 0
        from prompt_toolkit.input.typeahead import get_typeahead

        return sum(len(key.data) for key in get_typeahead(self.input))


def _drop_keys_at_first_draw(application: Application[object], dropped: list[int]) -> None:
    """Drop what reached the terminal before the question is drawn, as it is drawn.

    Between the flush before a question (`discard_typeahead`) and its drawing, the prompt
    library builds the prompt and switches the terminal to raw mode; a line that arrives
    then would be read as the answer though it was typed before the question was shown.
    The first render runs in raw mode, before the event loop reads any input: a flush
    just before it writes the question leaves only what arrives while it is rendered
    (a millisecond or so) and after. (Just after the write, a key sent by a program the
    moment it sees the question could be flushed too, and the prompt would wait.)
    The cursor-position request is turned off: its reply would be flushed with the rest
    and the prompt would wait for it as it ends."""
    import termios

    from prompt_toolkit.output.vt100 import Vt100_Output

    if isinstance(application.output, Vt100_Output):
        application.output.enable_cpr = False
    fd = application.input.fileno()
    drawn: list[bool] = []

    def flush(_: object) -> None:
        if drawn:
            return
        drawn.append(True)
        pending = _pending(fd)  # raw mode: every byte, partial lines too
        with contextlib.suppress(OSError, termios.error):
            termios.tcflush(fd, termios.TCIFLUSH)
            dropped.append(pending)

    application.before_render += flush


@contextlib.contextmanager
def _signals_end(application: Application[object]) -> Iterator[list[BaseException]]:
    """While the prompt runs, SIGTERM and SIGHUP end it with what this command's own
    handler raises (the flow then records the interruption and removes the hidden plan).

    Raised as it is, that exception could land in one of prompt_toolkit's event-loop
    callbacks, where asyncio logs it and carries on: the prompt would then end on the
    closed terminal's EOF as an empty answer, with no record (README, Decisions:
    "Interruptions").
    So the handler keeps the exception, asks the loop to end the prompt with it, and
    the caller raises it once the prompt has returned, whichever way it did (prompt_toolkit
    may still fail to flush to the closed terminal on its way out)."""
    import signal

    received: list[BaseException] = []
    previous: dict[int, Callable[[int, FrameType | None], object]] = {
        signum: handler
        for signum in (signal.SIGTERM, signal.SIGHUP)
        if callable(handler := signal.getsignal(signum))
    }

    def end(error: BaseException) -> None:
        if application.future is not None and not application.future.done():
            application.exit(exception=error)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        try:
            previous[signum](signum, frame)
        except BaseException as error:  # kept, then raised once the prompt has returned
            received.append(error)
            loop = application.loop
            if loop is not None and not loop.is_closed():
                loop.call_soon_threadsafe(end, error)

    for signum in previous:
        signal.signal(signum, on_signal)
    try:
        yield received
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def no_terminal() -> str | None:
    """Why nobody can be asked here, or None: a person answers at a terminal (stdin) and
    reads the plan and the question there (stdout). With stdout redirected (`> log`,
    `| tee log`) they would go where nobody reads them while the names are typed blind
    (README, Decisions: "Who is asked")."""
    if not sys.stdin.isatty():
        return "stdin is not a terminal"
    if not sys.stdout.isatty():
        return (
            "stdout is not a terminal (redirected), so the plan and the question would not "
            "be shown where the names are typed"
        )
    typed, shown = _terminal(sys.stdin.fileno()), _terminal(sys.stdout.fileno())
    if typed is None or typed != shown:
        return (
            "stdin and stdout are not the same terminal, so the plan and the question would "
            "not be shown where the names are typed"
        )
    return None


def _terminal(fd: int) -> int | None:
    """The device of the terminal `fd` is, with /dev/tty (which stands for the process's
    controlling terminal) resolved; None when that cannot be told."""
    try:
        device = os.fstat(fd).st_rdev
    except OSError:
        return None
    if (os.major(device), os.minor(device)) != (5, 0):  # Linux's /dev/tty
        return device
    try:  # proc(5): tty_nr, the 7th field; the command name in parentheses may hold spaces
        with open("/proc/self/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        number = int(fields[4])
    except (OSError, IndexError, ValueError):
        return None
    return os.makedev((number >> 8) & 0xFFF, (number & 0xFF) | ((number >> 12) & 0xFFF00))


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
    # stdout shows no colour (plain_output): its lines are written as they are, without
    # rich (~30 ms of a guarded command's CPU in a pipeline or a runbook, docs/perf.md).
    plain: bool = False

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
        return () if self._plain_out else ("rich.console",)

    @property
    def _plain_out(self) -> bool:
        return self.plain and False not in self.consoles

    def _write(self, text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    terminal: int | None = None  # the descriptor the real prompt reads (typeahead is dropped)
    # When terraform finished planning, if the next question follows that plan: its
    # typeahead window began then (docs/design.md#confirmation).
    planned_at: float | None = None

    def plan_shown(self) -> None:
        """Terraform has printed its plan: the next question's typeahead window starts now,
        while the plan is read and its review printed, instead of after them. Every key
        that arrives before the question is drawn is still dropped, and the question
        still comes at least TYPEAHEAD_WINDOW after the last key typed while terraform
        planned could have been sent."""
        import time

        self.planned_at = time.monotonic()

    def say(self, line: str) -> None:
        """One plain line on stderr, never wrapped; a closed terminal is not an error."""
        with contextlib.suppress(OSError):
            print(inert(self.redactor.scrub(line), newlines=True), file=sys.stderr, flush=True)

    def note(self, line: str) -> None:
        """One plain line on stdout, never wrapped (`:name:` stays text, not an emoji)."""
        with contextlib.suppress(OSError):
            shown = inert(self.redactor.scrub(line), newlines=True)
            if self._plain_out:
                self._write(shown + "\n")
            else:
                self.out.print(shown, markup=False, highlight=False, soft_wrap=True, emoji=False)

    def review(self, analysis: Analysis) -> None:
        """The destructive diff on stdout (render.py): rich's lines at a terminal, the same
        text written as it is otherwise (render.to_text is what a plain console shows)."""
        from safeterraform import render

        if self._plain_out:
            with contextlib.suppress(OSError):
                self._write(render.to_text(analysis))
        else:
            self.show(render.renderable(analysis))

    def show(self, renderable: RenderableType) -> None:
        """A rendering (the destructive diff) on stdout; its text was built from the plan,
        whose sensitive values are already masked as Terraform masks them."""
        with contextlib.suppress(OSError):
            self.out.print(renderable, soft_wrap=True)

    def banner(self, text: str) -> None:
        """A loud red panel on stderr (break-glass)."""
        from rich.panel import Panel
        from rich.text import Text

        with contextlib.suppress(OSError):
            shown = inert(self.redactor.scrub_typed(text), newlines=True)
            self.err.print(Panel(Text(shown), style="bold red"))

    def ask(self, message: str, *, fresh: bool = True) -> str:
        """The answer to a question. `fresh` (every question but the next line of a list
        pasted into the one before): input typed before it was asked is discarded first."""
        since, self.planned_at = self.planned_at, None
        if fresh and self.terminal is not None:
            discarded = self.prompt.forget_typeahead() + discard_typeahead(
                self.terminal, since=since
            )
            if discarded:
                self.say(
                    f"safeterraform: {discarded} key(s) typed before this question was shown "
                    "were discarded: only what is typed after reading the plan counts"
                )
        answer = self.prompt.text(message, fresh=fresh and self.terminal is not None)
        late = self.prompt.dropped_at_draw
        if late:
            self.say(
                f"safeterraform: {late} key(s) typed as this question was being drawn were "
                "discarded: only what is typed after it appeared counts"
            )
        return answer

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

    at_a_terminal = no_terminal() is None
    return UI(
        console=console,
        prompt=prompt or QuestionaryPrompt(),
        interactive=at_a_terminal if interactive is None else interactive,
        redactor=redactor,
        consoles={} if out is None else {False: out},
        plain=plain_output(env, _isatty(sys.stdout)),
        terminal=sys.stdin.fileno() if prompt is None and at_a_terminal else None,
    )


def _isatty(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError, OSError):
        return False


# Keys that arrive this soon before a question is drawn were not typed in answer to it:
# nobody reads a plan and answers in a tenth of a second (README "What is enforced").
TYPEAHEAD_WINDOW = 0.1


def _pending(fd: int) -> int:
    """Bytes waiting on the terminal (complete lines, in canonical mode)."""
    import fcntl
    import struct
    import termios

    try:
        raw = fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0")
    except OSError:
        return 0
    return int(struct.unpack("i", raw)[0])


def discard_typeahead(fd: int, window: float = TYPEAHEAD_WINDOW, since: float | None = None) -> int:
    """Throw away what was typed on the terminal before a question (a runbook pasted with
    the names on the next line, keys pressed while the plan was still running), then wait
    until `window` after `since` (a `time.monotonic()`; default: now) and throw away what
    arrived meanwhile; the bytes counted as discarded. Only keys typed after the question
    is drawn reach the prompt."""
    import termios
    import time

    discarded = _pending(fd)
    try:
        termios.tcflush(fd, termios.TCIFLUSH)
        start = time.monotonic() if since is None else since
        time.sleep(max(0.0, start + window - time.monotonic()))
        discarded += _pending(fd)
        termios.tcflush(fd, termios.TCIFLUSH)
    except (OSError, termios.error):
        return discarded  # not a terminal after all: nothing is pending there
    return discarded


def terminal_width(default: int = 80) -> int:
    try:
        return os.get_terminal_size().columns
    except OSError:
        return default
