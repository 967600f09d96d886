"""The guarded flows, one module each: `run(session) -> int` (docs/design.md#command-classes).

`execute` picks the flow for the command's class, removes the shim's hidden plans on
every way out and turns expected failures into one line and their exit code.
"""

from __future__ import annotations

from collections.abc import Callable

from safeterraform import audit
from safeterraform.argv import CommandClass
from safeterraform.audit import AuditError
from safeterraform.confirm import CONFIRM_VAR
from safeterraform.errors import EXIT_INTERRUPTED, Interrupted, SafeTerraformError, block
from safeterraform.flows import apply, plan
from safeterraform.session import Session


def run(session: Session) -> int:
    """Refusals that hold for every class first, then the class's own flow."""
    invocation = session.invocation
    if session.config.error is not None:
        raise session.confirmer.refusal(
            block(
                f"refused: {session.config.error.removeprefix('safeterraform: ')}",
                "safeterraform cannot tell whether this is production, so guarded commands "
                "are refused until the file is fixed (read-only ones still run)",
                "fix the file; `safeterraform doctor` shows every config layer it reads.",
            )
        )
    if invocation.auto_approve:
        source = invocation.auto_approve_source
        via = "" if source == "command line" else f" (injected through {source})"
        without = f"`{session.program} {invocation.command}` without -auto-approve"
        if session.confirmer.agents:
            instead = (
                f"a coding agent runs this ({session.confirmer.agents[0]}): run "
                f"{without}; when its plan destroys anything, stop and ask a person to run "
                "`safeterraform approve PLANFILE` in their own terminal (the refusal names "
                "the file)."
            )
        else:
            instead = (
                f"run {without}: it shows what the plan destroys and asks you to type the "
                f"node names. A runbook states the nodes it expects to lose in {CONFIRM_VAR}; "
                "Terragrunt: --no-auto-approve. `safeterraform doctor` says more."
            )
        session.confirmer.refuse_or_break_glass(
            block(
                f"refused `{session.words()}`: -auto-approve{via} is not allowed in production",
                session.where,
                instead,
            )
        )
        return _as_typed(session)
    if invocation.command_class == CommandClass.PLAN:
        return plan.run(session)
    if invocation.command_class in (CommandClass.APPLY, CommandClass.DESTROY):
        return apply.run(session)
    if invocation.command_class == CommandClass.STATE_CHANGE:
        from safeterraform.flows import state  # its node names import the analysis (blast)

        return state.run(session)
    session.confirmer.refuse_or_break_glass(
        block(
            f"refused `{session.words()}`: safeterraform does not know what "
            f"`{invocation.command}` changes",
            session.where,
            "run it outside production, or with break-glass if it must run here.",
        )
    )
    return _as_typed(session)


def _as_typed(session: Session) -> int:
    """After break-glass: run what was typed and record its outcome."""
    code = session.run_as_typed()
    session.record_outcome(code, f"terraform {session.invocation.command} exited {code}")
    if invocation_applies(session):
        session.alert(None, code)  # break-glass: never planned here, possibly destructive
    return code


def report_orphans(session: Session) -> None:
    """Say so when an earlier apply was confirmed and its shim killed before it recorded
    how it ended (README "What is enforced"); each is reported once, and `safeterraform log` and
    `doctor` show it from then on."""
    recorder = session.recorder
    try:
        told = audit.report_orphans(recorder.path, recorder.host, recorder.syslog)
    except AuditError as error:
        session.ui.say(str(error))
        return
    for words in told:
        session.ui.say(f"safeterraform: WARNING: {words}")


def invocation_applies(session: Session) -> bool:
    return session.invocation.command_class in (CommandClass.APPLY, CommandClass.DESTROY)


def execute(session: Session, flow: Callable[[Session], int] = run) -> int:
    """Guard one command (or run another flow, e.g. approve's); expected failures become
    one line and their exit code."""
    report_orphans(session)
    given = session.invocation.plan_file
    with session.plans.removed_on_exit(given and session.workdir_path(given)):
        try:
            return flow(session)
        except Interrupted as error:
            try:
                session.recorder.record("interrupted", str(error), exit_code=EXIT_INTERRUPTED)
            except AuditError as audit_error:
                session.ui.say(str(audit_error))
            session.ui.say(str(error))
            return EXIT_INTERRUPTED
        except SafeTerraformError as error:
            session.ui.say(str(error))
            return error.exit_code
        except KeyboardInterrupt:
            session.ui.say("safeterraform: interrupted; nothing was applied")
            return EXIT_INTERRUPTED
