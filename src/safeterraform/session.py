"""What the guarded flows share: the recorder, confirmer, snapshotter, plan files and runner.

`build` wires the real ones for one command; tests may build a Session with their own
UI (a prompt, a console) and the real everything else.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import shlex
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from safeterraform import agents, approvals, audit, planfiles, ui
from safeterraform.argv import Invocation
from safeterraform.confirm import Confirmer
from safeterraform.errors import Refused, SafeTerraformError, block
from safeterraform.planfiles import PlanFiles
from safeterraform.policy import (
    REMOTE_BACKENDS,
    Config,
    Verdict,
    current_state_file,
    data_dir,
    recorded_backend,
)
from safeterraform.realbin import RealBinary
from safeterraform.redact import Redactor, redact_argv
from safeterraform.terraform import Terraform, foreground

if TYPE_CHECKING:
    from rich.console import Console


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def child_env(env: Mapping[str, str]) -> dict[str, str]:
    """The environment for terraform runs the shim composes itself.

    TF_CLI_ARGS* were already merged into the invocation the way terraform does; left
    in place they would be applied a second time (or to the wrong subcommand).
    """
    return {k: v for k, v in env.items() if not k.startswith("TF_CLI_ARGS")}


@dataclass
class Snapshotter:
    """Copies of every state a command is about to change (docs/design.md#the-prevention-list):
    `terraform state pull` of the workspace, and the state files named by flags."""

    terraform: Terraform
    directory: str  # DATA_DIR/safeterraform/state-backups
    keep: int
    now: Callable[[], datetime.datetime]
    workdir: str = ""  # after -chdir: where the local backend keeps its state files
    pulled: dict[str, bytes] = field(default_factory=dict)
    pulling: dict[str, Callable[[], bytes]] = field(default_factory=dict)

    def pull(self, workspace: str) -> bytes:
        """The workspace's state now (cached); TF_WORKSPACE selects another one."""
        if workspace not in self.pulled:
            local = self._local_state(workspace)
            if local is None:
                local = self.terraform.with_env(TF_WORKSPACE=workspace).state_pull()
            self.pulled[workspace] = local
        return self.pulled[workspace]

    def _local_state(self, workspace: str) -> bytes | None:
        """The local backend's state file of `workspace` (policy.current_state_file, as the
        verdict finds it), read without starting terraform: `state pull` reads that same
        file (~0.07 s of CPU, docs/perf.md). None with any other backend, and when there
        is no such file (a first apply, or a place this lookup got wrong): terraform is
        asked then, so a wrong path never passes for "no state"."""
        if not self.workdir:
            return None
        found = current_state_file(self.terraform.env, self.workdir, workspace)
        if found is None:
            return None
        path = os.path.join(self.workdir, found[0])
        try:
            with open(path, "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise SafeTerraformError(
                f"safeterraform: cannot read the state file {path}: {error.strerror}"
            ) from None

    def pull_in_background(self, workspace: str) -> Callable[[], bytes]:
        """Start `pull` in a thread (it is independent of the plan and `show -json`), once
        per workspace; call to join (again: the same result)."""
        if workspace in self.pulling:
            return self.pulling[workspace]
        result: dict[str, bytes | BaseException] = {}

        def work() -> None:
            try:
                result["state"] = self.pull(workspace)
            except BaseException as error:  # re-raised in the caller's thread
                result["error"] = error

        thread = threading.Thread(target=work, daemon=True)
        thread.start()

        def join() -> bytes:
            thread.join()
            if "error" in result:
                raise result["error"]  # type: ignore[misc]
            return result["state"]  # type: ignore[return-value]

        self.pulling[workspace] = join
        return join

    def forget(self) -> None:
        """The states changed (a rollout's previous step): pull them again when asked."""
        for join in self.pulling.values():
            with contextlib.suppress(SafeTerraformError):
                join()  # none left running
        self.pulling.clear()
        self.pulled.clear()

    def save(self, workspace: str, state_files: Sequence[str] = ()) -> str:
        """Write the backups (0600) and prune old ones; any failure refuses the command."""
        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            stamp = self.now().strftime("%Y%m%dT%H%M%S.%fZ")
            saved = [self._write(f"{workspace}-{stamp}.tfstate", self.pull(workspace))]
            for number, path in enumerate(state_files):
                if os.path.isfile(path):
                    with open(path, "rb") as handle:
                        data = handle.read()
                    saved.append(self._write(f"{workspace}-{stamp}-file{number}.tfstate", data))
            self._prune(workspace)
        except (OSError, SafeTerraformError) as error:
            raise Refused(
                f"safeterraform: refused: cannot snapshot the state before changing it "
                f"({error}); nothing was applied"
            ) from None
        return ", ".join(saved)

    def _write(self, name: str, data: bytes) -> str:
        path = os.path.join(self.directory, name)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        return path

    def _prune(self, workspace: str) -> None:
        backups = sorted(
            name
            for name in os.listdir(self.directory)
            if name.startswith(f"{workspace}-") and name.endswith(".tfstate")
        )
        for old in backups[: max(0, len(backups) - self.keep)]:
            os.unlink(os.path.join(self.directory, old))


@dataclass
class Session:
    """One guarded command and everything its flow talks to."""

    invocation: Invocation
    config: Config
    verdict: Verdict
    env: Mapping[str, str]
    program: str
    workdir: str
    terraform: Terraform
    ui: ui.UI
    recorder: audit.Recorder
    confirmer: Confirmer
    snapshotter: Snapshotter
    plans: PlanFiles

    @property
    def workspace(self) -> str:
        return self.verdict.workspace

    @property
    def where(self) -> str:
        return f"this is production ({self.verdict.reason})"

    def words(self) -> str:
        """The command as typed, secrets redacted: for messages."""
        return shlex.join([self.program, *redact_argv(self.invocation.typed)])

    def workdir_path(self, path: str) -> str:
        return path if os.path.isabs(path) else os.path.join(self.workdir, path)

    def state_files(self) -> list[str]:
        return [self.workdir_path(v) for kind, v in self.invocation.states if kind == "state file"]

    def apply_command(self, plan_path: str) -> str:
        shown = os.path.relpath(plan_path, self.workdir) if os.path.isabs(plan_path) else plan_path
        chdir = f"-chdir={shlex.quote(self.invocation.chdir)} " if self.invocation.chdir else ""
        return f"{self.program} {chdir}apply {shlex.quote(shown)}"

    def approve_hint(self, plan_path: str) -> str:
        """How a person approves this plan file, for whoever reads a refusal: the exact
        command, in the directory and workspace the approval is bound to."""
        absolute = self.workdir_path(plan_path)
        shown = shlex.quote(os.path.relpath(absolute, self.workdir))
        workspace = (
            f"TF_WORKSPACE={shlex.quote(self.workspace)} "
            if self.verdict.workspace_source == "TF_WORKSPACE"
            else ""
        )
        minutes = max(1, self.config.approval_ttl // 60)
        return (
            f"A person runs, in their own terminal: cd {shlex.quote(self.workdir)} && "
            f"{workspace}safeterraform approve {shown} (it shows them this plan and asks "
            f"for the node names). Then `{self.program} apply {shown}` applies exactly "
            f"this plan, once, within {minutes} minutes."
        )

    def remote_backend(self) -> str | None:
        """`remote` or `cloud` when `init` recorded one here: terraform then plans and
        applies remotely, where safeterraform cannot review anything (README "What is enforced")."""
        backend = recorded_backend(self.env, self.workdir)
        return backend[0] if backend is not None and backend[0] in REMOTE_BACKENDS else None

    def refuse_saved_cloud_plan(self, who: str = "safeterraform") -> None:
        """Refuse the command's plan file when it is a saved cloud plan: it runs remotely
        and has nothing to review here; named for what it is, not called corrupt."""
        plan_file = self.invocation.plan_file
        if plan_file is None:
            return
        described = planfiles.describe_cloud_plan(self.workdir_path(plan_file), plan_file)
        if described is not None:
            raise self.confirmer.refusal(
                f"{who}: refused: {described}; it runs remotely, where safeterraform cannot "
                "review it: confirm it in HCP Terraform/TFE"
            )

    def refuse_remote_run(self, cannot: str) -> bool:
        """THE remote-execution refusal (README "What is enforced"): a saved cloud plan,
        then a `remote` backend or `cloud` block, refused with what to do instead. False:
        the command runs locally; True: break-glass lets it run as typed."""
        self.refuse_saved_cloud_plan()
        kind = self.remote_backend()
        if kind is None:
            return False
        self.confirmer.refuse_or_break_glass(
            block(
                f"refused `{self.words()}`: the {kind} backend runs "
                f"{self.invocation.command} remotely, where safeterraform cannot {cannot}",
                self.where,
                "review and confirm the run in HCP Terraform/TFE, or switch this "
                "configuration to local execution.",
            )
        )
        return True

    def run_as_typed(self) -> int:
        """Run exactly what the operator typed, environment untouched (after confirmation
        or break-glass)."""
        return foreground(
            [self.terraform.path, *self.invocation.typed], self.terraform.cwd, self.env
        )

    def record_outcome(self, code: int, reason: str, **fields: object) -> None:
        """The outcome of something that ran. A record that cannot be written must not
        become a refusal (it ran): say loudly that it went unrecorded, keep the exit code."""
        try:
            self.recorder.record(
                "applied" if code == 0 else "failed", reason, exit_code=code, **fields
            )
        except audit.AuditError as error:
            self.ui.say(
                f"safeterraform: WARNING: the outcome (exit {code}) could not be recorded: {error}"
            )

    def run_hook(
        self, name: str, command: str, extra: Mapping[str, str], pass_fds: Sequence[int] = ()
    ) -> int:
        """A configured hook, with the user's environment plus the record's fields; without
        TF_CLI_ARGS*, which were merged already and carry -var values (issue 15)."""
        env = {**child_env(self.env), **extra}
        return foreground(["/bin/sh", "-c", command], self.workdir, env, pass_fds)

    def alert(self, nodes: Sequence[str] | None, code: int, plan_sha256: str = "") -> None:
        """[hooks] after_destructive_apply, after a destructive production apply whatever
        its outcome (docs/design.md#the-prevention-list). `nodes` None: not known (a
        break-glass run that was never planned here). Its failure never changes the
        apply's exit code; it is recorded."""
        command = self.config.after_destructive_apply
        if not command:
            return
        user = self.recorder.user
        extra = {
            "SAFETERRAFORM_AFFECTED_NODES": " ".join(nodes) if nodes is not None else "unknown",
            "SAFETERRAFORM_EXIT_CODE": str(code),
            "SAFETERRAFORM_OUTCOME": "applied" if code == 0 else "failed",
            "SAFETERRAFORM_WORKSPACE": self.workspace,
            "SAFETERRAFORM_WORKDIR": self.workdir,
            "SAFETERRAFORM_USER": user,
            "SAFETERRAFORM_HOST": self.recorder.host,
            "SAFETERRAFORM_COMMAND": self.words(),
            "SAFETERRAFORM_BREAK_GLASS": "1" if self.recorder.break_glass_reason else "0",
            "SAFETERRAFORM_PLAN_SHA256": plan_sha256,
        }
        try:
            hook_code = self.run_hook("after_destructive_apply", command, extra)
        except SafeTerraformError as error:
            hook_code, detail = 127, str(error)
        else:
            detail = f"hook after_destructive_apply exited {hook_code} ({command})"
        if hook_code != 0:
            self.ui.say(f"safeterraform: warning: {detail}; the apply's outcome stands")
            try:
                self.recorder.record("alert-failed", detail, exit_code=code)
            except audit.AuditError as error:
                self.ui.say(str(error))


def approval_store(env: Mapping[str, str], config: Config) -> approvals.Store:
    """The system layer's shared approvals directory, else the user's own beside the
    default audit log ($XDG_STATE_HOME/safeterraform/approvals)."""
    if config.approvals_dir:
        return approvals.Store(config.approvals_dir, shared=True)
    state_dir = os.path.dirname(audit.default_path(env, None))
    return approvals.Store(approvals.default_directory(state_dir))


def build(
    invocation: Invocation,
    config: Config,
    verdict: Verdict,
    real: RealBinary,
    env: Mapping[str, str],
    program: str,
    *,
    cwd: str | None = None,
    prompt: ui.Prompt | None = None,
    interactive: bool | None = None,
    out: Console | None = None,
    now: Callable[[], datetime.datetime] = _utc_now,
) -> Session:
    """A Session wired to the real terminal, runner and audit log unless told otherwise."""
    cwd = cwd or os.getcwd()
    workdir = verdict.workdir
    redactor = Redactor.for_args(invocation.typed, invocation.args)
    terminal = ui.make(env, redactor, prompt=prompt, interactive=interactive, out=out)
    terraform = Terraform(
        real.path,
        cwd,
        child_env(env),
        invocation.chdir,
        color=not ui.plain_output(env, sys.stdout.isatty()),
    )
    user, host = audit.identity(env)
    recorder = audit.Recorder(
        path=audit.default_path(env, None if config.error else config.audit_log),
        syslog=config.audit_syslog,
        user=user,
        host=host,
        cwd=workdir,
        workspace=verdict.workspace,
        argv=tuple(invocation.typed),
        program=program,
        redactor=redactor,
        now=now,
        agent=next((recorded for recorded, _ in agents.evidence(config, env)), None),
    )
    base = os.path.join(data_dir(env, workdir), "safeterraform")
    return Session(
        invocation=invocation,
        config=config,
        verdict=verdict,
        env=env,
        program=program,
        workdir=workdir,
        terraform=terraform,
        ui=terminal,
        recorder=recorder,
        confirmer=Confirmer(
            terminal,
            env,
            config,
            recorder,
            f"this is production ({verdict.reason})",
            approvals=approval_store(env, config),
            now=now,
        ),
        snapshotter=Snapshotter(
            terraform,
            os.path.join(base, "state-backups"),
            config.state_backups_keep,
            now,
            workdir=workdir,
        ),
        plans=PlanFiles(os.path.join(base, "plans"), verdict.workspace, now),
    )
