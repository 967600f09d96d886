"""Only keys typed after the plan is shown confirm it (README "What is enforced", issue 26).

A real pseudo-terminal (pexpect): the names are written to the terminal the moment the
command starts, before terraform has planned anything, as a runbook pasted with the names
on its next line would. The state file's bytes and reset.log are the witnesses.
"""

from __future__ import annotations

import contextlib
import os
import signal
import termios
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pexpect

from safeterraform.ui import discard_typeahead
from tests import tfharness
from tests.test_guard import (
    RESET,
    finish,
    incident,
    incident_template,
    reset_log,
    spawn,
)
from tests.test_rollout import resets, spawn_rollout
from tests.test_statecmd import POWDER

__all__ = ["incident", "incident_template"]


def test_names_typed_before_the_plan_is_shown_do_not_confirm_it(
    incident: Path, shim_bin: Path, env: dict[str, str]
) -> None:
    """Mutation: UI.ask no longer calls discard_typeahead -> the early names answer the
    prompt and the three nodes are reset before anyone saw the plan."""
    before = tfharness.state_bytes(incident)
    child = spawn(shim_bin, ["apply"], incident, env)
    child.sendline("phoebe powder poison")  # before the plan appears
    child.expect("Type the names")
    assert "discarded" in (child.before or "")
    # The prompt still waits: nothing answered it, nothing was applied.
    index = child.expect(["Not confirmed", "not confirmed", "Apply complete", pexpect.TIMEOUT], 3)
    assert index == 3, child.before
    assert tfharness.state_bytes(incident) == before
    assert reset_log(incident) == []
    # The same names typed after the prompt was drawn apply the plan.
    child.sendline("phoebe powder poison")
    child.expect("Apply complete!")
    assert finish(child) == 0
    assert sorted(reset_log(incident)) == [f"{RESET} 192.0.2.6{n}" for n in (5, 6, 7)]


def test_an_early_enter_does_not_abort_the_confirmation(
    incident: Path, shim_bin: Path, env: dict[str, str]
) -> None:
    """A stray Enter pressed while terraform plans is not an empty answer.
    Mutation: UI.ask skips discard_typeahead -> "not confirmed (empty answer)", exit 4."""
    child = spawn(shim_bin, ["apply"], incident, env)
    child.sendline("")
    child.expect("Type the names")
    index = child.expect(["empty answer", pexpect.TIMEOUT], 3)
    assert index == 1, child.before
    child.sendintr()
    assert finish(child) == 130
    assert reset_log(incident) == []


def test_names_pasted_at_one_step_do_not_confirm_the_next_steps_plan(
    incident: Path, env: dict[str, str], home: Path
) -> None:
    """A rollout asks once per node, in one process. The three names pasted at the first
    node's prompt answer that prompt only: the prompt library keeps the lines it read
    past the first answer for the next prompt, and those were typed before the second
    node's plan was shown.

    Mutation: UI.ask discarding only the terminal's pending input (not the prompt
    library's kept lines) -> poison is reset with no name typed after its plan appeared."""
    child = spawn_rollout(["--order", "powder,poison,phoebe"], incident, env)
    child.expect("node 1 of 3: powder")
    child.expect("Type the names of the 1 affected node")
    child.send("powder\rpoison\rphoebe\r")  # typed in one go, each name and Enter
    child.expect("Apply complete!")
    child.expect("node 2 of 3: poison")
    child.expect("Type the names of the 1 affected node")
    shown = child.before or ""
    index = child.expect(["Apply complete", "onfirmed", pexpect.TIMEOUT], 3)
    assert index == 2, child.before
    assert resets(incident) == ["powder"]
    assert "14 key(s) typed before this question was shown were discarded" in shown
    child.sendintr()
    assert finish(child) == 130
    assert resets(incident) == ["powder"]


def test_the_window_that_began_when_terraform_planned_ends_a_window_after_it() -> None:
    """The first question after a plan waits only for what is left of the window that
    began when terraform finished planning (UI.plan_shown), and drops what arrives
    meanwhile. A real pseudo-terminal pair, its reader in canonical mode.

    Mutations: `since` ignored (a whole window again after the review: the prompt comes
    0.1 s later, as before), or no wait at all (the line sent mid-window is kept)."""
    controller, terminal = os.openpty()
    try:
        window = 1.0
        since = time.monotonic() - 0.5  # the plan ended half a window ago
        writer = threading.Timer(0.25, os.write, (controller, b"phoebe poison powder\n"))
        writer.start()
        started = time.monotonic()
        dropped = discard_typeahead(terminal, window=window, since=since)
        waited = time.monotonic() - started
        writer.join()
        assert since + window <= time.monotonic()
        assert waited < 0.9  # what was left of the window, not a whole one
        assert dropped == len(b"phoebe poison powder\n")
        os.set_blocking(terminal, False)
        try:
            left = os.read(terminal, 100)
        except BlockingIOError:
            left = b""
        assert left == b""
    finally:
        os.close(controller)
        os.close(terminal)


DISCARDED = "were discarded: only what is typed after reading the plan counts"


def early_enter(child: pexpect.spawn) -> pexpect.spawn:
    """An Enter sent at once: dropped before the question, and the shim says so."""
    child.sendline("")
    return child


def before_the_question(
    start: Callable[[], pexpect.spawn], act: Callable[[pexpect.spawn], object]
) -> pexpect.spawn:
    """Start the shim (`start` spawns it and sends an early Enter) and stop it once it says
    it dropped keys, while its terminal is still in canonical mode: the prompt library
    switches it to raw mode before the flush that precedes the question's first drawing,
    so that flush has not run yet. `act` (type, or stall the terminal) while it is
    stopped, then let it go on. On a loaded machine the stop can land later, with the
    question drawn in the next moment: that shim is interrupted at its question (nothing
    is applied without an answer) and a new one started, up to five times."""
    for _ in range(5):
        child = start()
        child.expect(DISCARDED)
        os.kill(child.pid, signal.SIGSTOP)
        if termios.tcgetattr(child.child_fd)[3] & termios.ICANON:
            try:
                drawn = child.expect(["Type the names", pexpect.TIMEOUT], timeout=1)
                act(child)
            finally:
                os.kill(child.pid, signal.SIGCONT)
            assert drawn == 1, "the question was drawn before the shim stopped: nothing tested"
            return child
        os.kill(child.pid, signal.SIGCONT)
        child.expect("Type the names")
        child.sendintr()
        assert finish(child) == 130
    raise AssertionError("the shim never stopped before its prompt took the terminal")


def spawn_shown_elsewhere(
    shim_bin: Path, stdout: str, cwd: Path, env: dict[str, str]
) -> pexpect.spawn:
    """`terraform apply` in a pseudo-terminal with its stdout sent to `stdout`."""
    return pexpect.spawn(
        "/bin/sh",
        ["-c", f'exec "{shim_bin}" apply > {stdout}'],
        cwd=str(cwd),
        env={**env, "TERM": "dumb"},
        encoding="utf-8",
        timeout=120,
        dimensions=(50, 200),
    )


def test_a_line_typed_after_the_flush_but_before_the_question_does_not_confirm_it(
    incident: Path, shim_bin: Path, env: dict[str, str]
) -> None:
    """The shim is stopped right after it says it dropped keys, before the question is
    drawn; the names are typed then, and the shim goes on: they do not answer it.

    Mutation: QuestionaryPrompt.text without `_drop_keys_at_first_draw` -> the line typed
    in the gap between the flush and the drawing answers the question, three resets."""
    before = tfharness.state_bytes(incident)
    child = before_the_question(
        lambda: early_enter(spawn(shim_bin, ["apply"], incident, env)),
        lambda child: child.send("phoebe powder poison\r"),
    )
    child.expect("Type the names")
    index = child.expect(["Apply complete", "onfirmed", pexpect.TIMEOUT], 3)
    assert index == 2, child.before
    assert reset_log(incident) == []
    assert tfharness.state_bytes(incident) == before
    child.sendline("phoebe powder poison")
    child.expect("as this question was being drawn were discarded")
    child.expect("Apply complete!")
    assert finish(child) == 0
    assert len(reset_log(incident)) == 3


def test_a_state_command_does_not_take_a_line_typed_while_its_prompt_is_loading(
    incident: Path, shim_bin: Path, env: dict[str, str]
) -> None:
    """`state rm` imports the prompt library after the flush (~0.1 s, not while terraform
    runs): a line typed before the question is drawn does not answer it.

    Mutation: as above; the state loses powder without a name typed after the question."""
    before = tfharness.state_bytes(incident)
    child = before_the_question(
        lambda: early_enter(spawn(shim_bin, ["state", "rm", POWDER], incident, env)),
        lambda child: child.send("powder\r"),  # no question on screen yet
    )
    child.expect("Type the names")
    index = child.expect(["Removed", "onfirmed", pexpect.TIMEOUT], 3)
    assert index == 2, child.before
    assert tfharness.state_bytes(incident) == before
    child.sendintr()
    assert finish(child) == 130
    assert tfharness.state_bytes(incident) == before


def test_names_typed_blind_do_not_confirm_a_plan_shown_to_nobody(
    incident: Path, shim_bin: Path, env: dict[str, str]
) -> None:
    """stdin is a terminal, stdout goes to a file: the plan and the question would go to
    the file while the names are typed blind. Nobody is asked; it is refused as a command
    without a terminal is, saying why (found by an outside attack pass).

    Mutation: UI's `interactive` from stdin alone -> the names typed after the question
    went into the file reset the three nodes."""
    before = tfharness.state_bytes(incident)
    child = spawn_shown_elsewhere(shim_bin, "apply.log 2>&1", incident, env)
    child.sendline("phoebe powder poison")  # typed blind, while it plans
    log = incident / "apply.log"
    deadline = time.monotonic() + 60
    while child.isalive() and "Type the names" not in log.read_text():
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    if child.isalive():  # the question went into the file: answer it blind, as a person would
        child.sendline("phoebe powder poison")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 3, log.read_text()
    assert reset_log(incident) == []
    assert tfharness.state_bytes(incident) == before
    written = log.read_text()
    assert "stdout is not a terminal (redirected)" in written
    assert "Type the names" not in written


def test_names_typed_at_one_terminal_do_not_confirm_a_plan_shown_on_another(
    incident: Path, shim_bin: Path, env: dict[str, str]
) -> None:
    """stdin is the operator's terminal, stdout another one (another window, a tmux pane
    nobody looks at): the plan and the question would go there while the names are typed
    blind here. Nobody is asked (found by an outside attack pass).

    Mutation: `no_terminal` without the same-terminal check -> three resets."""
    before = tfharness.state_bytes(incident)
    controller, other = os.openpty()
    shown = bytearray()

    def read_other() -> None:  # a terminal nobody looks at
        with contextlib.suppress(OSError):
            while chunk := os.read(controller, 65536):
                shown.extend(chunk)

    threading.Thread(target=read_other, daemon=True).start()
    try:
        child = spawn_shown_elsewhere(shim_bin, os.ttyname(other), incident, env)
        deadline = time.monotonic() + 60
        while child.isalive() and b"Type the names" not in shown:
            assert time.monotonic() < deadline, shown.decode(errors="replace")
            time.sleep(0.1)
        if child.isalive():  # the question is on the other terminal: answer it blind
            time.sleep(0.3)
            child.sendline("phoebe powder poison")
        child.expect(pexpect.EOF)
        said = child.before or ""  # stderr: this terminal
        child.close()
    finally:
        os.close(other)
    assert child.exitstatus == 3, said
    assert reset_log(incident) == []
    assert tfharness.state_bytes(incident) == before
    assert "stdin and stdout are not the same terminal" in " ".join(said.split())


def _fill_output(pid: int) -> None:
    """The terminal stops reading the shim's output (a stalled ssh link): fill its queue."""
    fd = os.open(os.readlink(f"/proc/{pid}/fd/1"), os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY)
    try:
        # To the last byte (a short question would still fit), and again until the
        # kernel, which moves a pty's output on in the background, has no room left.
        wrote = True
        while wrote:
            wrote = False
            for size in (1024, 1):
                with contextlib.suppress(BlockingIOError):
                    while True:
                        os.write(fd, b"." * size)
                        wrote = True
            time.sleep(0.1)
    finally:
        os.close(fd)


def test_names_typed_while_the_question_waits_to_be_written_do_not_answer_it(
    incident: Path, shim_bin: Path, env: dict[str, str]
) -> None:
    """The shim flushes the terminal, then waits writing the question to a terminal that
    does not read its output (a stalled ssh link); the name typed meanwhile, the question
    not on the screen, does not answer it once the terminal reads again (found by an
    outside attack pass). `state rm` builds its prompt ~0.1 s after its flush, so the
    shim is surely stopped before the question.

    Mutation: QuestionaryPrompt.text without `_drop_keys_at_first_draw` -> powder is
    removed by a name typed before its question was shown."""
    before = tfharness.state_bytes(incident)
    child = before_the_question(
        lambda: early_enter(spawn(shim_bin, ["state", "rm", POWDER], incident, env)),
        lambda child: _fill_output(child.pid),
    )
    time.sleep(1)  # the shim waits in a write of its prompt
    os.write(child.child_fd, b"powder\r")  # the question is not on the screen
    time.sleep(0.5)
    child.expect("Type the names")  # the terminal reads again: the backlog, the question
    index = child.expect(["Removed", "onfirmed", pexpect.TIMEOUT], 3)
    assert index == 2, "powder was removed by a name typed before its question was shown"
    assert tfharness.state_bytes(incident) == before
    child.sendintr()
    assert finish(child) == 130
    assert tfharness.state_bytes(incident) == before
