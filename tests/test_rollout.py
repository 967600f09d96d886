"""`safeterraform rollout` on the incident, against the real Terraform (issue 21).

The witness is the provisioners' reset.log (one `talosctl reset` per node step) and the
bytes of the production state; prompts run in a real pseudo-terminal (pexpect).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

from safeterraform.flows.rollout import rollout_order
from tests import tfharness
from tests.conftest import Runner
from tests.test_guard import RESET, finish, incident, incident_template, leftover_plans, reset_log
from tests.test_prevention import audit_records, user_config

__all__ = ["incident", "incident_template"]

SAFETERRAFORM = Path(sys.executable).parent / "safeterraform"
IP = {"powder": "192.0.2.65", "poison": "192.0.2.66", "phoebe": "192.0.2.67"}


def rollout(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SAFETERRAFORM), "rollout", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )


def spawn_rollout(args: list[str], cwd: Path, env: dict[str, str]) -> pexpect.spawn:
    return pexpect.spawn(
        str(SAFETERRAFORM),
        ["rollout", *args],
        cwd=str(cwd),
        env={**env, "TERM": "dumb"},
        encoding="utf-8",
        timeout=180,
        dimensions=(50, 200),
    )


def resets(directory: Path) -> list[str]:
    return [IP_NODE[line.rsplit(" ", 1)[-1]] for line in reset_log(directory)]


IP_NODE = {ip: name for name, ip in IP.items()}


def node_state(directory: Path, node: str) -> str:
    """The state of a node's control plane object (whose destruction resets it), as JSON.

    Its `node_config` record may be updated in place by an earlier step: -target takes
    a resource's dependencies along, and Terraform tracks them per resource, not per
    instance; an in-place update resets nothing."""
    state = json.loads(tfharness.state_bytes(directory))
    (instance,) = [
        instance
        for resource in state["resources"]
        if resource["name"] == "reset_on_destroy"
        for instance in resource["instances"]
        if instance.get("index_key") == node
    ]
    return json.dumps(instance, sort_keys=True)


def test_order_puts_requested_first_and_last_at_the_end() -> None:
    affected = ["phoebe", "poison", "powder"]
    assert rollout_order(affected, [], []) == ["phoebe", "poison", "powder"]
    assert rollout_order(affected, ["powder"], []) == ["powder", "phoebe", "poison"]
    assert rollout_order(affected, ["powder", "phoebe"], ["powder"]) == [
        "phoebe",
        "poison",
        "powder",
    ]
    assert rollout_order(affected, [], ["etcd-leader", "phoebe"]) == ["poison", "powder", "phoebe"]


def test_each_node_is_reset_alone_after_its_name_was_typed(
    incident: Path, env: dict[str, str], home: Path
) -> None:
    """Mutation: group all nodes into one targeted step (or skip the per-node prompt) and
    the reset log shows several resets before a name was typed -- this fails."""
    user_config(home, '[hooks]\nafter_node = "echo $SAFETERRAFORM_NODE >> health.log"\n')
    with (incident / "main.tf").open("a") as config:  # the incident's worker, added last
        config.write('resource "terraform_data" "pearl" {\n  input = "worker"\n}\n')
    child = spawn_rollout(["--order", "powder,poison,phoebe"], incident, env)
    for number, node in enumerate(["powder", "poison", "phoebe"], 1):
        child.expect(f"node {number} of 3: {node}")
        child.expect("Type the names of the 1 affected node")
        # Nothing of this node has been reset before its name is typed.
        assert resets(incident) == ["powder", "poison", "phoebe"][: number - 1]
        assert f"{RESET} {IP[node]}" in child.before
        child.sendline(node)
        child.expect("Apply complete!")
    child.expect("the rest")
    child.expect("Type `yes`")
    assert "terraform_data.pearl will be created" in child.before
    child.sendline("yes")
    child.expect("Apply complete! Resources: 1 added")
    assert finish(child) == 0
    assert resets(incident) == ["powder", "poison", "phoebe"]
    assert (incident / "health.log").read_text().split() == ["powder", "poison", "phoebe"]
    assert leftover_plans(incident) == []
    assert not (incident / ".terraform" / "safeterraform" / "rollout-prod.json").exists()
    steps = [r for r in audit_records(home) if r["verdict"] in ("confirmed", "applied")]
    assert [r["affected_nodes"] for r in steps] == [
        ["powder"], ["powder"], ["poison"], ["poison"], ["phoebe"], ["phoebe"], [], []
    ]  # fmt: skip
    assert [r["verdict"] for r in steps][-2:] == ["confirmed", "applied"]


def test_a_failed_health_check_stops_and_resume_finishes(
    incident: Path, env: dict[str, str], home: Path
) -> None:
    """Mutation: ignore the after_node exit code and poison and phoebe are reset in the
    same run -- their state changes and this fails."""
    user_config(home, '[hooks]\nafter_node = "test -e healthy"\n')
    untouched = {node: node_state(incident, node) for node in ("poison", "phoebe")}
    env["SAFETERRAFORM_CONFIRM_NODES"] = "powder poison phoebe"
    stopped = rollout(["--order", "powder"], incident, env)
    assert stopped.returncode == 3, stopped.stderr
    assert resets(incident) == ["powder"]
    assert {node: node_state(incident, node) for node in untouched} == untouched
    assert "hook after_node exited 1 after powder" in stopped.stderr
    assert "done:     powder" in stopped.stderr
    assert "not done: phoebe, poison" in stopped.stderr
    assert "safeterraform rollout --order powder --resume" in stopped.stderr
    assert [r["verdict"] for r in audit_records(home)][-1] == "failed"

    # On --resume the runbook states what remains; powder no longer appears.
    (incident / "healthy").touch()
    assert rollout(["--resume"], incident, env).returncode == 3  # the whole set: refused
    assert resets(incident) == ["powder"]
    env["SAFETERRAFORM_CONFIRM_NODES"] = "poison phoebe"
    resumed = rollout(["--resume"], incident, env)
    assert resumed.returncode == 0, resumed.stderr
    assert "done before: powder" in resumed.stdout
    assert resets(incident) == ["powder", "phoebe", "poison"]
    assert (
        rollout(["--resume"], incident, {**env, "SAFETERRAFORM_CONFIRM_NODES": ""}).returncode == 0
    )
    assert resets(incident) == ["powder", "phoebe", "poison"]  # nothing left to reset


def test_non_interactive_needs_the_whole_set_and_applies_one_node_per_step(
    incident: Path, env: dict[str, str], home: Path
) -> None:
    """Mutation: pass the whole set to every step's confirmation instead of the node's own
    name and the per-step check refuses; drop the whole-set check and `powder` alone
    would roll out everything -- both fail here."""
    before = tfharness.state_bytes(incident)
    env["SAFETERRAFORM_CONFIRM_NODES"] = "powder"
    refused = rollout([], incident, env)
    assert refused.returncode == 3
    assert "missing" in refused.stderr and "SAFETERRAFORM_CONFIRM_NODES=" not in refused.stderr
    assert tfharness.state_bytes(incident) == before
    env["SAFETERRAFORM_CONFIRM_NODES"] = "phoebe,poison,powder"
    result = rollout(["-input=false"], incident, env)
    assert result.returncode == 0, result.stderr
    assert resets(incident) == ["phoebe", "poison", "powder"]
    applied = [r for r in audit_records(home) if r["verdict"] == "applied"]
    assert [r["affected_nodes"] for r in applied] == [["phoebe"], ["poison"], ["powder"]]
    assert all(r["argv"][0] == "rollout" for r in applied)
    # The targeted steps took each node's config along: the rest has no changes.
    assert [r["verdict"] for r in audit_records(home)][-2:] == ["no-changes", "rollout"]


def test_an_agent_environment_is_refused(incident: Path, env: dict[str, str]) -> None:
    before = tfharness.state_bytes(incident)
    env["CLAUDECODE"] = "1"
    env["SAFETERRAFORM_CONFIRM_NODES"] = "powder poison phoebe"
    result = rollout([], incident, env)
    assert result.returncode == 3
    assert "ask a person" in result.stderr
    assert tfharness.state_bytes(incident) == before


@pytest.mark.parametrize("flag", ["-target=terraform_data.node_config", "-auto-approve"])
def test_own_targets_and_auto_approve_are_refused(
    flag: str, incident: Path, env: dict[str, str]
) -> None:
    result = rollout(["--", flag], incident, env)
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_order_name_is_one_line(incident: Path, env: dict[str, str]) -> None:
    result = rollout(["--order", "pearl"], incident, env)
    assert result.returncode == 1
    assert "--order names pearl" in result.stderr and "Traceback" not in result.stderr
    assert reset_log(incident) == []


def test_a_step_that_takes_another_node_along_is_refused(
    incident: Path, env: dict[str, str], real: Runner
) -> None:
    """Every control plane also depends on a shared etcd secret that is replaced; asked to
    go first, phoebe's targeted plan takes the secret (node `etcd`) along.

    Mutation: drop the `only_nodes` check in flows/apply.review_and_apply and the step asks
    for both names instead of refusing -- this fails."""
    text = (incident / "main.tf").read_text()
    text = text.replace(
        "triggers_replace = terraform_data.node_config[each.key].output",
        "triggers_replace = [terraform_data.node_config[each.key].output, "
        "terraform_data.secret.output]",
    )
    text += (
        'resource "terraform_data" "secret" {\n'
        '  input            = { hostname = "etcd" }\n'
        "  triggers_replace = var.talos_version\n}\n"
    )
    (incident / "main.tf").write_text(text)
    setup = real("apply", "-auto-approve", "-input=false", "-var=talos_version=v1.6.0")
    assert setup.returncode == 0, setup.stderr
    (incident / "reset.log").unlink()
    before = tfharness.state_bytes(incident)
    child = spawn_rollout(["--order", "phoebe"], incident, env)
    child.timeout = 60
    child.expect("node 1 of 4: phoebe")
    child.expect("nothing was applied")
    assert "its plan affects etcd, phoebe" in " ".join(child.before.split())
    assert finish(child) == 3
    assert "done: none" in " ".join(child.before.split())
    assert tfharness.state_bytes(incident) == before
    assert reset_log(incident) == []


def test_ctrl_c_at_the_second_node_says_what_is_done(
    incident: Path, env: dict[str, str], home: Path
) -> None:
    """Mutation: lose the progress (append `done` after the hook, or not at all) and the
    summary says `done: none` -- this fails."""
    child = spawn_rollout(["--order", "powder"], incident, env)
    child.expect("Type the names of the 1 affected node")
    child.sendline("powder")
    child.expect("node 2 of 3: phoebe")
    child.expect("Type the names of the 1 affected node")
    untouched = node_state(incident, "phoebe")
    child.sendintr()
    assert finish(child) == 130
    summary = " ".join(child.before.split())
    assert "done: powder not done: phoebe" in summary
    assert "safeterraform rollout --order powder --resume" in summary
    assert resets(incident) == ["powder"]
    assert node_state(incident, "phoebe") == untouched
    progress = json.loads(
        (incident / ".terraform" / "safeterraform" / "rollout-prod.json").read_text()
    )
    assert {key: progress[key] for key in ("order", "done")} == {
        "order": ["powder", "phoebe", "poison"],
        "done": ["powder"],
    }
    assert set(progress["causes"]) == {  # what the first plan traced, for --resume (issue 27)
        f'terraform_data.reset_on_destroy["{node}"]' for node in ("phoebe", "poison", "powder")
    }
    assert audit_records(home)[-1]["verdict"] == "interrupted"


def test_resume_keeps_the_saved_order_and_the_done_list(
    incident: Path, env: dict[str, str], home: Path
) -> None:
    """`--order powder,poison,phoebe` stops after powder; `--resume` (no --order) goes on
    with poison then phoebe, and the after_node hook sees powder among the nodes done.

    Mutations: `--resume` ignoring the saved order (the plan's order: phoebe, poison)
    -> the reset order fails; `--resume` forgetting the done list -> the hook's
    SAFETERRAFORM_NODES_DONE lacks powder: this fails."""
    user_config(
        home,
        '[hooks]\nafter_node = "echo $SAFETERRAFORM_NODE: $SAFETERRAFORM_NODES_DONE'
        ' >> health.log; test -e healthy"\n',
    )
    env["SAFETERRAFORM_CONFIRM_NODES"] = "powder poison phoebe"
    stopped = rollout(["--order", "powder,poison,phoebe"], incident, env)
    assert stopped.returncode == 3, stopped.stderr
    assert resets(incident) == ["powder"]
    (incident / "healthy").touch()
    env["SAFETERRAFORM_CONFIRM_NODES"] = "poison phoebe"
    resumed = rollout(["--resume"], incident, env)
    assert resumed.returncode == 0, resumed.stderr
    assert resets(incident) == ["powder", "poison", "phoebe"]
    assert (incident / "health.log").read_text().splitlines() == [
        "powder: powder",
        "poison: powder poison",
        "phoebe: powder poison phoebe",
    ]
    assert "(1. poison, 2. phoebe)" in resumed.stdout
