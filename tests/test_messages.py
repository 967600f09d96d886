"""What each refusal kind and break-glass print, as golden text (80 columns, NO_COLOR),
against the real Terraform on the incident (docs/design.md#messages, issue 27).

Every message is a block: what happened, `why:`, `next:` specific to the cause; none holds
a ready-made way around it. Regenerate: SAFETERRAFORM_UPDATE_GOLDEN=1, review the diff.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import tfharness
from tests.conftest import Runner
from tests.test_guard import incident, incident_template, reset_log

__all__ = ["incident", "incident_template"]

GOLDEN = Path(__file__).parent / "golden" / "messages"
SAFETERRAFORM = str(Path(sys.executable).parent / "safeterraform")
HIDDEN_PLAN = re.compile(r"prod-\d{8}T\d{6}Z-\d+\.tfplan")
MINUTE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
READY_MADE = "SAFETERRAFORM_CONFIRM_NODES="


def user_config(home: Path, text: str) -> None:
    path = home / ".config" / "safeterraform" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def normalised(text: str, incident: Path, home: Path) -> str:
    """The text with this run's directories, plan names and times made constant."""
    text = text.replace(str(incident), "<DIR>").replace(str(home), "<HOME>")
    text = HIDDEN_PLAN.sub("prod-<TIME>-<PID>.tfplan", text)
    return MINUTE.sub("<TIME>", text)


def used_plan(incident: Path, env: dict[str, str], home: Path) -> list[str]:
    plans = incident / ".terraform" / "safeterraform" / "plans"
    plans.mkdir(parents=True)
    return ["apply", ".terraform/safeterraform/plans/prod-20250131T090000Z-4242.tfplan"]


def stale_plan(incident: Path, env: dict[str, str], home: Path) -> list[str]:
    terraform = Path(env["PATH"].split(":")[1]) / "terraform"
    assert tfharness.run(terraform, ["plan", "-out=old.tfplan"], incident, env).returncode == 0
    changed = tfharness.run(
        terraform,
        ["apply", "-auto-approve", '-target=terraform_data.node_config["powder"]'],
        incident,
        env,
    )
    assert changed.returncode == 0, changed.stderr
    return ["apply", "-input=false", "old.tfplan"]


def limits(incident: Path, env: dict[str, str], home: Path) -> list[str]:
    (incident / ".safeterraform.toml").write_text("[limits]\nmax_affected_nodes = 1\n")
    env["SAFETERRAFORM_CONFIRM_NODES"] = "powder poison phoebe"
    return ["apply", "-input=false"]


def runbook_off(incident: Path, env: dict[str, str], home: Path) -> list[str]:
    user_config(home, "[confirm]\nallow_env = false\n")
    env["SAFETERRAFORM_CONFIRM_NODES"] = "powder poison phoebe"
    return ["apply", "-input=false"]


def wrong_nodes(incident: Path, env: dict[str, str], home: Path) -> list[str]:
    env["SAFETERRAFORM_CONFIRM_NODES"] = "pearl"
    return ["apply", "-input=false"]


def agent(incident: Path, env: dict[str, str], home: Path) -> list[str]:
    env["CLAUDECODE"] = "1"
    return ["apply", "-input=false"]


def agent_auto_approve(incident: Path, env: dict[str, str], home: Path) -> list[str]:
    env["CLAUDECODE"] = "1"
    return ["apply", "-auto-approve"]


def break_glass_not_for_agents(incident: Path, env: dict[str, str], home: Path) -> list[str]:
    env.update(CLAUDECODE="1", SAFETERRAFORM_BREAK_GLASS="INC-7 the agent says it is urgent")
    return ["apply", "-auto-approve"]


def broken_config(incident: Path, env: dict[str, str], home: Path) -> list[str]:
    (incident / ".safeterraform.toml").write_text("[production\nalways = true\n")
    return ["apply", "-input=false"]


def written_over_state(incident: Path, env: dict[str, str], home: Path) -> list[str]:
    return ["plan", "-input=false", "-out=terraform.tfstate.d/prod/terraform.tfstate"]


def malformed_plan(incident: Path, env: dict[str, str], home: Path) -> list[str]:
    """A second `tfplan` member (Go reads the first, Python the last)."""
    terraform = Path(env["PATH"].split(":")[1]) / "terraform"
    assert tfharness.run(terraform, ["plan", "-out=p.tfplan"], incident, env).returncode == 0
    with zipfile.ZipFile(incident / "p.tfplan") as archive:
        data = archive.read("tfplan")
    with warnings.catch_warnings(), zipfile.ZipFile(incident / "p.tfplan", "a") as archive:
        warnings.simplefilter("ignore")  # "Duplicate name": that is the point
        archive.writestr("tfplan", data)
    return ["apply", "-input=false", "p.tfplan"]


Setup = Callable[[Path, dict[str, str], Path], list[str]]
KINDS: dict[str, Setup] = {
    "auto_approve": lambda incident, env, home: ["apply", "-auto-approve"],
    "auto_approve_agent": agent_auto_approve,
    "no_terminal": lambda incident, env, home: ["apply", "-input=false"],
    "confirm_nodes_wrong": wrong_nodes,
    "runbook_mode_off": runbook_off,
    "agent_destroys": agent,
    "break_glass_not_for_agents": break_glass_not_for_agents,
    "limits": limits,
    "stale_plan": stale_plan,
    "used_plan": used_plan,
    "unknown_command": lambda incident, env, home: ["frobnicate"],
    "broken_config": broken_config,
    "written_over_state": written_over_state,
    "malformed_plan": malformed_plan,
}


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("SAFETERRAFORM_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert text == path.read_text(), (
        f"{path} differs; if intended, rerun with SAFETERRAFORM_UPDATE_GOLDEN=1 and review"
    )


@pytest.mark.parametrize("name", sorted(KINDS))
def test_refusal_golden(
    name: str, incident: Path, shim: Runner, env: dict[str, str], home: Path
) -> None:
    """Each refusal kind, its exact words; nothing applied, nothing to copy.

    Mutations: the runbook hint printed when the variable was set (confirm_nodes_wrong),
    the limits refusal suggesting `-target=` again (limits), "once you confirm" before a
    no-terminal refusal (no_terminal), a used plan reported as a bare "No such file"
    (used_plan): each golden differs."""
    env["COLUMNS"] = "80"
    args = KINDS[name](incident, env, home)
    before = tfharness.state_bytes(incident)
    result = shim(*args)
    assert result.returncode == 3, result.stdout + result.stderr
    assert tfharness.state_bytes(incident) == before
    assert reset_log(incident) == []
    assert READY_MADE not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    check_golden(name, normalised(result.stderr, incident, home))


def test_break_glass_golden(incident: Path, shim: Runner, env: dict[str, str], home: Path) -> None:
    """The banner says first that the command runs despite the policy, then what the policy
    said and why, the reason and where it is recorded. Mutation: the old banner
    (`BREAK-GLASS: safeterraform: refused ...`) -> the golden differs."""
    env.update(COLUMNS="80", SAFETERRAFORM_BREAK_GLASS="INC-42 control plane already lost")
    result = shim("apply", "-auto-approve", "-input=false")
    assert result.returncode == 0, result.stderr
    assert len(reset_log(incident)) == 3  # it ran, despite the policy
    banner = [line for line in result.stderr.splitlines() if line[:1] in "╭│╰"]
    assert banner and max(len(line) for line in banner) <= 80
    check_golden("break_glass", normalised(result.stderr, incident, home))


@pytest.mark.parametrize("agent_set", [False, True], ids=["no_terminal", "agent"])
def test_approve_refusal_golden(
    agent_set: bool, incident: Path, shim: Runner, env: dict[str, str], home: Path
) -> None:
    """`safeterraform approve` without a terminal, or under an agent: what and what next.
    Mutation: approve without its terminal check -> exit 0 or a prompt, not this text."""
    plan = shim("plan", "-input=false", "-out=tfplan")
    assert plan.returncode == 0, plan.stderr
    env["COLUMNS"] = "80"
    if agent_set:
        env["CLAUDECODE"] = "1"
    result = subprocess.run(
        [SAFETERRAFORM, "approve", "tfplan"],
        cwd=incident,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 3, result.stdout + result.stderr
    name = "approve_agent" if agent_set else "approve_no_terminal"
    check_golden(name, normalised(result.stderr, incident, home))
