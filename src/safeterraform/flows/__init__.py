"""The guarded flows, one module each: `run(session) -> int` (PRODUCT.md §5).

`execute` picks the flow for the command's class, removes the shim's hidden plans on
every way out and turns expected failures into one line and their exit code.
"""

from __future__ import annotations

from collections.abc import Callable

from safeterraform.argv import CommandClass
from safeterraform.audit import AuditError
from safeterraform.confirm import CONFIRM_VAR
from safeterraform.errors import EXIT_INTERRUPTED, Interrupted, SafeTerraformError
from safeterraform.flows import apply, plan
from safeterraform.session import Session


def run(session: Session) -> int:
    """Refusals that hold for every class first, then the class's own flow."""
    invocation = session.invocation
    if session.config.error is not None:
        raise session.confirmer.refusal(
            f"{session.config.error}; guarded commands are refused until it is fixed"
        )
    if invocation.auto_approve:
        source = invocation.auto_approve_source
        via = "" if source == "command line" else f" (injected through {source})"
        if session.confirmer.agents:
            instead = (
                f"{session.confirmer.agents[0]} is set, so a coding agent runs this: run "
                f"`{session.program} {invocation.command}` without it; it shows what the plan "
                "destroys, and when it destroys anything a person must review and approve "
                "that plan in their own terminal with `safeterraform approve PLANFILE` (the "
                "refusal names the file)."
            )
        else:
            instead = (
                f"Run `{session.program} {invocation.command}` without it to review the "
                f"destructive changes and type the node names; in a runbook set {CONFIRM_VAR} "
                "(see the README); Terragrunt users: pass --no-auto-approve."
            )
        session.confirmer.refuse_or_break_glass(
            f"safeterraform: refused `{session.words()}`: -auto-approve{via} is not allowed: "
            f"{session.where}. {instead}"
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
        f"safeterraform: refused `{session.words()}`: safeterraform does not know what "
        f"`{invocation.command}` changes, and {session.where}."
    )
    return _as_typed(session)


def _as_typed(session: Session) -> int:
    """After break-glass: run what was typed and record its outcome."""
    code = session.run_as_typed()
    session.record_outcome(code, f"terraform {session.invocation.command} exited {code}")
    if invocation_applies(session):
        session.alert(None, code)  # break-glass: never planned here, possibly destructive
    return code


def invocation_applies(session: Session) -> bool:
    return session.invocation.command_class in (CommandClass.APPLY, CommandClass.DESTROY)


def execute(session: Session, flow: Callable[[Session], int] = run) -> int:
    """Guard one command (or run another flow, e.g. approve's); expected failures become
    one line and their exit code."""
    with session.plans.removed_on_exit():
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
