"""`safeterraform approve` and `apply PLANFILE` show every change, not only the destructive
ones (docs/agents.md "What the person does", issue 26). A real pseudo-terminal (pexpect)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Runner
from tests.test_approve import audit_records, spawn_approve
from tests.test_guard import finish, incident, incident_template, reset_log, spawn

__all__ = ["incident", "incident_template"]

EXTRA = '\nresource "terraform_data" "extra" {\n  input = "new"\n}\n'
NODES = ("powder", "poison", "phoebe")


def plan_with_every_kind(incident: Path, shim: Runner) -> tuple[str, list[str], list[str]]:
    """A saved plan that creates one object, updates three and replaces three: the plan
    file, the created addresses and the updated ones (from terraform's own JSON)."""
    with (incident / "main.tf").open("a") as config:
        config.write(EXTRA)
    result = shim("plan", "-input=false", "-out=review.tfplan")
    assert result.returncode == 0, result.stderr
    shown = shim("show", "-json", "review.tfplan")
    changes = json.loads(shown.stdout)["resource_changes"]
    created = [c["address"] for c in changes if c["change"]["actions"] == ["create"]]
    updated = [c["address"] for c in changes if c["change"]["actions"] == ["update"]]
    assert len(created) == 1 and len(updated) == 3
    return "review.tfplan", created, updated


def test_approve_shows_every_created_and_updated_address(
    incident: Path, shim: Runner, env: dict[str, str], home: Path
) -> None:
    """Mutation: review_plan skips show_plan -> the creation and the updates are only
    counts ("1 to create, 3 to update") and their addresses are missing."""
    plan, created, updated = plan_with_every_kind(incident, shim)
    child = spawn_approve(plan, incident, env)
    child.expect("Type the names of the 3 affected node")
    output = child.before or ""
    for address in created:
        assert f"{address} will be created" in output, output
    for address in updated:
        assert f"{address} will be updated in-place" in output, output
    # Terraform's rendering comes first, then the destructive section and WHY.
    assert output.index("will be updated in-place") < output.index("DESTRUCTIVE CHANGES")
    child.sendline(" ".join(NODES))
    child.expect("Approved until")
    assert finish(child) == 0
    approved = [r for r in audit_records(home) if r["verdict"] == "approved"]
    assert "it covers 0 to destroy, 3 to replace, 0 to forget, 1 to create, 3 to update" in str(
        approved[-1]["reason"]
    )


def test_apply_of_a_saved_plan_shows_every_change_before_asking(
    incident: Path, shim: Runner, shim_bin: Path, env: dict[str, str]
) -> None:
    """Mutation: apply.run passes shown=True for a saved plan -> nothing but counts."""
    plan, created, updated = plan_with_every_kind(incident, shim)
    child = spawn(shim_bin, ["apply", plan], incident, env)
    child.expect("Type the names")
    output = child.before or ""
    for address in created:
        assert f"{address} will be created" in output, output
    for address in updated:
        assert f"{address} will be updated in-place" in output, output
    child.sendintr()
    assert finish(child) == 130
    assert reset_log(incident) == []
