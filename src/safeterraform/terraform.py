"""The one place that runs a process: terraform's typed methods, hooks, readable errors.

Captured runs (state pull) go through `subprocess`; `show -json` writes to a file (see
there); runs the operator watches (plan, apply, hooks) stay in the foreground with the
terminal, and the shim never forwards a second SIGINT (docs/design.md#signals-and-terminals).
"""

from __future__ import annotations

import codecs
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from types import FrameType
from typing import IO, Any

from safeterraform.errors import PlanError, SafeTerraformError
from safeterraform.inert import Stream


class TerraformFailed(SafeTerraformError):
    """Terraform itself failed; its own output has been shown; exit with its code."""

    def __init__(self, message: str, exit_code: int, stderr: str = "") -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.stderr = stderr


@dataclass(frozen=True)
class Terraform:
    """The real binary, the working directory it runs in and its environment."""

    path: str
    cwd: str
    env: Mapping[str, str]
    chdir: str | None = None  # passed on as -chdir= so relative paths mean the same
    color: bool = True  # False: composed plan/apply runs get -no-color (NO_COLOR, no tty)
    pass_fds: tuple[int, ...] = ()  # descriptors a child reads as /dev/fd/N (private plans)

    def _argv(self, args: Sequence[str]) -> list[str]:
        return [f"-chdir={self.chdir}", *args] if self.chdir else list(args)

    def with_env(self, **changes: str) -> Terraform:
        return replace(self, env={**self.env, **changes})

    def with_fds(self, *fds: int) -> Terraform:
        return replace(self, pass_fds=(*self.pass_fds, *fds))

    def composed(self, command: str, args: Sequence[str]) -> list[str]:
        """A command line the shim composes: `-no-color` added when output is plain."""
        return [command, *(() if self.color else ("-no-color",)), *args]

    def capture(self, args: Sequence[str]) -> bytes:
        """Run with output captured; a failure raises with terraform's own error line.

        Plain subprocess: importing `sh` cost ~0.1 s of the guarded apply (docs/perf.md)."""
        try:
            result = subprocess.run(
                [self.path, *self._argv(args)],
                cwd=self.cwd,
                env=dict(self.env),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                pass_fds=self.pass_fds,
                check=False,
            )
        except OSError as error:
            raise TerraformFailed(
                f"safeterraform: cannot run {self.path}: {error.strerror}", 127
            ) from None
        if result.returncode != 0:
            stderr = result.stderr.decode(errors="replace")
            code = exit_code_of(result.returncode)
            raise TerraformFailed(
                f"safeterraform: terraform {' '.join(args)} failed: "
                f"{error_line(stderr) or f'exit {code}'}",
                code,
                stderr,
            )
        return result.stdout

    def show_json(self, plan_file: str) -> dict[str, Any]:
        """`terraform show -json PLANFILE`, parsed; a corrupt plan is a PlanError."""
        return self.start_show_json(plan_file).result()

    def start_show_json(self, plan_file: str) -> ShowJson:
        """Start `terraform show -json PLANFILE`; `.result()` waits for it and parses.

        Plain subprocess, not `sh`, and the JSON goes to an unlinked temporary file rather
        than a pipe: for a 2,000-resource plan (3.4 MiB) reading a pipe from Python made
        terraform wait on us. Started early, terraform decodes the plan while this process
        imports and indexes the snapshot (bench/bench_check.py).
        """
        output = tempfile.TemporaryFile()  # noqa: SIM115 (closed by ShowJson)
        errors = tempfile.TemporaryFile()  # noqa: SIM115
        try:
            process = subprocess.Popen(
                [self.path, *self._argv(["show", "-json", "-no-color", plan_file])],
                cwd=self.cwd,
                env=dict(self.env),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=errors,
                pass_fds=self.pass_fds,
            )
        except OSError as error:
            output.close()
            errors.close()
            raise PlanError(f"safeterraform: cannot run {self.path}: {error.strerror}") from None
        return ShowJson(plan_file, process, output, errors)

    def plan_for_the_shim(
        self, flags: Sequence[str], out: str, started: Callable[[], object] | None = None
    ) -> int:
        """A plan the shim applies itself, in the foreground. TF_IN_AUTOMATION=1 keeps
        terraform from telling the operator to run `terraform apply OUT`: OUT is a hidden
        file the shim applies (and removes) itself."""
        composed = self.composed("plan", [*flags, f"-out={out}"])
        return self.with_env(TF_IN_AUTOMATION="1").foreground(composed, started)

    def state_pull(self) -> bytes:
        return self.capture(["state", "pull"])

    def foreground(
        self,
        args: Sequence[str],
        started: Callable[[], object] | None = None,
        *,
        inert_output: bool = True,
    ) -> int:
        """Run in the foreground with the terminal; return terraform's exit code.

        Ctrl-C at the terminal reaches terraform directly (same process group), so
        the shim ignores SIGINT while waiting and never sends a second one. SIGTERM
        sent to the shim is passed on once. `started` runs as soon as terraform has started.
        Its output is shown inert (inert.Stream):
        plan and show print values from state and config as they are. An apply keeps the
        terminal itself (`inert_output=False`): through a pipe, a shim killed mid-apply
        would take terraform down with SIGPIPE at its next line, lock held, half applied.
        """
        argv = [self.path, *self._argv(args)]
        return foreground(
            argv, self.cwd, self.env, self.pass_fds, started, inert_output=inert_output
        )


class ShowJson:
    """A `terraform show -json` under way (Terraform.start_show_json)."""

    def __init__(
        self,
        plan_file: str,
        process: subprocess.Popen[bytes],
        output: IO[bytes],
        errors: IO[bytes],
    ) -> None:
        self.plan_file = plan_file
        self._process = process
        self._output = output
        self._errors = errors

    def result(self) -> dict[str, Any]:
        """Wait for terraform; the plan JSON, or PlanError when it cannot read the plan."""
        plan_file = self.plan_file
        try:
            returncode = self._process.wait()
            self._output.seek(0)
            shown = self._output.read()
            self._errors.seek(0)
            stderr = self._errors.read().decode(errors="replace")
        finally:
            self._close()
        if returncode != 0:
            # Terraform tries the file as state, then as a plan; the plan reading is the news.
            detail = error_line(stderr, prefer="Plan read error:") or f"exit {returncode}"
            raise PlanError(f"safeterraform: cannot read plan {plan_file}: {detail}")
        try:
            data = json.loads(shown)
        except json.JSONDecodeError as error:
            raise PlanError(f"safeterraform: terraform show -json {plan_file}: {error}") from None
        if not isinstance(data, dict):
            raise PlanError(f"safeterraform: {plan_file} did not show as a plan")
        return data

    def cancel(self) -> None:
        """Stop terraform (our own work failed meanwhile) and let it go."""
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        self._close()

    def _close(self) -> None:
        self._output.close()
        self._errors.close()


def foreground(
    argv: Sequence[str],
    cwd: str,
    env: Mapping[str, str],
    pass_fds: Sequence[int] = (),
    started: Callable[[], object] | None = None,
    *,
    inert_output: bool = False,
) -> int:
    """Run any command (terraform, a hook) in the foreground; return its exit code.

    Ctrl-C at the terminal reaches the child directly (same process group), so we ignore
    SIGINT while waiting and never send a second one; SIGTERM is passed on once. SIGHUP
    (the terminal closed) reaches the child from the terminal itself: we wait for it.
    `started` (it starts work that does not depend on the child, in threads) runs once
    the child has started, under the same signal rules; if it fails, the child is still
    waited for. `inert_output`: its stdout and stderr reach ours through inert.Stream
    (stdin stays the terminal, so terraform's own prompts still work).
    """
    piped = subprocess.PIPE if inert_output else None
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()  # what we printed comes before what it prints
    try:
        process = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            pass_fds=tuple(pass_fds),
            stdout=piped,
            stderr=piped,
        )
    except OSError as error:
        raise SafeTerraformError(f"safeterraform: cannot run {argv[0]}: {error.strerror}") from None
    pumps = [
        _pump(source, target)
        for source, target in ((process.stdout, 1), (process.stderr, 2))
        if source is not None
    ]
    forwarded = False

    def on_term(signum: int, frame: FrameType | None) -> None:
        nonlocal forwarded
        if not forwarded:
            forwarded = True
            process.send_signal(signum)

    previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
    previous_term = signal.signal(signal.SIGTERM, on_term)
    previous_hup = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        try:
            if started is not None:
                started()
            code = exit_code_of(process.wait())
        finally:
            process.wait()  # also when `started` failed: the child is waited for
            for pump in pumps:
                pump.join()
        return code
    finally:
        signal.signal(signal.SIGINT, previous_int)
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGHUP, previous_hup)


def _pump(source: IO[bytes], target: int) -> threading.Thread:
    """Copy a child's output to our descriptor `target` as it comes, made inert."""

    def work() -> None:
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        stream = Stream()
        with source:
            while True:
                chunk = os.read(source.fileno(), 65536)
                text = stream.feed(decoder.decode(chunk, final=not chunk))
                if not chunk:
                    text += stream.end()
                with contextlib.suppress(OSError):
                    _write_all(target, text.encode())
                if not chunk:
                    return

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def error_line(stderr: str, prefer: str | None = None) -> str:
    """Terraform's diagnostics as one line: `Summary: first paragraph of the detail`.

    With `prefer`, a detail paragraph starting with it wins over everything else.
    """
    text = _ANSI.sub("", stderr)
    paragraphs = []
    for block in re.split(r"\n\s*\n", text):
        lines = [line.strip(" │╷╵").strip() for line in block.splitlines()]
        joined = " ".join(line for line in lines if line)
        if joined:
            paragraphs.append(joined)
    if prefer is not None:
        for paragraph in paragraphs:
            if paragraph.startswith(prefer):
                return paragraph[len(prefer) :].strip()
    for number, paragraph in enumerate(paragraphs):
        if paragraph.startswith("Error: "):
            summary = paragraph[len("Error: ") :]
            following = paragraphs[number + 1 : number + 2]
            if following and not following[0].startswith(("Error: ", "Warning: ")):
                return f"{summary}: {following[0]}"
            return summary
    return paragraphs[-1] if paragraphs else ""


def exit_code_of(returncode: int) -> int:
    """A child killed by signal N exits the shell way: 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


def environ() -> dict[str, str]:
    return dict(os.environ)
