"""State-changing commands without a plan, in production: show what they touch, have it
typed, snapshot every state they write, then run them as typed (docs/design.md#command-classes).

`terraform test` applies and destroys the configuration for real: with destroy-time
provisioners in it, it is refused outright (they would run against the real addresses).
"""

from __future__ import annotations

import json
import os
from typing import Any

from safeterraform import policy, statecmd
from safeterraform.argv import bool_flag
from safeterraform.errors import SafeTerraformError
from safeterraform.errors import block as message_block
from safeterraform.session import Session


def run(session: Session) -> int:
    invocation = session.invocation
    command, args = invocation.command, invocation.command_args
    if command in ("state rm", "state mv") and bool_flag(args, "dry-run"):
        return session.run_as_typed()
    if command == "test":
        refuse_test_with_destroy_provisioners(session)
    # A state file named by -state/-state-out/-backup(-out) belonging to another
    # workspace: that workspace is the one at stake, and the one to type.
    owners = [policy.state_file_workspace(path) for path in session.state_files()]
    workspace = next((owner for owner in owners if owner), session.workspace)
    state = _read_state(session) if command in statecmd.ADDRESS_COMMANDS else None
    found = statecmd.touched(command, args, workspace, state, session.config.node_attributes)
    if command == "init":
        targets = [f"{kind} {value}" for kind, value in invocation.states]
        found = statecmd.Touched(
            f"migrate the state of workspace {workspace!r} into another backend "
            f"({'; '.join(targets) or 'unknown'})",
            (),
            found.expected,
        )
    expected = list(found.expected)
    session.ui.note(f"Production ({session.verdict.reason}): this will {found.what}.")
    fields: dict[str, Any] = {"affected_nodes": expected, "expected_nodes": expected}
    outcome = session.confirmer.confirm(expected, f"`{command}` would {found.what}")
    # `workspace delete NAME` destroys NAME's state, not the current one's: back up that.
    backup_of = next((value for kind, value in invocation.states if kind == "workspace"), workspace)
    backup = session.snapshotter.save(backup_of, session.state_files())
    session.recorder.record(
        "confirmed",
        session.confirmer.how(),
        typed_nodes=list(outcome.typed),
        state_backup=backup,
        **fields,
    )
    code = session.run_as_typed()
    session.record_outcome(code, f"{command} exited {code}", state_backup=backup, **fields)
    return code


def _read_state(session: Session) -> dict[str, Any] | None:
    """The current state (terraform state pull); None when there is none yet."""
    text = session.snapshotter.pull(session.workspace)
    if not text.strip():
        return None
    data = json.loads(text)
    return data if isinstance(data, dict) else None


def refuse_test_with_destroy_provisioners(session: Session) -> None:
    found = destroy_provisioners(session.workdir)
    if found:
        listed = "; ".join(found)
        raise session.confirmer.refusal(
            message_block(
                f"refused `{session.words()}`: its destroy-time provisioners would run "
                f"against real addresses ({listed})",
                f"terraform test applies and destroys this configuration for real; {session.where}",
                "run the tests in a non-production workspace or directory.",
            )
        )


def destroy_provisioners(workdir: str) -> list[str]:
    """`file:line: address provisioner` for every `when = destroy` provisioner in the
    configuration (.tf and .tf.json) and the local modules it calls (`source = "./..."`),
    as `safeterraform lint` finds them; a suppression comment does not hide one here."""
    from safeterraform import lint
    from safeterraform.commands import lint as lint_command

    try:
        report = lint.lint(lint_command.load_module(workdir), (), lint_command.load_module)
    except lint.LintError as error:
        raise SafeTerraformError(
            f"{error} (while looking for destroy-time provisioners before `terraform test`)"
        ) from None
    return [
        f"{os.path.relpath(f.path, workdir)}:{f.line}: {f.address} {f.provisioner}"
        for f in sorted((*report.findings, *report.suppressed), key=lambda f: (f.path, f.line))
        if f.rule == lint.DESTROY_PROVISIONER
    ]
