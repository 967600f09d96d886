"""`plan` in production: always to a file, then the destructive summary and the next step."""

from __future__ import annotations

from safeterraform.argv import bool_flag, flag_values
from safeterraform.confirm import display_names
from safeterraform.errors import Interrupted, Refused, SafeTerraformError
from safeterraform.planfiles import sha256_of
from safeterraform.session import Session


def run(session: Session) -> int:
    args = list(session.invocation.command_args)
    remote = session.remote_backend()
    if remote is not None:
        # A remote plan changes nothing and cannot be saved here for review: run it as typed.
        session.ui.note(
            f"safeterraform: the {remote} backend plans remotely; this plan cannot be "
            "reviewed here, and a production apply must be confirmed in HCP Terraform/TFE."
        )
        return session.run_as_typed()
    outs = flag_values(args, "out")
    if outs:
        plan_path = outs[-1]
    else:
        plan_path = session.plans.new_hidden()
        args.append(f"-out={plan_path}")
    from safeterraform.flows.apply import preload

    terraform = session.terraform
    if session.confirmer.agents or session.config.two_person:
        # A person must approve whatever this plan destroys: terraform's own "To perform
        # exactly these actions, run: terraform apply ..." would contradict our next step.
        terraform = terraform.with_env(TF_IN_AUTOMATION="1")
    code = terraform.foreground(
        terraform.composed("plan", args), lambda: preload(session, asks=False)
    )
    # Every spelling Terraform accepts (`-detailed-exitcode=true`, `--detailed-exitcode=1`,
    # from TF_CLI_ARGS_plan): exit 2 is "changes present", and the plan is still reviewed.
    detailed = bool_flag(args, "detailed-exitcode")
    if code != 0 and not (detailed and code == 2):
        return code
    local = session.workdir_path(plan_path)
    from safeterraform import review

    try:
        analysis, _ = review.analyze_plan_file(
            session.terraform, plan_path, local, session.config.node_attributes
        )
    except Interrupted:
        raise  # a signal while reading: flows.execute records the interruption
    except SafeTerraformError as error:
        raise Refused(f"{error}; the plan cannot be reviewed") from None
    session.ui.review(analysis)
    nodes = list(analysis.affected_nodes)
    if session.confirmer.needs_approval(nodes):
        who = (
            f"{session.confirmer.agents[0]}: a coding agent cannot confirm it"
            if session.confirmer.agents
            else f"two_person = true in {session.config.two_person}: another user approves it"
        )
        session.ui.note(
            f"\nThis plan destroys, replaces or forgets {display_names(nodes)} in production.\n"
            f"  why a person: {who}\n"
            f"  next: stop here and ask a person to review it. "
            f"{session.approve_hint(plan_path)}"
        )
    else:
        session.ui.note(
            f"\nTo apply exactly this plan, run:\n    {session.apply_command(plan_path)}"
        )
    session.recorder.record(
        "planned",
        "plan written to a file",
        affected_nodes=list(analysis.affected_nodes),
        plan_sha256=sha256_of(local),
        exit_code=code,
    )
    session.plans.keep(plan_path)  # the operator applies it next
    return code
