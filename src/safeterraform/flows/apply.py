"""`apply` and `destroy` in production: plan to a file (or take the one given), show what it
destroys and why, confirm, then apply exactly the reviewed bytes (docs/design.md#command-classes,
#confirmation)."""

from __future__ import annotations

import contextlib
import functools
import importlib
import io
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from safeterraform import planfiles
from safeterraform.approvals import PlanRef
from safeterraform.argv import CommandLineError, split_apply_flags
from safeterraform.errors import Interrupted, PlanError, Refused, SafeTerraformError, block
from safeterraform.planfiles import PrivatePlan
from safeterraform.policy import Config
from safeterraform.session import Session

if TYPE_CHECKING:
    from safeterraform import blast


# What reviewing a plan imports besides the terminal's modules (UI.modules).
REVIEW_MODULES = ("safeterraform.review", "safeterraform.render", "safeterraform.promotion")


class Reading(NamedTuple):
    """A plan file read ahead (preload): what the review makes of it, and its prior state's
    bytes (None: it has none)."""

    analysis: blast.Analysis
    plan_json: dict[str, Any]
    prior_state: bytes | None


def preload(
    session: Session,
    asks: bool = True,
    state: Callable[[], bytes] | None = None,
    ahead: planfiles.ReadAhead[Reading] | None = None,
) -> None:
    """Start importing what the review needs (analysis, rendering, the prompt's library)
    in a thread, while terraform plans and shows the plan: ~0.2 s of imports, several
    times that on a busy machine, no longer stand between the plan and the prompt
    (docs/perf.md). Then, given the `state` the plan starts from, read it as the plan's
    prior state (planread.prime_prior_state: used only when the plan holds those very
    bytes), and given the plan file terraform is writing, read it as soon as it is whole
    (`ahead`: used only for the very bytes reviewed). Nothing waits for the thread: a
    module the flow imports first is imported by the flow (or waited for, when the thread
    is importing it)."""
    modules = (*REVIEW_MODULES, *session.ui.modules(asks))
    threading.Thread(target=_import_all, args=(modules, state), daemon=True).start()
    if ahead is not None:  # its own thread: a slow state pull does not hold it back
        read = functools.partial(_analyze_bytes, session.config.node_attributes)
        threading.Thread(target=ahead.watch, args=(read,), daemon=True).start()


def _import_all(modules: tuple[str, ...], state: Callable[[], bytes] | None = None) -> None:
    for name in modules:
        with contextlib.suppress(Exception):  # the flow's own import says what is wrong
            importlib.import_module(name)
    if state is not None:
        with contextlib.suppress(Exception):  # the pull's own join says what is wrong
            from safeterraform import planread

            planread.prime_prior_state(state())


def _analyze_bytes(node_attributes: Sequence[str], data: bytes) -> Reading | None:
    """What review.analyze_natively makes of a plan file's bytes (None: not natively)."""
    import zipfile

    from safeterraform import plan, review

    snapshot = plan.read_snapshot(io.BytesIO(data))
    reviewed = review.analyze_natively(io.BytesIO(data), snapshot, node_attributes)
    if reviewed is None:
        return None
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        prior_state = archive.read("tfstate") if "tfstate" in archive.namelist() else None
    return Reading(*reviewed, prior_state)


def run(session: Session) -> int:
    invocation = session.invocation
    if session.refuse_remote_run("review the plan"):
        return _as_typed(session)
    ahead: planfiles.ReadAhead[Reading] | None = None
    if invocation.plan_file is not None:
        source = session.workdir_path(invocation.plan_file)
        args = list(invocation.command_args)
        position = len(args) - 1 - args[::-1].index(invocation.plan_file)
        apply_flags = args[:position] + args[position + 1 :]
        created = False
    else:
        try:
            plan_flags, apply_flags = split_apply_flags(invocation.command_args)
        except CommandLineError as error:
            raise Refused(f"safeterraform: {error}") from None
        if invocation.command == "destroy":
            plan_flags.append("-destroy")
        source = session.plans.new_hidden()
        ahead = planfiles.ReadAhead(source)

        # Independent of the plan (docs/perf.md): the state as it is now, for the staleness
        # check and the snapshot, and our own imports. A state that changes after this pull
        # and before the plan reads it makes the plan look stale: refused, never applied.
        def meanwhile() -> None:
            pulled = session.snapshotter.pull_in_background(session.workspace)
            preload(session, state=pulled, ahead=ahead)

        code = session.terraform.plan_for_the_shim(plan_flags, source, meanwhile)
        ahead.end()
        session.ui.plan_shown()
        if code != 0:
            with contextlib.suppress(SafeTerraformError):
                session.snapshotter.pull_in_background(session.workspace)()  # none left running
            return code
        created = True
    private = read_plan(session, source)
    shown = created
    if ahead is not None and ahead.read_other(private.sha256):
        # Another process rewrote the hidden plan after terraform printed it: the plan to
        # review is shown by `terraform show` before anyone is asked, as a saved plan is.
        session.ui.note(PLAN_CHANGED)
        shown = False
    return review_and_apply(session, private, apply_flags, created, shown=shown, ahead=ahead)


def read_plan(session: Session, source: str) -> PrivatePlan:
    """The private copy of the plan to review; a plan that cannot be read is refused
    (exit 3, docs/design.md#exit-codes), saying so when the shim's own plan was used up."""
    try:
        return session.plans.private_copy(source)
    except PlanError as error:
        ours = os.path.dirname(os.path.abspath(source)) == os.path.abspath(session.plans.directory)
        why = (
            "safeterraform removes a plan it made once it is applied: this one was already "
            "applied (or removed)"
            if ours and not os.path.exists(source)
            else "a plan that cannot be read cannot be reviewed"
        )
        raise session.confirmer.refusal(
            block(
                f"refused: {str(error).removeprefix('safeterraform: ')}; nothing was applied",
                why,
                f"make a new plan (`{session.program} plan`) and review that one.",
            )
        ) from None


def _as_typed(session: Session) -> int:
    code = session.run_as_typed()
    session.record_outcome(code, f"terraform {session.invocation.command} exited {code}")
    session.alert(None, code)  # break-glass: never planned here, so possibly destructive
    return code


# A rollout step's cause, when its own plan no longer shows the upstream change (docs/rollout.md).
RECALLED = "as the rollout's first plan traced it: an earlier step applied the upstream change"
PLAN_CHANGED = (
    "safeterraform: the plan file changed after terraform printed it (another process wrote "
    "it); the plan that would be applied follows"
)
# Terraform has just printed "No changes." itself: say only what the shim does (issue 27).
NOTHING_TO_APPLY = "safeterraform: nothing to apply."


def has_changes(plan_json: Mapping[str, Any]) -> bool:
    if "applyable" in plan_json:
        return bool(plan_json["applyable"])
    changes = [
        *plan_json.get("resource_changes", []),
        *plan_json.get("output_changes", {}).values(),
    ]
    return any(c.get("change", c).get("actions") not in (["no-op"], ["read"]) for c in changes)


def limits_broken(analysis: blast.Analysis, config: Config) -> list[str]:
    """The `[limits]` this plan goes over (pure)."""
    affected = len(analysis.affected_nodes)
    known = max(analysis.nodes_known, affected)
    broken = []
    if config.max_affected_nodes is not None and affected > config.max_affected_nodes:
        broken.append(f"max_affected_nodes = {config.max_affected_nodes}")
    fraction = config.max_affected_fraction
    if fraction is not None and known and affected / known > fraction:
        broken.append(f"max_affected_fraction = {fraction}")
    return broken


def review_plan(
    session: Session,
    private: PrivatePlan,
    only_nodes: tuple[str, ...] | None = None,
    recalled: Mapping[str, blast.Cause] | None = None,
    *,
    shown: bool = False,
    ahead: planfiles.ReadAhead[Reading] | None = None,
) -> blast.Analysis | None:
    """Read the private copy, refuse it when stale or not promoted, render it and check
    `[limits]`, as the guarded apply, a rollout's step and `safeterraform approve` all do;
    None when it has no changes. `only_nodes` (a rollout's step): the nodes this plan must
    affect, exactly; `recalled`: the causes the rollout's first plan traced. `shown`:
    terraform's own plan output is already on the screen (the shim ran the plan); otherwise
    `terraform show` of the private copy comes first, so every change is seen, not only the
    destructive ones (README "What is enforced"). `ahead`: the plan file as the shim's own
    plan wrote it, read while terraform was still printing it; taken only when the private
    copy holds the very bytes read."""
    terraform = session.terraform.with_fds(private.fd)
    join_state = session.snapshotter.pull_in_background(session.workspace)
    preload(session)
    from safeterraform import blast, promotion, review

    try:
        # Natively when planread can (review.analyze_natively), else `show -json`. A saved
        # plan of another terraform release is refused by `show_plan` below, as apply would.
        reading = ahead.take(private.sha256) if ahead is not None else None
        analysis, plan_json = (
            (reading.analysis, reading.plan_json)
            if reading is not None
            else review.analyze_plan_file(
                terraform, private.path, private.path, session.config.node_attributes
            )
        )
    except Interrupted:
        raise  # a signal while reading: flows.execute records the interruption
    except SafeTerraformError as error:
        raise session.confirmer.refusal(
            f"{error}; nothing was applied", plan_sha256=private.sha256
        ) from None
    if recalled:
        analysis = blast.recall_causes(analysis, recalled, RECALLED)
    if only_nodes is not None and set(analysis.affected_nodes) != set(only_nodes):
        raise session.confirmer.refusal(
            f"safeterraform: refused: this step should destroy or replace "
            f"{blast.display_names(only_nodes) or 'nothing'}, but its plan affects "
            f"{blast.display_names(analysis.affected_nodes) or 'nothing'} (-target takes a "
            "resource's dependencies along); nothing was applied. These nodes cannot be "
            "changed one at a time: review them together with a plain apply",
            plan_sha256=private.sha256,
            affected_nodes=list(analysis.affected_nodes),
        )
    if not has_changes(plan_json):
        session.ui.note(NOTHING_TO_APPLY)
        session.recorder.record(
            "no-changes", "the plan has no changes", plan_sha256=private.sha256, exit_code=0
        )
        return None
    try:
        current = join_state()
    except Interrupted:
        raise
    except SafeTerraformError as error:
        raise session.confirmer.refusal(
            f"safeterraform: refused: cannot read the current state ({error}); nothing was applied",
            plan_sha256=private.sha256,
        ) from None
    prior_state = reading.prior_state if reading is not None else None
    stale = planfiles.staleness_of(private.path, current, prior_state)
    if stale is not None:
        raise session.confirmer.refusal(
            block(
                "refused: this plan is stale; nothing was applied",
                stale,
                f"make a new plan (`{session.program} plan`) and review that one.",
            ),
            plan_sha256=private.sha256,
        )
    promotion.require(session, private)  # [promotion] after: applied in a lower env first?
    if not shown:
        show_plan(session, private)
    session.ui.review(analysis)
    nodes = list(analysis.affected_nodes)
    broken = limits_broken(analysis, session.config)
    if broken:
        session.confirmer.refuse_or_break_glass(
            block(
                f"refused: this plan destroys or replaces {len(nodes)} of "
                f"{max(analysis.nodes_known, len(nodes))} nodes at once",
                f"[limits] {' and '.join(broken)}; {session.where}",
                "nothing was applied. `safeterraform rollout` applies it one node at a "
                'time, with a health check between nodes (README, "Rolling out node by '
                'node").',
            ),
            affected_nodes=nodes,
        )
    return analysis


def show_plan(session: Session, private: PrivatePlan) -> None:
    """Terraform's own rendering of exactly the reviewed bytes (`terraform show` of the
    private copy), in the foreground; when it cannot be shown, nobody is asked."""
    terraform = session.terraform.with_fds(private.fd)
    code = terraform.foreground(terraform.composed("show", [private.path]))
    if code != 0:
        raise session.confirmer.refusal(
            f"safeterraform: refused: terraform show of the plan exited {code}, so its "
            "changes cannot be shown; nothing was applied",
            plan_sha256=private.sha256,
        )


def plan_ref(session: Session, private: PrivatePlan) -> PlanRef:
    """What an approval of this plan is bound to (`safeterraform approve` writes the same)."""
    return PlanRef(
        private.sha256, os.path.abspath(private.origin), session.workspace, session.workdir
    )


def review_and_apply(
    session: Session,
    private: PrivatePlan,
    apply_flags: list[str],
    created: bool,
    only_nodes: tuple[str, ...] | None = None,
    recalled: Mapping[str, blast.Cause] | None = None,
    *,
    shown: bool = False,
    ahead: planfiles.ReadAhead[Reading] | None = None,
) -> int:
    """Render the private copy, confirm, snapshot, apply it; every step recorded.
    `shown`, `ahead`: see review_plan."""
    analysis = review_plan(session, private, only_nodes, recalled, shown=shown, ahead=ahead)
    if analysis is None:
        return 0
    nodes = list(analysis.affected_nodes)
    source = private.origin
    hidden = os.path.dirname(os.path.abspath(source)) == os.path.abspath(session.plans.directory)
    if session.confirmer.needs_approval(nodes):
        # Only a person's approval can confirm it: keep the plan for `safeterraform approve`.
        session.plans.keep(source)
    elif created and session.ui.interactive:  # without a terminal nobody confirms here
        session.ui.note(
            "safeterraform: production: the plan above is applied by this command once you "
            "confirm; there is nothing else to run."
        )
    outcome = session.confirmer.confirm(
        nodes,
        "affected nodes",
        plan=plan_ref(session, private),
        next_step=session.approve_hint(source),
        aliases=analysis.addresses,
        plan_sha256=private.sha256,
    )
    if hidden and source not in session.plans.hidden:
        session.plans.hidden.append(source)  # a kept plan, confirmed: it goes when applied
    backup = session.snapshotter.save(session.workspace, session.state_files())
    session.recorder.record(
        "confirmed",
        session.confirmer.how(),
        affected_nodes=nodes,
        expected_nodes=nodes,
        typed_nodes=list(outcome.typed),
        plan_sha256=private.sha256,
        state_backup=backup,
    )
    hook_env = {
        "SAFETERRAFORM_AFFECTED_NODES": " ".join(nodes),
        "SAFETERRAFORM_WORKSPACE": session.workspace,
        "SAFETERRAFORM_PLAN_SHA256": private.sha256,
    }
    terraform = session.terraform.with_fds(private.fd)
    hook = session.config.before_destructive_apply
    if hook and analysis.destructive:
        # The hook reads the reviewed copy through a read-only descriptor of its own.
        readonly = os.open(private.path, os.O_RDONLY)
        try:
            hook_env["SAFETERRAFORM_PLAN_FILE"] = f"/dev/fd/{readonly}"
            code = session.run_hook("before_destructive_apply", hook, hook_env, (readonly,))
        finally:
            os.close(readonly)
        if code != 0:
            raise session.confirmer.refusal(
                f"safeterraform: refused: hook before_destructive_apply exited {code} "
                f"({hook}); nothing was applied",
                plan_sha256=private.sha256,
            )
    # Unnamed, yet any process of this user can rewrite it through /proc/PID/fd (the hook
    # just ran): test_a_private_copy_rewritten_after_the_review_is_not_applied.
    if planfiles.sha256_of(private.path) != private.sha256:
        raise session.confirmer.refusal(
            "safeterraform: refused: the reviewed plan changed after it was reviewed; "
            "nothing was applied",
            plan_sha256=private.sha256,
        )
    applying = terraform.composed("apply", [*apply_flags, private.path])
    code = terraform.foreground(applying, inert_output=False)  # it must outlive us
    session.record_outcome(
        code, f"terraform apply exited {code}", affected_nodes=nodes, plan_sha256=private.sha256
    )
    if analysis.destructive:
        session.alert(nodes, code, private.sha256)
    return code
