"""`safeterraform doctor`: every input to the production verdict, and the verdict."""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from safeterraform import agents, audit, launcher, policy
from safeterraform.commands import lint as lint_command
from safeterraform.confirm import BREAK_GLASS_VAR, CONFIRM_VAR
from safeterraform.errors import RealBinaryNotFound
from safeterraform.inert import inert
from safeterraform.realbin import is_shim

ALIASES = {
    "bash": "alias terraform={shim}",
    "zsh": "alias terraform={shim}",
    "fish": "alias terraform {shim}",
}


def shim_on_path(env: dict[str, str]) -> str | None:
    """The first `terraform` on PATH if it is a safeterraform shim."""
    found = shutil.which("terraform", path=env.get("PATH", ""))
    return found if found is not None and is_shim(found, None) else None


def shim_for_alias(env: dict[str, str]) -> str:
    """The shim to alias: the one on PATH, else this venv's `safeterraform-shim`."""
    installed = Path(sys.executable).parent / "safeterraform-shim"
    found = (
        shim_on_path(env)
        or shutil.which("safeterraform-shim", path=env.get("PATH", ""))
        or (str(installed) if installed.is_file() else None)
    )
    return found or "safeterraform-shim"


def audit_trail(config: policy.Config, env: dict[str, str]) -> tuple[str, bool]:
    """Where decisions are recorded, and whether that is a problem (syslog unreachable)."""
    own = audit.default_path(env, config.audit_log)
    if not config.audit_syslog:
        return f"per-user file only: {own} (its user can delete it)", False
    problem = audit.syslog_problem()
    if problem is not None:
        return f"syslog required but unreachable ({problem}): guarded commands are refused", True
    return f"central: syslog via {audit.SYSLOG_SOCKET}, facility auth; and {own}", False


def unfinished_applies(config: policy.Config, env: dict[str, str]) -> str:
    """Confirmed applies of this host that ended without recording how (a killed shim)."""
    try:
        records = audit.recent(audit.default_path(env, config.audit_log))
    except OSError:
        return ""
    found = audit.orphans(records, audit.identity(env)[1])
    if not found:
        return ""
    latest = found[-1][0]
    more = f" ({len(found)} in all)" if len(found) > 1 else ""
    return inert(audit.orphan_words(latest) + more)


def file_status(path: str, read: tuple[tuple[str, str], ...], error: str | None) -> str:
    if any(path == seen for _, seen in read):
        return "read"
    if os.path.exists(path):
        return "not read: config error" if error else "present, not a file"
    return "absent"


Row = tuple[str, str, str]  # label, value, style


class Rows(list[Row]):
    """The doctor's rows, laid out when all are known (the layout depends on the widest)."""

    def add_row(self, label: Text, value: Text) -> None:
        self.append((label.plain, value.plain, str(label.style)))


def add(table: Rows, label: str, value: str, style: str = "") -> None:
    """One row; paths, globs and messages are plain text, never console markup."""
    table.add_row(Text(label, style=style), Text(value, style=style))


TABLE_OVERHEAD = 7  # "│ " + " │ " + " │": the dividers and padding of a two-column row


def shorten(word: str, width: int) -> str:
    """A word (a path) that does not fit: its start and its end, an ellipsis between."""
    if len(word) <= width:
        return word
    head = max(1, (width - 1) // 3)
    return f"{word[:head]}…{word[len(word) - (width - 1 - head) :]}"


def wrapped(text: str, width: int) -> list[str]:
    """Lines of at most `width`, broken at spaces only; a longer word is shortened in the
    middle, never split."""
    lines: list[str] = []
    for word in (shorten(word, width) for word in text.split()):
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += f" {word}"
        else:
            lines.append(word)
    return lines or [""]


def layout(rows: Rows, width: int) -> Table | Text:
    """A table when every word of every value fits its column (no path split mid-word),
    else one entry per row: the label, then its value indented on lines of its own."""
    label_width = max(len(label) for label, _, _ in rows)
    value_width = width - label_width - TABLE_OVERHEAD
    longest = max((len(word) for _, value, _ in rows for word in value.split()), default=0)
    if longest <= value_width:
        table = Table(title="safeterraform doctor")
        table.add_column("input", no_wrap=True)
        table.add_column("value", overflow="fold")
        for label, value, style in rows:
            table.add_row(Text(label, style=style), Text(value, style=style))
        return table
    text = Text("safeterraform doctor\n")
    for label, value, style in rows:
        text.append(f"{label}\n", style=f"bold {style}".strip())
        for line in wrapped(value, width - 2):
            text.append(f"  {line}\n", style=style)
    text.rstrip()
    return text


def run(chdir: Path | None, shell: str | None, console: Console | None = None) -> int:
    console = console or Console()
    env = dict(os.environ)
    workdir = str((chdir or Path.cwd()).resolve())
    if shell is not None:
        alias = ALIASES[shell].format(shim=shlex.quote(shim_for_alias(env)))
        console.print(alias, highlight=False, soft_wrap=True, markup=False)
        return 0
    system_config = launcher.system_config(env)
    config = policy.load(env, workdir, system_config)
    table = Rows()
    problems = 0
    layers = policy.config_paths(env, workdir, system_config)
    for layer, path in layers:
        add(table, f"config ({layer})", f"{path} ({file_status(path, config.files, config.error)})")
    if not any(layer == "repository" for layer, _ in layers):
        add(table, "config (repository)", f"none: no {policy.REPOSITORY_CONFIG} from {workdir} up")
    if config.error:
        problems += 1
        add(table, "config error", config.error, "red")
    shim = shim_on_path(env)
    if shim is None:
        problems += 1
        add(table, "shim first on PATH", "no: `terraform` on PATH is not the shim", "red")
    else:
        add(table, "shim first on PATH", shim)
    try:
        real = launcher.resolve("terraform", env, config.real_binaries.get("terraform"))
        target = "" if real.target == real.path else f" -> {real.target}"
        add(table, "real terraform", f"{real.path}{target} (from {real.source})")
    except RealBinaryNotFound as error:
        problems += 1
        add(table, "real terraform", str(error), "red")
    trail, trail_broken = audit_trail(config, env)
    problems += trail_broken
    add(table, "audit trail", trail, "red" if trail_broken else "")
    unfinished = unfinished_applies(config, env)
    if unfinished:
        add(table, "unfinished apply", unfinished, "bold red")
    workspace, source = policy.current_workspace(env, workdir)
    add(table, "working directory", workdir)
    add(table, "workspace", f"{workspace} (from {source})")
    backend = policy.recorded_backend(env, workdir)
    kind, settings = backend or ("local", {})
    location = policy.state_location(kind, settings, workspace, env)
    recorded = "recorded by init" if backend else "no backend recorded: terraform's local default"
    add(table, "state location", f"{location} ({kind} backend, {recorded})")
    if kind not in ("local", "remote", "cloud"):
        rule = policy.location_rule(config, location)
        add(
            table,
            "state location rule",
            f"PRODUCTION: {rule}" if rule else "matches no production rule",
            "red" if rule else "",
        )
    if config.builtin_var_files_disabled_by:
        add(table, "built-in var-file rule", f"off ({config.builtin_var_files_disabled_by})")
    for kind, patterns in (
        ("workspace", config.workspaces),
        ("path", config.paths),
        ("var-file", config.var_files),
        ("backend", config.backends),
    ):
        for pattern in patterns:
            add(table, f"production {kind} pattern", f"{pattern.glob} ({pattern.source})")
    add(table, "always", f"true ({config.always})" if config.always else "false")
    add(
        table,
        "break-glass",
        f'allowed: {BREAK_GLASS_VAR}="<reason>" runs a refused command, loudly and recorded'
        if config.allow_break_glass
        else f"disabled by {config.break_glass_disabled_by}",
    )
    add(
        table,
        "runbook mode",
        f"on: without a terminal, {CONFIRM_VAR} must name exactly the nodes a production "
        f"apply destroys or replaces ({'set' if CONFIRM_VAR in env else 'not set'} here)"
        if config.allow_env
        else f"off: allow_env = false in {config.allow_env_disabled_by}",
    )
    found = agents.markers(config, env)
    add(
        table,
        "coding agent",
        f"yes ({'; '.join(found)}): destructive plans need `safeterraform approve`"
        if found
        else f"no (none of {', '.join(config.agent_env)} is set; no agent process above it)",
    )
    if config.two_person:
        add(table, "two-person approval", f"required by {config.two_person}")
    for var_file in policy.auto_var_files(workdir):
        add(table, "auto-loaded var file", var_file)
    verdict = policy.judge(config, env, workdir)
    for state in verdict.states:
        add(table, "state touched", state)
    if config.error is not None:
        add(table, "verdict", "unknown: guarded commands are refused", "bold red")
    elif verdict.production:
        add(table, "verdict", f"PRODUCTION: {verdict.reason}", "bold red")
    else:
        add(table, "verdict", f"not production: {verdict.reason}")
    for label, value, style in lint_command.doctor_rows(Path(workdir), env):
        add(table, label, value, style)
    console.print(layout(table, console.width), soft_wrap=True)
    return 1 if problems else 0
