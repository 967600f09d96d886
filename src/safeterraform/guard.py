"""The guarded flow for production commands (PRODUCT.md §5, §7, §8, §10).

The shim hands over here only when it must guard. Every decision is recorded in the
audit log before anything runs; a record that cannot be written refuses the command.
The runner (`Terraform`), the consoles and the prompt are injected so the flow can be
driven by tests; `build` wires the real ones and `execute` runs the flow.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import shlex
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.panel import Panel

from safeterraform import audit, blast, render, review
from safeterraform.argv import CommandClass, Invocation, flag_name_value, flag_values
from safeterraform.confirm import (
    CONFIRM_VAR,
    Outcome,
    Prompt,
    QuestionaryPrompt,
    confirm_from_env,
    confirm_nodes,
    confirm_plain,
)
from safeterraform.errors import (
    EXIT_INTERRUPTED,
    EXIT_NOT_CONFIRMED,
    EXIT_REFUSED,
    Refused,
    SafeTerraformError,
)
from safeterraform.policy import Config, Verdict
from safeterraform.realbin import RealBinary
from safeterraform.terraform import Terraform

BREAK_GLASS_VAR = "SAFETERRAFORM_BREAK_GLASS"

# Flags of `apply` (without a plan file) and `destroy`, and where they belong once the
# shim splits the command into `plan -out` + `apply PLANFILE`.
# https://github.com/hashicorp/terraform/blob/main/internal/command/arguments/apply.go
PLAN_ONLY_VALUE = frozenset({"var", "var-file", "target", "replace", "exclude"})
PLAN_ONLY_BOOL = frozenset({"destroy", "refresh-only", "refresh"})
SHARED_VALUE = frozenset({"lock-timeout", "parallelism", "state"})
SHARED_BOOL = frozenset({"lock", "input", "no-color", "compact-warnings", "json"})
APPLY_ONLY_VALUE = frozenset({"backup", "state-out"})
DROPPED = frozenset({"auto-approve"})  # only ever false here: true was refused


def split_apply_flags(args: Sequence[str]) -> tuple[list[str], list[str]]:
    """(flags for `plan`, flags for `apply PLANFILE`) from apply/destroy's own flags."""
    plan_flags: list[str] = []
    apply_flags: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        parsed = flag_name_value(arg)
        if parsed is None:
            raise Refused(f"safeterraform: unexpected argument {arg!r}; give a plan file or flags")
        name, value = parsed
        takes_value = name in PLAN_ONLY_VALUE | SHARED_VALUE | APPLY_ONLY_VALUE
        token = [arg]
        if takes_value and value is None and index + 1 < len(args):
            token.append(args[index + 1])
            index += 1
        index += 1
        if name in DROPPED:
            continue
        if name in SHARED_VALUE | SHARED_BOOL:
            plan_flags += token
            apply_flags += token
        elif name in APPLY_ONLY_VALUE:
            apply_flags += token
        else:  # plan flags, and anything unknown: terraform plan will judge it
            plan_flags += token
    return plan_flags, apply_flags


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def child_env(env: Mapping[str, str]) -> dict[str, str]:
    """The environment for terraform runs the shim composes itself.

    TF_CLI_ARGS* were already merged into the invocation the way terraform does; left
    in place they would be applied a second time (or to the wrong subcommand).
    """
    return {k: v for k, v in env.items() if not k.startswith("TF_CLI_ARGS")}


@dataclass
class Guard:
    """One guarded invocation and everything it talks to."""

    invocation: Invocation
    config: Config
    verdict: Verdict | None
    terraform: Terraform
    env: Mapping[str, str]
    program: str
    workdir: str
    out: Console
    err: Console
    prompt: Prompt
    interactive: bool
    audit_path: str
    now: Callable[[], datetime.datetime] = field(
        default=lambda: datetime.datetime.now(datetime.UTC)
    )
    break_glass_reason: str | None = None

    # -- audit ---------------------------------------------------------------------
    def record(self, verdict: str, reason: str, **fields: Any) -> None:
        """Append one audit record; raises audit.AuditError (exit 3) if it cannot."""
        user, host = audit.identity(self.env)
        record = audit.make_record(
            now=self.now(),
            user=user,
            host=host,
            cwd=self.workdir,
            workspace=self.verdict.workspace if self.verdict else "unknown",
            argv=self.invocation.typed,
            verdict=verdict,
            reason=reason,
            break_glass_reason=self.break_glass_reason,
            program=self.program,
            **fields,
        )
        audit.append(self.audit_path, record, syslog=self.config.audit_syslog)

    def say(self, line: str) -> None:
        """One plain line on stderr (never wrapped)."""
        print(line, file=sys.stderr, flush=True)

    # -- refusal and break-glass ---------------------------------------------------
    def record_refusal(self, message: str, **fields: Any) -> None:
        """Record a refusal; if even that cannot be written, say so: it is refused anyway."""
        try:
            self.record("refused", message, exit_code=EXIT_REFUSED, **fields)
        except audit.AuditError as error:
            self.say(str(error))

    def refuse(self, message: str, **fields: Any) -> int:
        self.record_refusal(message, **fields)
        self.say(message)
        return EXIT_REFUSED

    def break_glass(self) -> str | None:
        """The break-glass reason when it is set and allowed; raises when it cannot be used."""
        if BREAK_GLASS_VAR not in self.env:
            return None
        reason = self.env[BREAK_GLASS_VAR].strip()
        if not reason:
            raise Refused(f"safeterraform: {BREAK_GLASS_VAR} is set but empty; give the reason")
        if not self.config.allow_break_glass:
            raise Refused(
                f"safeterraform: break-glass is disabled by {self.config.break_glass_disabled_by}"
            )
        return reason

    def refuse_or_break_glass(self, message: str, **fields: Any) -> bool:
        """Refuse (raise) unless break-glass is set and allowed; True means go on, loudly."""
        try:
            reason = self.break_glass()
        except Refused as error:
            message = f"{message} ({str(error).removeprefix('safeterraform: ')})"
            self.record_refusal(message, **fields)
            raise Refused(message) from None
        if reason is None:
            self.record_refusal(message, **fields)
            raise Refused(message)
        self.break_glass_reason = reason
        self.record("break-glass", message, **fields)
        self.err.print(
            Panel(
                f"BREAK-GLASS: {message}\nReason: {reason}\nThis is recorded in {self.audit_path}.",
                style="bold red",
            )
        )
        return True

    def confirmation_reason(self) -> str:
        """How the go-ahead was given, for the audit record."""
        if self.break_glass_reason is not None:
            return "break-glass instead of a confirmation"
        return "operator confirmed" if self.interactive else f"{CONFIRM_VAR} matched"

    def run_as_typed(self) -> int:
        """Run exactly what the operator typed, environment untouched (after break-glass)."""
        as_typed = Terraform(self.terraform.path, self.terraform.cwd, dict(self.env))
        return as_typed.foreground(self.invocation.typed)

    def run_after_break_glass(self) -> int:
        """Run as typed after break-glass, then record how it ended (the log's outcome)."""
        code = self.run_as_typed()
        try:
            self.record(
                "applied" if code == 0 else "failed", f"terraform exited {code}", exit_code=code
            )
        except audit.AuditError as error:
            self.say(str(error))  # it has run already: say so, keep terraform's code
        return code

    # -- plans -----------------------------------------------------------------------
    def workdir_path(self, path: str) -> str:
        return path if os.path.isabs(path) else os.path.join(self.workdir, path)

    def new_plan_path(self) -> str:
        """A new mode-0600 file in DATA_DIR/safeterraform/plans named for workspace and time."""
        data_dir = self.env.get("TF_DATA_DIR") or ".terraform"
        directory = os.path.join(self.workdir_path(data_dir), "safeterraform", "plans")
        os.makedirs(directory, mode=0o700, exist_ok=True)
        workspace = self.verdict.workspace if self.verdict else "unknown"
        stamp = self.now().strftime("%Y%m%dT%H%M%SZ")
        path = os.path.join(directory, f"{workspace}-{stamp}-{os.getpid()}.tfplan")
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
        return path

    def analyze(self, plan_path: str) -> tuple[blast.Analysis, dict[str, Any]]:
        """Read the plan as terraform will run it; unreadable means refused (fail closed)."""
        try:
            return review.analyze_plan_file(
                self.terraform, plan_path, self.workdir_path(plan_path), self.config.node_attributes
            )
        except SafeTerraformError as error:
            raise Refused(f"{error}; nothing was applied") from None

    def apply_command(self, plan_path: str) -> str:
        shown = os.path.relpath(plan_path, self.workdir) if os.path.isabs(plan_path) else plan_path
        chdir = f"-chdir={shlex.quote(self.invocation.chdir)} " if self.invocation.chdir else ""
        return f"{self.program} {chdir}apply {shlex.quote(shown)}"

    # -- prevention (limits, state snapshot, hook) ---------------------------------
    def check_limits(self, analysis: blast.Analysis) -> None:
        """Refuse (or break-glass) a plan that hits more nodes than policy allows."""
        affected = list(analysis.affected_nodes)
        known = max(analysis.nodes_known, len(affected))
        limit_nodes = self.config.max_affected_nodes
        limit_fraction = self.config.max_affected_fraction
        broken = []
        if limit_nodes is not None and len(affected) > limit_nodes:
            broken.append(f"max_affected_nodes = {limit_nodes}")
        if limit_fraction is not None and known and len(affected) / known > limit_fraction:
            broken.append(f"max_affected_fraction = {limit_fraction}")
        if not broken:
            return
        first = analysis.changes[0].address if analysis.changes else ""
        self.refuse_or_break_glass(
            f"safeterraform: refused: this plan destroys or replaces {len(affected)} of {known} "
            f"nodes ({', '.join(affected)}), over {' and '.join(broken)}. Change one node at a "
            f"time, e.g. {self.program} apply -target={shlex.quote(first)}",
            affected_nodes=affected,
        )

    def snapshot_state(self) -> str:
        """Save `terraform state pull` under DATA_DIR/safeterraform/state-backups (0600).

        Keeps the newest `state_backups.keep`; a failure refuses the command.
        """
        data_dir = self.env.get("TF_DATA_DIR") or ".terraform"
        directory = os.path.join(self.workdir_path(data_dir), "safeterraform", "state-backups")
        workspace = self.verdict.workspace if self.verdict else "unknown"
        try:
            state = self.terraform.state_pull()
            os.makedirs(directory, mode=0o700, exist_ok=True)
            stamp = self.now().strftime("%Y%m%dT%H%M%S.%fZ")
            path = os.path.join(directory, f"{workspace}-{stamp}.tfstate")
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(state)
                handle.flush()
                os.fsync(handle.fileno())
            backups = sorted(
                name
                for name in os.listdir(directory)
                if name.startswith(f"{workspace}-") and name.endswith(".tfstate")
            )
            for old in backups[: max(0, len(backups) - self.config.state_backups_keep)]:
                os.unlink(os.path.join(directory, old))
        except (OSError, SafeTerraformError) as error:
            raise Refused(
                f"safeterraform: refused: cannot snapshot the state before changing it ({error}); "
                "nothing was applied"
            ) from None
        return path

    def run_hook(self, analysis: blast.Analysis, plan_path: str) -> None:
        """[hooks] before_destructive_apply: non-zero exit refuses the apply."""
        command = self.config.before_destructive_apply
        if not command or not analysis.destructive:
            return
        hook_env = {
            **self.env,
            "SAFETERRAFORM_AFFECTED_NODES": " ".join(analysis.affected_nodes),
            "SAFETERRAFORM_PLAN_FILE": self.workdir_path(plan_path),
            "SAFETERRAFORM_WORKSPACE": self.verdict.workspace if self.verdict else "",
        }
        code = subprocess.run(["/bin/sh", "-c", command], cwd=self.workdir, env=hook_env).returncode
        if code != 0:
            raise Refused(
                f"safeterraform: refused: hook before_destructive_apply exited {code} "
                f"({command}); nothing was applied"
            )

    # -- confirmation ---------------------------------------------------------------
    def confirm(self, expected: Sequence[str], what: str, **fields: Any) -> Outcome:
        """The go-ahead for `what` (one phrase): typed names at a terminal (yes/no when
        nothing is named), else SAFETERRAFORM_CONFIRM_NODES; refusals and stops are
        recorded and raised."""
        expected = list(expected)
        fields = {"affected_nodes": expected, "expected_nodes": expected, **fields}
        shown = " ".join(expected)
        if not self.interactive:
            outcome = confirm_from_env(expected, self.env)
            if outcome is None or not outcome.confirmed:
                why = (
                    outcome.reason
                    if outcome is not None
                    else f"stdin is not a terminal and {CONFIRM_VAR} is not set"
                )
                self.refuse_or_break_glass(
                    f"safeterraform: refused: {why}; {what}: {shown or 'nothing destructive'}. "
                    f"State the expected blast radius: {CONFIRM_VAR}={shlex.quote(shown)}",
                    typed_nodes=list(outcome.typed) if outcome is not None else None,
                    **fields,
                )
                return Outcome(True, ())
            return outcome
        outcome = confirm_nodes(expected, self.prompt) if expected else confirm_plain(self.prompt)
        if outcome.interrupted:
            self.record(
                "interrupted",
                "Ctrl-C at the confirmation",
                exit_code=EXIT_INTERRUPTED,
                typed_nodes=list(outcome.typed),
                **fields,
            )
            raise _Stop(EXIT_INTERRUPTED, "safeterraform: interrupted; nothing was changed")
        if not outcome.confirmed:
            self.record(
                "not-confirmed",
                outcome.reason,
                exit_code=EXIT_NOT_CONFIRMED,
                typed_nodes=list(outcome.typed),
                **fields,
            )
            raise _Stop(
                EXIT_NOT_CONFIRMED,
                f"safeterraform: not confirmed ({outcome.reason}); nothing was changed",
            )
        return outcome


class _Stop(SafeTerraformError):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.exit_code = code


# -- the flows ---------------------------------------------------------------------


def guarded_plan(guard: Guard) -> int:
    """plan: always to a file; then the destructive summary and the exact apply command."""
    args = list(guard.invocation.command_args)
    outs = flag_values(args, "out")
    if outs:
        plan_path = outs[-1]
    else:
        plan_path = guard.new_plan_path()
        args.append(f"-out={plan_path}")
    code = guard.terraform.foreground(["plan", *args])
    detailed = "-detailed-exitcode" in args or "--detailed-exitcode" in args
    if code != 0 and not (detailed and code == 2):
        return code
    analysis, _ = guard.analyze(plan_path)
    render.to_console(analysis, guard.out)
    guard.out.print(
        f"\nTo apply exactly this plan, run:\n    {guard.apply_command(plan_path)}",
        highlight=False,
        soft_wrap=True,
    )
    guard.record(
        "planned",
        "plan written to a file",
        affected_nodes=list(analysis.affected_nodes),
        plan_sha256=sha256_of(guard.workdir_path(plan_path)),
        exit_code=code,
    )
    return code


def has_changes(plan_json: Mapping[str, Any]) -> bool:
    if "applyable" in plan_json:
        return bool(plan_json["applyable"])
    changes = [
        *plan_json.get("resource_changes", []),
        *plan_json.get("output_changes", {}).values(),
    ]
    return any(c.get("change", c).get("actions") not in (["no-op"], ["read"]) for c in changes)


def guarded_apply(guard: Guard) -> int:
    """apply/destroy: plan to a file (or take the given one), render, confirm, apply it."""
    invocation = guard.invocation
    created = invocation.plan_file is None
    if invocation.plan_file is not None:
        plan_path = invocation.plan_file
        apply_args = list(invocation.command_args)
    else:
        plan_flags, apply_flags = split_apply_flags(invocation.command_args)
        if invocation.command == "destroy":
            plan_flags.append("-destroy")
        plan_path = guard.new_plan_path()
        code = guard.terraform.foreground(["plan", *plan_flags, f"-out={plan_path}"])
        if code != 0:
            os.unlink(plan_path)
            return code
        apply_args = [*apply_flags, plan_path]
        guard.out.print(
            "\n[bold]safeterraform:[/bold] production: that plan file is reviewed below and "
            "applied by this command once you confirm; there is nothing else to run.",
            highlight=False,
        )
    try:
        return _review_and_apply(guard, plan_path, apply_args)
    finally:
        if created and os.path.exists(plan_path):
            os.unlink(plan_path)


def _review_and_apply(guard: Guard, plan_path: str, apply_args: list[str]) -> int:
    local_plan = guard.workdir_path(plan_path)
    sha = sha256_of(local_plan) if os.path.isfile(local_plan) else ""
    analysis, plan_json = guard.analyze(plan_path)
    if not has_changes(plan_json):
        guard.out.print("No changes. Nothing to apply.")
        guard.record("no-changes", "the plan has no changes", plan_sha256=sha, exit_code=0)
        return 0
    render.to_console(analysis, guard.out)
    guard.check_limits(analysis)
    outcome = guard.confirm(analysis.affected_nodes, "affected nodes", plan_sha256=sha)
    nodes = list(analysis.affected_nodes)
    backup = guard.snapshot_state()
    guard.record(
        "confirmed",
        guard.confirmation_reason(),
        affected_nodes=nodes,
        expected_nodes=nodes,
        typed_nodes=list(outcome.typed),
        plan_sha256=sha,
        state_backup=backup,
    )
    guard.run_hook(analysis, plan_path)
    if sha256_of(local_plan) != sha:
        return guard.refuse(
            f"safeterraform: refused: the plan file {plan_path} changed after it was reviewed; "
            "nothing was applied",
            plan_sha256=sha,
        )
    code = guard.terraform.foreground(["apply", *apply_args])
    guard.record(
        "applied" if code == 0 else "failed",
        f"terraform apply exited {code}",
        affected_nodes=nodes,
        plan_sha256=sha,
        exit_code=code,
    )
    return code


def guarded_other(guard: Guard) -> int:
    """Other state-changing commands: typed confirmation of what they touch."""
    from safeterraform import statecmd

    return statecmd.run(guard)


def guard_command(guard: Guard) -> int:
    invocation = guard.invocation
    words = " ".join([guard.program, *invocation.typed])
    if guard.config.error is not None:
        return guard.refuse(f"{guard.config.error}; guarded commands are refused until it is fixed")
    assert guard.verdict is not None
    where = f"this is production ({guard.verdict.reason})"
    if invocation.auto_approve:
        source = invocation.auto_approve_source
        via = "" if source == "command line" else f" (injected through {source})"
        guard.refuse_or_break_glass(
            f"safeterraform: refused `{words}`: -auto-approve{via} is not allowed: {where}. "
            f"Run `{guard.program} {invocation.command}` without it to review the destructive "
            f"changes and type the node names; in a runbook set {CONFIRM_VAR}; "
            "Terragrunt users: pass --no-auto-approve."
        )
        return guard.run_after_break_glass()
    if invocation.command_class == CommandClass.PLAN:
        return guarded_plan(guard)
    if invocation.command_class in (CommandClass.APPLY, CommandClass.DESTROY):
        return guarded_apply(guard)
    if invocation.command_class == CommandClass.STATE_CHANGE:
        return guarded_other(guard)
    guard.refuse_or_break_glass(
        f"safeterraform: refused `{words}`: safeterraform does not know what "
        f"`{invocation.command}` changes, and {where}."
    )
    return guard.run_after_break_glass()


def build(
    invocation: Invocation,
    config: Config,
    verdict: Verdict | None,
    real: RealBinary,
    env: Mapping[str, str],
    program: str,
    workdir: str,
    *,
    prompt: Prompt | None = None,
    interactive: bool | None = None,
    out: Console | None = None,
    cwd: str | None = None,
) -> Guard:
    """A Guard wired to the real terminal, prompt, runner and audit log unless told otherwise."""
    return Guard(
        invocation=invocation,
        config=config,
        verdict=verdict,
        terraform=Terraform(real.path, cwd or os.getcwd(), child_env(env), invocation.chdir),
        env=env,
        program=program,
        workdir=workdir,
        out=out or Console(),
        err=Console(stderr=True),
        prompt=prompt or QuestionaryPrompt(),
        interactive=sys.stdin.isatty() if interactive is None else interactive,
        audit_path=audit.default_path(env, None if config.error else config.audit_log),
    )


def execute(guard: Guard) -> int:
    """Guard one command; expected failures become one line and their exit code."""
    try:
        return guard_command(guard)
    except SafeTerraformError as error:
        guard.say(str(error))
        return error.exit_code
    except KeyboardInterrupt:
        guard.say("safeterraform: interrupted; nothing was applied")
        return EXIT_INTERRUPTED
