"""`safeterraform rollout`: one node per apply, a health check between
(docs/design.md#the-prevention-list).

Plan once and group the destructive changes by node; then, node by node, a plan targeted
at that node's addresses, reviewed, confirmed with that node's name and applied exactly
(flows/apply.py review_and_apply, which also refuses a step whose plan affects any other
node), then `[hooks] after_node`; the rollout goes on only when it exits 0. A last,
untargeted plan applies what is left, which must destroy nothing. Progress is kept in
DATA_DIR/safeterraform/rollout-<workspace>.json for `--resume`, which plans afresh: a
node already rolled out no longer appears, one that appears again is rolled out again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from safeterraform import blast, promotion, review
from safeterraform.argv import CommandLineError, flag_values, split_apply_flags
from safeterraform.confirm import CONFIRM_VAR
from safeterraform.errors import (
    EXIT_INTERRUPTED,
    EXIT_REFUSED,
    Interrupted,
    Refused,
    SafeTerraformError,
    block,
)
from safeterraform.flows import apply
from safeterraform.planfiles import PrivatePlan
from safeterraform.policy import data_dir
from safeterraform.redact import redact_argv
from safeterraform.session import Session


@dataclasses.dataclass(frozen=True)
class Request:
    """What the operator asked for besides terraform's flags."""

    order: tuple[str, ...] = ()  # --order a,b,c
    resume: bool = False
    command: str = "safeterraform rollout"  # how to run it again (resume line), as typed


@dataclasses.dataclass
class Progress:
    """A rollout under way: the order chosen, the nodes whose step (hook included) passed,
    and the causes its first plan traced, by address (each step shows them, docs/rollout.md)."""

    order: list[str]
    done: list[str]
    causes: dict[str, Any] = dataclasses.field(default_factory=dict)

    def recalled(self) -> dict[str, blast.Cause]:
        """The causes kept, those that still read as causes (a damaged entry is left out)."""
        found = {}
        for address, data in self.causes.items():
            with contextlib.suppress(TypeError, KeyError, AttributeError):
                found[address] = blast.cause_from_dict(data)
        return found


def rollout_order(
    affected: Sequence[str],
    requested: Sequence[str],
    last: Sequence[str],
) -> list[str]:
    """The nodes in the order they are rolled out (pure): those `--order` names first, in
    its order, then the rest in the plan's order; `[rollout] last` moves its nodes to the
    end, in its order, whatever --order says (the etcd leader goes last)."""
    chosen = [name for name in requested if name in affected]
    chosen += [name for name in affected if name not in chosen]
    ending = [name for name in last if name in chosen]
    return [name for name in chosen if name not in ending] + ending


# Said once, before the first step: every step is a -target plan and apply, and Terraform
# warns about that each time (docs/rollout.md).
TARGET_WARNINGS = (
    "Each node's step plans and applies with -target, so Terraform's warnings "
    '"Resource targeting is in effect" and "Applied changes may be incomplete" are expected '
    "there; the last step plans the whole configuration without -target."
)


def finished_line(order: Sequence[str]) -> str:
    """The rollout's last line once every step exited 0 (pure)."""
    if not order:
        return "safeterraform rollout: finished: no node to roll out; the configuration is applied."
    steps = ", ".join(f"{i}. {blast.display_name(n)}" for i, n in enumerate(order, 1))
    return (
        f"safeterraform rollout: finished: {len(order)} node(s) rolled out one at a time "
        f"({steps}); the configuration is fully applied."
    )


def progress_path(session: Session) -> str:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in session.workspace)
    return os.path.join(
        data_dir(session.env, session.workdir), "safeterraform", f"rollout-{safe}.json"
    )


def read_progress(path: str) -> Progress | None:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        causes = data.get("causes")
        return Progress(
            [str(n) for n in data["order"]],
            [str(n) for n in data["done"]],
            causes if isinstance(causes, dict) else {},
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_progress(path: str, progress: Progress) -> None:
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    temporary = f"{path}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(dataclasses.asdict(progress), handle)
    os.replace(temporary, path)


def run(session: Session, request: Request) -> int:
    """The rollout; exit 0 when every node and the rest are applied (see `commands/rollout`)."""
    invocation, config = session.invocation, session.config
    if config.error is not None:
        raise session.confirmer.refusal(f"{config.error}; the rollout is refused until it is fixed")
    if invocation.auto_approve:
        raise session.confirmer.refusal(
            block(
                "refused: -auto-approve is not allowed in a rollout",
                "every node of a rollout is confirmed by its name",
                "run `safeterraform rollout` without it.",
            )
        )
    for name in ("target", "exclude"):
        if flag_values(invocation.command_args, name):
            raise session.confirmer.refusal(
                block(
                    f"refused: -{name} is not allowed in a rollout",
                    "a rollout makes its own -target for each node and covers the whole "
                    "configuration",
                    f"run `safeterraform rollout` without -{name}.",
                )
            )
    agents = session.confirmer.agents
    if agents:
        raise session.confirmer.refusal(
            block(
                "refused: a coding agent cannot run a rollout",
                f"{agents[0]}, so a coding agent runs this; a rollout destroys or "
                "replaces nodes one by one with a person confirming each",
                "stop here and ask a person to run `safeterraform rollout` at a terminal.",
            )
        )
    remote = session.remote_backend()
    if remote is not None:
        raise session.confirmer.refusal(
            block(
                f"refused: the {remote} backend plans and applies remotely",
                "safeterraform cannot roll out node by node where it cannot review the plan",
                "review and confirm the runs in HCP Terraform/TFE, one node at a time.",
            )
        )
    try:
        plan_flags, apply_flags = split_apply_flags(invocation.command_args)
    except CommandLineError as error:
        raise Refused(f"safeterraform: {error}") from None
    return Rollout(session, request, plan_flags, apply_flags).run()


@dataclasses.dataclass
class Rollout:
    session: Session
    request: Request
    plan_flags: list[str]
    apply_flags: list[str]
    order: list[str] = dataclasses.field(default_factory=list)
    done: list[str] = dataclasses.field(default_factory=list)
    current: str | None = None
    causes: dict[str, blast.Cause] = dataclasses.field(default_factory=dict)

    def _progress(self) -> Progress:
        causes = {address: blast.cause_to_dict(cause) for address, cause in self.causes.items()}
        return Progress(self.order, self.done, causes)

    def run(self) -> int:
        session = self.session
        path = progress_path(session)
        previous = read_progress(path) if self.request.resume else None
        if self.request.resume:
            session.ui.note(
                f"safeterraform rollout: resuming; done before: "
                f"{blast.display_names(previous.done) or 'none'}."
                if previous is not None
                else "safeterraform rollout: no unfinished rollout is recorded here; starting one."
            )
        full = self._plan(self.plan_flags)
        if isinstance(full, int):
            return full
        analysis, _ = review.analyze_plan_file(
            session.terraform.with_fds(full.fd),
            full.path,
            full.path,
            session.config.node_attributes,
        )
        if previous is not None:  # resumed: what the first plan traced is still the cause
            analysis = blast.recall_causes(analysis, previous.recalled(), apply.RECALLED)
        self.causes = {c.address: c.cause for c in analysis.changes if c.cause is not None}
        groups = dict(analysis.by_node())
        affected = list(groups)
        # --order may name a node by its address, as the prompt accepts (README "Node names").
        by_address = {a: node for node, found in analysis.addresses.items() for a in found}
        ordered = tuple(by_address.get(name, name) for name in self.request.order)
        requested = ordered or (tuple(previous.order) if previous else ())
        unknown = [n for n in ordered if n not in affected]
        unknown = [n for n in unknown if previous is None or n not in previous.done]
        if unknown:
            raise SafeTerraformError(
                f"safeterraform: --order names {blast.display_names(unknown)}, which this plan "
                f"does not destroy or replace (it does: {blast.display_names(affected) or 'none'})"
            )
        self.order = rollout_order(affected, requested, session.config.rollout_last)
        self.done = list(previous.done) if previous else []
        again = [n for n in self.order if n in self.done]
        if again:
            session.ui.note(
                f"safeterraform rollout: {blast.display_names(again)} rolled out before but "
                "affected again by this plan: rolled out again."
            )
            self.done = [n for n in self.done if n not in again]
        session.ui.review(analysis)
        promotion.require(session, full)
        steps = ", ".join(f"{i}. {blast.display_name(n)}" for i, n in enumerate(self.order, 1))
        session.ui.note(
            f"\nsafeterraform rollout: {len(self.order)} node(s), one apply each"
            + (f": {steps}" if steps else "")
            + "; then the rest, which must destroy nothing."
        )
        if self.order:
            session.ui.note(TARGET_WARNINGS)
        if not session.ui.interactive:  # a runbook states the whole set it expects
            session.confirmer.confirm(
                self.order, "this rollout would destroy or replace", aliases=analysis.addresses
            )
        session.recorder.record(
            "rollout",
            f"rollout started: {', '.join(self.order) or 'no node'} then the rest",
            affected_nodes=self.order,
        )
        write_progress(path, self._progress())
        try:
            code = self._steps(groups, path)
        except Interrupted as error:  # SIGTERM, SIGHUP: flows.execute records it
            self._stopped(str(error), error.exit_code)
            raise
        except SafeTerraformError as error:  # refused or not confirmed: already recorded
            return self._stopped(str(error), error.exit_code)
        except KeyboardInterrupt:
            with contextlib.suppress(SafeTerraformError):
                session.recorder.record(
                    "interrupted", "rollout interrupted (Ctrl-C)", exit_code=EXIT_INTERRUPTED
                )
            return self._stopped("interrupted (Ctrl-C)", EXIT_INTERRUPTED)
        if code == 0:
            with contextlib.suppress(OSError):
                os.unlink(path)
            session.recorder.record(
                "rollout", "rollout finished", affected_nodes=self.order, exit_code=0
            )
            session.ui.note(finished_line(self.order))
        return code

    def _steps(self, groups: Mapping[str, Sequence[blast.DestructiveChange]], path: str) -> int:
        session = self.session
        for number, node in enumerate(self.order, 1):
            self.current = node
            session.ui.note(f"\n=== rollout: node {number} of {len(self.order)}: {node} ===")
            targets = dict.fromkeys(f"-target={change.address}" for change in groups[node])
            code = self._step([*self.plan_flags, *targets], (node,))
            if code != 0:
                return self._stopped(f"terraform exited {code} during the step of {node}", code)
            self.done.append(node)
            self.current = None
            write_progress(path, self._progress())
            hook = session.config.after_node
            if hook:
                left = [n for n in self.order if n not in self.done]
                code = session.run_hook(
                    "after_node",
                    hook,
                    {
                        "SAFETERRAFORM_NODE": node,
                        "SAFETERRAFORM_WORKSPACE": session.workspace,
                        "SAFETERRAFORM_NODES_DONE": " ".join(self.done),
                        "SAFETERRAFORM_NODES_LEFT": " ".join(left),
                    },
                )
                if code != 0:
                    why = f"hook after_node exited {code} after {node} ({hook})"
                    session.recorder.record(
                        "failed", f"rollout stopped: {why}", affected_nodes=[node], exit_code=3
                    )
                    return self._stopped(why, EXIT_REFUSED)
            session.recorder.record(
                "rollout",
                f"rollout: {node} done" + (", health check passed" if hook else ""),
                affected_nodes=[node],
            )
        session.ui.note("\n=== rollout: the rest (nothing may be destroyed) ===")
        code = self._step(self.plan_flags, ())
        if code != 0:
            return self._stopped(f"terraform exited {code} during the last step", code)
        return 0

    def _plan(self, flags: Sequence[str]) -> int | PrivatePlan:
        session = self.session
        source = session.plans.new_hidden()
        code = session.terraform.plan_for_the_shim(flags, source)
        session.ui.plan_shown()
        if code != 0:
            return code
        return session.plans.private_copy(source)

    def _step(self, flags: Sequence[str], only: tuple[str, ...]) -> int:
        """Plan with `flags`, then review, confirm `only` and apply that plan."""
        private = self._plan(flags)
        if isinstance(private, int):
            return private
        session = self.session
        session.snapshotter.forget()  # the state changed with the previous step
        if not session.ui.interactive and CONFIRM_VAR in session.env:
            # The runbook stated the whole set; each step still confirms its own node(s).
            confirmer = dataclasses.replace(
                session.confirmer, env={**session.env, CONFIRM_VAR: " ".join(only)}
            )
            session = dataclasses.replace(session, confirmer=confirmer)
        # created=False: no "nothing else to run" note, a rollout has more steps
        return apply.review_and_apply(
            session, private, self.apply_flags, False, only, self.causes, shown=True
        )

    def _stopped(self, why: str, code: int) -> int:
        """Say exactly where the rollout stopped and how to resume it."""
        left = [n for n in self.order if n not in self.done]
        current = self.current
        shown_left = ", ".join(
            blast.display_name(n)
            + (
                " (its step did not finish: the resumed plan shows what is left of it)"
                if n == current
                else ""
            )
            for n in left
        )
        flags = shlex.join(redact_argv(self.session.invocation.command_args))
        resume = f"{self.request.command} --resume" + (f" {flags}" if flags else "")
        self.session.ui.say(
            f"safeterraform rollout: stopped: {why}.\n"
            f"  done:     {blast.display_names(self.done) or 'none'}\n"
            f"  not done: {shown_left or 'none'} (and the rest of the plan)\n"
            f"Fix the cause, then resume with: {resume}"
        )
        self.current = None
        return code
