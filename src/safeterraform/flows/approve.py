"""`safeterraform approve PLANFILE`: a person reviews a production plan exactly as the guarded
apply shows it, types the node names, and approves it for one apply without a terminal
(docs/design.md#coding-agents-and-approvals). The approval is bound to the plan's bytes, path,
workspace and directory.
"""

from __future__ import annotations

import os
import shlex

from safeterraform.errors import SafeTerraformError
from safeterraform.flows.apply import plan_ref, review_plan
from safeterraform.session import Session


def run(session: Session) -> int:
    plan_file = session.invocation.plan_file
    if plan_file is None:
        raise SafeTerraformError("safeterraform approve: name the plan file to approve")
    source = session.workdir_path(plan_file)
    if not os.path.isfile(source):
        raise SafeTerraformError(f"safeterraform approve: no such plan file: {source}")
    session.refuse_saved_cloud_plan("safeterraform approve")
    private = session.plans.private_copy(source)
    analysis = review_plan(session, private)
    if analysis is None:
        return 0
    from safeterraform import render  # review_plan imported it (docs/perf.md)

    nodes = list(analysis.affected_nodes)
    outcome = session.confirmer.confirm(
        nodes,
        "affected nodes",
        purpose="to approve this plan",
        aliases=analysis.addresses,
        plan_sha256=private.sha256,
    )
    store = session.confirmer.approvals
    if store is None:  # session.build always gives one
        raise SafeTerraformError("safeterraform approve: no approvals directory")
    plan = plan_ref(session, private)
    recorder = session.recorder
    ttl = session.config.approval_ttl
    now = session.confirmer.now()
    approval = store.add(plan, nodes, recorder.user, recorder.host, now, ttl)
    try:
        recorder.record(
            "approved",
            f"approved for one apply until {approval.expires_at} ({approval.file}); "
            f"it covers {render.counts_line(analysis)}",
            affected_nodes=nodes,
            expected_nodes=nodes,
            typed_nodes=list(outcome.typed),
            plan_sha256=private.sha256,
            exit_code=0,
        )
    except SafeTerraformError:
        os.unlink(approval.file)  # an approval the audit trail does not know of is none
        raise
    shown = shlex.quote(os.path.relpath(plan.path, session.workdir))
    two_person = (
        f" by another user than {recorder.user} (two_person = true)"
        if session.config.two_person
        else ""
    )
    session.ui.note(
        f"Approved until {approval.expires_at}. In {session.workdir}, "
        f"`{session.program} apply {shown}` now applies exactly this plan, once, also "
        f"without a terminal (a coding agent, a runbook){two_person}. "
        f"The approval: {approval.file}"
    )
    return 0
