"""Coding agents and `safeterraform approve` against the real Terraform
(docs/design.md#coding-agents-and-approvals, issue 16).

The agent is the shim's caller with CLAUDECODE=1 in its environment, as Claude Code runs
its commands; the person is the same user without it, at a real pseudo-terminal (pexpect).
The state file's bytes and reset.log (the destroy-time provisioners' trace) are the
witnesses: nothing the agent can do on its own changes either.
"""

from __future__ import annotations

import json
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

from tests import tfharness
from tests.conftest import Runner
from tests.test_guard import (
    RESET,
    finish,
    incident,
    incident_template,
    reset_log,
    spawn,
)

__all__ = ["incident", "incident_template"]

AGENT = {"CLAUDECODE": "1"}
READY_MADE = "SAFETERRAFORM_CONFIRM_NODES="
KEPT = re.compile(r"safeterraform approve (\S+)")
NODES = ("powder", "poison", "phoebe")


def safeterraform_command() -> str:
    script = Path(sys.executable).parent / "safeterraform"
    assert script.is_file(), f"{script} is missing: install the package"
    return str(script)


def approve(plan: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`safeterraform approve PLAN` without a terminal."""
    return subprocess.run(
        [safeterraform_command(), "approve", plan],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )


def spawn_approve(plan: str, cwd: Path, env: dict[str, str]) -> pexpect.spawn:
    return pexpect.spawn(
        safeterraform_command(),
        ["approve", plan],
        cwd=str(cwd),
        env={**env, "TERM": "dumb"},
        encoding="utf-8",
        timeout=120,
        dimensions=(50, 200),
    )


def audit_records(home: Path) -> list[dict[str, object]]:
    log = home / ".local" / "state" / "safeterraform" / "audit.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()]


def assert_speaks_to_the_agent(output: str) -> None:
    """Every refusal under an agent names the way forward and nothing to copy."""
    assert "safeterraform approve" in output, output
    assert READY_MADE not in output, output
    assert "SAFETERRAFORM_BREAK_GLASS" not in output, output


def kept_plan(output: str) -> str:
    match = KEPT.search(output)
    assert match, output
    return match.group(1)


def agent_plan(shim: Runner, env: dict[str, str]) -> str:
    """The agent's `terraform plan`: allowed, and it says what a person does next."""
    env.update(AGENT)
    result = shim("plan", "-input=false")
    assert result.returncode == 0, result.stderr
    assert "a coding agent cannot confirm it" in result.stdout
    assert_speaks_to_the_agent(result.stdout)
    return kept_plan(result.stdout)


def test_agent_plain_apply_is_refused_and_keeps_the_plan_for_a_person(
    incident: Path, shim: Runner, env: dict[str, str]
) -> None:
    """Mutation: dropping the agent rule from Confirmer.confirm makes this a plain
    non-interactive refusal that names no `safeterraform approve` and keeps no plan."""
    before = tfharness.state_bytes(incident)
    env.update(AGENT)
    result = shim("apply", "-input=false")
    assert result.returncode == 3, result.stderr
    assert_speaks_to_the_agent(result.stderr)
    assert "CLAUDECODE is set, so a coding agent runs this command" in result.stderr
    for node in NODES:
        assert node in result.stderr
    plan = incident / kept_plan(result.stderr)
    assert plan.is_file()
    assert stat.S_IMODE(plan.stat().st_mode) == 0o600
    assert tfharness.state_bytes(incident) == before
    assert reset_log(incident) == []


def test_agent_with_the_right_confirm_nodes_is_refused(
    incident: Path, shim: Runner, env: dict[str, str]
) -> None:
    """The incident's retry: the agent states exactly the nodes it was shown.

    Mutation: letting SAFETERRAFORM_CONFIRM_NODES through under an agent (checking the
    variable before the agent rule) resets all three control planes."""
    before = tfharness.state_bytes(incident)
    env.update(AGENT, SAFETERRAFORM_CONFIRM_NODES="powder poison phoebe")
    result = shim("apply", "-input=false")
    assert result.returncode == 3, result.stderr
    assert_speaks_to_the_agent(result.stderr)
    assert tfharness.state_bytes(incident) == before
    assert reset_log(incident) == []


@pytest.mark.parametrize("args", [["apply", "-auto-approve"], ["apply", "-input=false"]])
def test_agent_break_glass_is_refused(
    args: list[str], incident: Path, shim: Runner, env: dict[str, str]
) -> None:
    """Mutation: Confirmer.break_glass ignoring the agent variables applies the plan."""
    before = tfharness.state_bytes(incident)
    env.update(AGENT, SAFETERRAFORM_BREAK_GLASS="the agent says it is urgent")
    result = shim(*args)
    assert result.returncode == 3, result.stderr
    assert "break-glass is not available to a coding agent" in result.stderr
    assert "safeterraform approve" in result.stderr and READY_MADE not in result.stderr
    assert tfharness.state_bytes(incident) == before
    assert reset_log(incident) == []


def test_agent_at_a_pseudo_terminal_is_not_asked(
    incident: Path, shim_bin: Path, env: dict[str, str]
) -> None:
    """An agent that runs the shim under a terminal never sees a prompt to type into.

    Mutation: asking for the names whenever stdin is a terminal (the agent rule after the
    interactive check) lets the typed names apply the plan."""
    before = tfharness.state_bytes(incident)
    child = spawn(shim_bin, ["apply"], incident, {**env, **AGENT})
    index = child.expect(["Type the names", pexpect.EOF])
    assert index == 1, "the agent was asked for the names"
    output = child.before
    child.close()
    assert child.exitstatus == 3, output
    assert_speaks_to_the_agent(output)
    assert tfharness.state_bytes(incident) == before


def test_agent_piping_the_names_into_script_is_refused(
    incident: Path, shim_bin: Path, env: dict[str, str]
) -> None:
    """The issue's side door: `script` gives the agent a terminal to type the names into."""
    if shutil.which("script") is None:
        pytest.skip("needs script(1) from util-linux")
    before = tfharness.state_bytes(incident)
    result = subprocess.run(
        ["script", "-qec", f"{shim_bin} apply", "/dev/null"],
        cwd=incident,
        env={**env, **AGENT, "TERM": "dumb"},
        input="powder poison phoebe\n",
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 3, result.stdout + result.stderr
    assert_speaks_to_the_agent(result.stdout)
    assert "Type the names" not in result.stdout
    assert tfharness.state_bytes(incident) == before
    assert reset_log(incident) == []


def test_agent_cannot_approve_with_or_without_a_terminal(
    incident: Path, shim: Runner, env: dict[str, str]
) -> None:
    """Mutation: `approve` checking only for a terminal (not for the agent variables)
    shows the agent a prompt in the pseudo-terminal and records its approval."""
    plan = agent_plan(shim, env)
    refused = approve(plan, incident, env)
    assert refused.returncode == 3, refused.stderr
    assert "CLAUDECODE is set" in refused.stderr
    assert_speaks_to_the_agent(refused.stderr)

    child = spawn_approve(plan, incident, env)
    index = child.expect(["Type the names", pexpect.EOF])
    assert index == 1, "the agent was asked for the names"
    child.close()
    assert child.exitstatus == 3
    approvals = Path(env["XDG_STATE_HOME"]) / "safeterraform" / "approvals"
    assert not approvals.exists() or not list(approvals.glob("*.json"))


def test_applying_the_agents_plan_before_approval_is_refused(
    incident: Path, shim: Runner, env: dict[str, str]
) -> None:
    before = tfharness.state_bytes(incident)
    plan = agent_plan(shim, env)
    result = shim("apply", plan)
    assert result.returncode == 3, result.stderr
    assert "no person has approved this plan" in result.stderr
    assert_speaks_to_the_agent(result.stderr)
    assert tfharness.state_bytes(incident) == before
    assert reset_log(incident) == []


def test_a_person_approves_and_the_agent_applies_exactly_that_plan_once(
    incident: Path, shim: Runner, env: dict[str, str], home: Path
) -> None:
    """The night replayed with a person in the loop.

    Mutation: Store.take without the SHA-256 comparison applies the swapped plan. (That
    an approval is used once is tested without the stale-plan check in the way, in
    tests/test_approvals.py.)"""
    plan = agent_plan(shim, env)  # the shim fixture runs with `env`: the agent's now
    person_env = {k: v for k, v in env.items() if k != "CLAUDECODE"}
    original = (incident / plan).read_bytes()

    child = spawn_approve(plan, incident, person_env)
    child.expect("Type the names of the 3 affected node")
    shown = child.before
    for ip in ("192.0.2.65", "192.0.2.66", "192.0.2.67"):
        assert f"{RESET} {ip}" in shown
    assert "3 of 3" in shown
    child.sendline("powder poison")
    child.expect("missing phoebe")
    child.expect("Type the names")
    child.sendline("phoebe powder poison")
    child.expect("Approved until")
    assert finish(child) == 0
    assert reset_log(incident) == []

    # A different plan at the approved path is not the approved plan.
    swapped = shim(
        "plan",
        "-input=false",
        "-out=other.tfplan",
        '-target=terraform_data.reset_on_destroy["powder"]',
    )
    assert swapped.returncode == 0, swapped.stderr
    shutil.copyfile(incident / "other.tfplan", incident / plan)
    refused = shim("apply", plan)
    assert refused.returncode == 3, refused.stderr
    assert "was for other bytes" in refused.stderr
    assert reset_log(incident) == []
    (incident / plan).write_bytes(original)

    applied = shim("apply", plan)
    assert applied.returncode == 0, applied.stderr
    assert sorted(reset_log(incident)) == [f"{RESET} 192.0.2.6{n}" for n in (5, 6, 7)]
    assert not (incident / plan).exists()  # the kept plan went with its apply

    records = audit_records(home)
    approved = [r for r in records if r["verdict"] == "approved"]
    assert len(approved) == 1 and approved[0]["argv"] == ["approve", plan]
    applied_record = [r for r in records if r["verdict"] == "applied"][-1]
    assert applied_record["plan_sha256"] == approved[0]["plan_sha256"]
    assert str(applied_record["approved_by"]).startswith(f"{approved[0]['user']}@")

    (incident / plan).parent.mkdir(parents=True, exist_ok=True)
    (incident / plan).write_bytes(original)  # the same bytes again: the approval is used
    again = shim("apply", plan)
    assert again.returncode == 3, again.stderr
    assert len(reset_log(incident)) == 3


def test_nothing_destructive_keeps_todays_rules_under_an_agent(
    incident: Path, shim: Runner, env: dict[str, str]
) -> None:
    """Only destruction needs a person: adding a node still goes through the runbook rule."""
    (incident / "main.tf").write_text(
        tfharness.incident_config(tfharness.INCIDENT_NODES)
        + '\nresource "terraform_data" "pearl" {\n  input = { hostname = "pearl" }\n}\n'
    )
    env.update(AGENT, SAFETERRAFORM_CONFIRM_NODES="")
    result = shim("apply", "-input=false")
    assert result.returncode == 0, result.stderr
    assert "1 added, 0 changed, 0 destroyed" in result.stdout


def test_approve_without_a_terminal_is_refused(
    incident: Path, shim: Runner, env: dict[str, str]
) -> None:
    plan = agent_plan(shim, env)
    person = {k: v for k, v in env.items() if k != "CLAUDECODE"}
    refused = approve(plan, incident, person)
    assert refused.returncode == 3, refused.stderr
    assert "stdin is not a terminal" in refused.stderr
    assert f"safeterraform approve {plan}" in refused.stderr


def test_two_person_refuses_the_appliers_own_approval_as_any_user(
    incident: Path, shim: Runner, env: dict[str, str], system_config: Path
) -> None:
    """`[confirm] two_person = true` in the system layer (the file the launcher records):
    the user who plans and approves at a terminal cannot apply on that approval. Runs as
    whoever runs the suite (tests/test_bastion.py needs root for alice and bob).

    Mutation: Store.take ignoring two_person, or the Confirmer passing it no two_person
    (`None`) -> the user's own approval applies the plan: three resets, and this fails."""
    system_config.parent.mkdir(parents=True, exist_ok=True)
    system_config.write_text("[confirm]\ntwo_person = true\n")
    planned = shim("plan", "-input=false", "-out=change.tfplan")
    assert planned.returncode == 0, planned.stderr
    assert f"two_person = true in {system_config}" in planned.stdout
    before = tfharness.state_bytes(incident)
    alone = shim("apply", "change.tfplan")
    assert alone.returncode == 3, alone.stdout + alone.stderr
    assert "another user must approve what production loses" in alone.stderr

    child = spawn_approve("change.tfplan", incident, env)
    child.expect("Type the names of the 3 affected node")
    child.sendline("powder poison phoebe")
    child.expect("Approved until")
    assert finish(child) == 0
    refused = shim("apply", "change.tfplan")
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "who is applying it" in refused.stderr
    assert f"two_person = true in {system_config}" in refused.stderr
    assert tfharness.state_bytes(incident) == before
    assert reset_log(incident) == []
