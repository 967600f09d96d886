"""Is a coding agent running this command, and what says so (docs/agents.md)?

Two kinds of evidence, either one enough: a variable of `[confirm] agent_env` set in the
environment, or a process among the command's ancestors whose executable is a coding
agent's (`[confirm] agent_processes`). Variables are lost to `env -i`, `sudo`, `su -`, a
Makefile that clears its environment; the process tree survives all of them on this
machine. Where neither can be known (an agent on another machine that runs `ssh bastion
terraform apply`) is out of scope (README "Coding agents").

Walked only for guarded commands, never on the pass-through path (its cost: README
"Coding agents").
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Mapping, Sequence

from safeterraform.policy import Config, agent_markers

# Interpreters that run an agent's script: the script's own name is their first argument
# (`node /usr/lib/node_modules/.../gemini`, `python3 ~/.local/bin/aider`).
_INTERPRETERS = ("node", "nodejs", "bun", "deno", "python", "ruby", "perl")
# What an executable's or a script's name may carry beyond the agent's own: `Claude`,
# `claude.exe`, `cli.js` in `@anthropic-ai/claude-code`, `gemini-cli` (docs/agents.md).
_SUFFIXES = (".exe", ".js", ".mjs", ".cjs", ".py", ".sh")
COMM_LEN = 15  # the kernel keeps this much of an executable's name (TASK_COMM_LEN - 1)
MAX_ANCESTORS = 64  # a loop guard: no real process tree is this deep


class Process:
    """An ancestor: its pid and the names its executable goes by."""

    __slots__ = ("names", "pid")

    def __init__(self, pid: int, names: tuple[str, ...]) -> None:
        self.pid = pid
        self.names = names


def names_of(comm: str, argv: Sequence[str]) -> tuple[str, ...]:
    """The names a process goes by: its kernel name (`comm`), its argv[0]'s basename and,
    for an interpreter, its script's basename (pure)."""
    names = [comm]
    if argv:
        first = os.path.basename(argv[0])
        names.append(first)
        interpreter = first.rstrip("0123456789.") in _INTERPRETERS
        script = next((word for word in argv[1:] if not word.startswith("-")), None)
        if interpreter and script is not None:
            # `node .../@anthropic-ai/claude-code/cli.js`: the package is the script's folder.
            names.extend(part for part in script.split("/")[-3:])
    return tuple(dict.fromkeys(name for name in names if name))


def is_agent(name: str, executable: str) -> bool:
    """Whether a process name is the agent `executable`'s (pure): the same name in any
    case, without an extension, with a `-suffix` (`claude-code`, `gemini-cli`), or the
    kernel's 15-character cut of a longer one."""
    name, executable = name.lower(), executable.lower()
    for suffix in _SUFFIXES:
        name = name.removesuffix(suffix)
    if len(name) == COMM_LEN and executable.startswith(name):
        return True
    return name == executable or name.startswith(f"{executable}-")


def _linux_parent(pid: int) -> tuple[int, Process] | None:
    """(ppid, the process) from /proc/PID/stat and cmdline; None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read().decode("utf-8", "replace")
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            cmdline = handle.read()
    except OSError:
        return None
    # `pid (comm) state ppid ...`: comm may hold spaces and parentheses; it ends at the last ')'.
    start, end = stat.find("("), stat.rfind(")")
    fields = stat[end + 2 :].split()
    if start < 0 or end < 0 or len(fields) < 2:
        return None
    argv = [word.decode("utf-8", "replace") for word in cmdline.split(b"\0") if word]
    names = names_of(stat[start + 1 : end], argv)
    # The file it runs, whatever it was called by (a symlink, a rewritten argv[0]); none
    # for another user's process or a kernel thread.
    with contextlib.suppress(OSError):
        names += (os.path.basename(os.readlink(f"/proc/{pid}/exe")),)
    return int(fields[1]), Process(pid, names)


def _ps_table() -> dict[int, tuple[int, str]]:
    """pid -> (ppid, command name) of every process, from one `ps` (macOS, BSD)."""
    import subprocess

    try:
        listing = subprocess.run(
            ["/bin/ps", "-A", "-o", "pid=,ppid=,comm="],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    table = {}
    for line in listing.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3 and parts[0].isdigit() and parts[1].isdigit():
            table[int(parts[0])] = (int(parts[1]), parts[2])
    return table


def ancestors(pid: int | None = None) -> list[Process]:
    """This process's ancestors, parent first, up to (not including) init."""
    pid = os.getppid() if pid is None else pid
    found: list[Process] = []
    if os.path.isdir("/proc/self"):
        while pid > 1 and len(found) < MAX_ANCESTORS:
            entry = _linux_parent(pid)
            if entry is None:
                break
            pid, process = entry
            found.append(process)
        return found
    if sys.platform == "win32":  # pragma: no cover - the shim does not run there
        return found
    table = _ps_table()
    while pid > 1 and pid in table and len(found) < MAX_ANCESTORS:
        parent, command = table[pid]
        found.append(Process(pid, names_of(os.path.basename(command), [command])))
        pid = parent
    return found


def agent_process(executables: Sequence[str], chain: Sequence[Process]) -> Process | None:
    """The nearest ancestor that is a coding agent's executable, or None (pure)."""
    return next((process for process in chain if _agent_name(executables, process)), None)


def _agent_name(executables: Sequence[str], process: Process) -> str | None:
    """The agent executable one of `process`'s names is, or None (pure)."""
    return next((exe for name in process.names for exe in executables if is_agent(name, exe)), None)


def evidence(
    config: Config, env: Mapping[str, str], chain: Sequence[Process] | None = None
) -> list[tuple[str, str]]:
    """What says a coding agent runs this command: (as recorded, as said) for each, e.g.
    (`CLAUDECODE`, `CLAUDECODE is set`), (`claude (process 4242)`, `it runs under claude
    (process 4242)`); empty: no sign of one. The one answer to "is this an agent?" for
    every guarded command, approve, rollout, the audit record and doctor."""
    found = [(name, f"{name} is set") for name in agent_markers(config, env)]
    process = agent_process(config.agent_processes, ancestors() if chain is None else chain)
    if process is not None:
        name = _agent_name(config.agent_processes, process)
        recorded = f"{name} (process {process.pid})"
        found.append((recorded, f"it runs under {recorded}"))
    return found


def markers(
    config: Config, env: Mapping[str, str], chain: Sequence[Process] | None = None
) -> list[str]:
    """The phrases of `evidence` (`CLAUDECODE is set`, `it runs under claude (process 4242)`)."""
    return [said for _, said in evidence(config, env, chain)]
