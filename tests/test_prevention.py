"""Break-glass, audit in the guarded flow, limits, state snapshots, the pre-apply hook
and the plan's SHA-256 check, against the real Terraform (docs/design.md#confirmation,
#break-glass-and-audit; issue 11)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests import tfharness
from tests.conftest import Runner
from tests.test_guard import RESET, incident, incident_template, reset_log

__all__ = ["incident", "incident_template"]

FOUR_NODES = {**tfharness.INCIDENT_NODES, "pearl": "192.0.2.68"}


def user_config(home: Path, text: str) -> Path:
    """The user's own config layer (audit_log, hooks and break-glass live here or in the
    system layer; a repository file may not set them)."""
    path = home / ".config" / "safeterraform" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def audit_records(home: Path) -> list[dict[str, object]]:
    path = home / ".local" / "state" / "safeterraform" / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_break_glass_runs_auto_approve_loudly_and_records_the_reason(
    incident: Path, shim: Runner, env: dict[str, str], home: Path
) -> None:
    env["SAFETERRAFORM_BREAK_GLASS"] = "INC-42 control plane already lost"
    result = shim("apply", "-auto-approve", "-input=false")
    assert result.returncode == 0, result.stderr
    assert "BREAK-GLASS" in result.stderr
    assert len(reset_log(incident)) == 3
    records = audit_records(home)
    # The decision, then the outcome with Terraform's exit code (issue 18: it was unrecorded).
    assert [(r["verdict"], r["exit_code"]) for r in records] == [
        ("break-glass", None),
        ("applied", 0),
    ]
    assert {r["break_glass_reason"] for r in records} == {"INC-42 control plane already lost"}


def test_break_glass_with_an_empty_reason_is_refused(
    incident: Path, shim: Runner, env: dict[str, str]
) -> None:
    before = tfharness.state_bytes(incident)
    env["SAFETERRAFORM_BREAK_GLASS"] = "  "
    result = shim("apply", "-auto-approve")
    assert result.returncode == 3
    assert "empty" in result.stderr
    assert tfharness.state_bytes(incident) == before


def test_break_glass_disabled_by_the_system_layer(
    incident: Path, shim: Runner, env: dict[str, str], home: Path, system_config: Path
) -> None:
    system = system_config
    system.write_text("[production]\nallow_break_glass = false\n")
    user_config(home, "[production]\nallow_break_glass = true\n")
    env["SAFETERRAFORM_BREAK_GLASS"] = "please"
    before = tfharness.state_bytes(incident)
    result = shim("apply", "-auto-approve")
    assert result.returncode == 3
    assert f"break-glass is disabled by {system}" in result.stderr
    assert tfharness.state_bytes(incident) == before


def test_unwritable_audit_log_refuses_a_production_apply(
    incident: Path, shim: Runner, env: dict[str, str], home: Path
) -> None:
    user_config(home, 'audit_log = "/dev/full"\n')
    env["SAFETERRAFORM_CONFIRM_NODES"] = "powder poison phoebe"
    before = tfharness.state_bytes(incident)
    result = shim("apply", "-input=false")
    assert result.returncode == 3
    assert "cannot write audit log /dev/full" in result.stderr
    assert tfharness.state_bytes(incident) == before
    assert reset_log(incident) == []


def test_audit_records_a_confirmed_apply(
    incident: Path, shim: Runner, env: dict[str, str], home: Path
) -> None:
    env["SAFETERRAFORM_CONFIRM_NODES"] = "powder poison phoebe"
    assert shim("apply", "-input=false").returncode == 0
    confirmed, applied = audit_records(home)[-2:]
    assert confirmed["verdict"] == "confirmed"
    assert confirmed["affected_nodes"] == ["phoebe", "poison", "powder"]
    assert len(str(confirmed["plan_sha256"])) == 64
    assert applied["verdict"] == "applied" and applied["exit_code"] == 0
    assert confirmed["workspace"] == "prod" and confirmed["argv"] == ["apply", "-input=false"]


def test_a_corrupt_config_refuses_guarded_commands_but_not_read_only(
    incident: Path, shim: Runner
) -> None:
    (incident / ".safeterraform.toml").write_text("[production\nalways = true\n")
    refused = shim("apply", "-input=false")
    assert refused.returncode == 3
    assert ".safeterraform.toml" in refused.stderr and "line 1" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert shim("state", "list").returncode == 0


@pytest.fixture()
def four_nodes(terraform_bin: Path, env: dict[str, str], workdir: Path) -> Path:
    tfharness.make_incident(terraform_bin, workdir, env, nodes=FOUR_NODES)
    # only the control planes change: pearl keeps the old version
    text = (workdir / "main.tf").read_text()
    text = text.replace(
        "version = var.talos_version",
        'version = each.key == "pearl" ? "v1.6.0" : var.talos_version',
    )
    (workdir / "main.tf").write_text(text)
    return workdir


def test_limit_refuses_three_of_four_and_accepts_one_target(
    four_nodes: Path, shim: Runner, env: dict[str, str]
) -> None:
    (four_nodes / ".safeterraform.toml").write_text("[limits]\nmax_affected_fraction = 0.5\n")
    env["SAFETERRAFORM_CONFIRM_NODES"] = "powder poison phoebe"
    before = tfharness.state_bytes(four_nodes)
    refused = shim("apply", "-input=false")
    assert refused.returncode == 3
    assert "3 of 4" in refused.stderr and "`safeterraform rollout`" in refused.stderr
    assert "-target=" not in refused.stderr  # an agent would retry with it
    assert tfharness.state_bytes(four_nodes) == before

    env["SAFETERRAFORM_CONFIRM_NODES"] = "powder"
    one = shim("apply", "-input=false", '-target=terraform_data.reset_on_destroy["powder"]')
    assert one.returncode == 0, one.stderr
    assert reset_log(four_nodes) == [f"{RESET} 192.0.2.65"]


def test_state_snapshot_equals_the_state_before_apply(
    incident: Path, shim: Runner, env: dict[str, str], real: Runner
) -> None:
    before = real("state", "pull").stdout
    env["SAFETERRAFORM_CONFIRM_NODES"] = "powder poison phoebe"
    assert shim("apply", "-input=false").returncode == 0
    backups = list((incident / ".terraform" / "safeterraform" / "state-backups").iterdir())
    assert len(backups) == 1
    assert oct(backups[0].stat().st_mode & 0o777) == "0o600"
    assert json.loads(backups[0].read_text()) == json.loads(before)
    assert json.loads(tfharness.state_bytes(incident)) != json.loads(before)


def test_failing_hook_leaves_the_state_unchanged(
    incident: Path, shim: Runner, env: dict[str, str], home: Path
) -> None:
    user_config(
        home,
        "[hooks]\n"
        'before_destructive_apply = "echo $SAFETERRAFORM_AFFECTED_NODES > hook.out; exit 7"\n',
    )
    env["SAFETERRAFORM_CONFIRM_NODES"] = "powder poison phoebe"
    before = tfharness.state_bytes(incident)
    result = shim("apply", "-input=false")
    assert result.returncode == 3
    assert "exited 7" in result.stderr
    assert (incident / "hook.out").read_text().split() == ["phoebe", "poison", "powder"]
    assert tfharness.state_bytes(incident) == before
    assert reset_log(incident) == []


def test_fifty_concurrent_guarded_invocations_leave_fifty_lines(
    shim_bin: Path, env: dict[str, str], home: Path, tmp_path: Path
) -> None:
    """25 refused and 25 break-glass runs at once, each in its own production dir."""
    import subprocess

    processes = []
    for index in range(50):
        directory = tmp_path / "envs" / "prod" / f"stack{index}"
        directory.mkdir(parents=True)
        (directory / "main.tf").write_text("")
        run_env = dict(env)
        if index % 2:
            run_env["SAFETERRAFORM_BREAK_GLASS"] = f"drill {index}"
        processes.append(
            subprocess.Popen(
                [str(shim_bin), "apply", "-auto-approve", "-input=false"],
                cwd=directory,
                env=run_env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    codes = [process.wait(timeout=300) for process in processes]
    assert codes.count(3) == 25
    assert codes.count(0) == 25
    lines = (home / ".local/state/safeterraform/audit.jsonl").read_text().splitlines()
    # A break-glass run is two records: the decision, then terraform's outcome.
    assert len(lines) == 75
    records = [json.loads(line) for line in lines]
    assert sorted(r["verdict"] for r in records) == (
        ["applied"] * 25 + ["break-glass"] * 25 + ["refused"] * 25
    )
    assert all(r["exit_code"] == 0 for r in records if r["verdict"] == "applied")


def test_a_refusal_that_cannot_be_recorded_still_says_why(
    incident: Path, shim: Runner, home: Path
) -> None:
    user_config(home, 'audit_log = "/dev/full"\n')
    before = tfharness.state_bytes(incident)
    result = shim("apply", "-auto-approve")
    assert result.returncode == 3
    assert "cannot write audit log /dev/full" in result.stderr
    assert "-auto-approve" in result.stderr and "production" in result.stderr
    assert tfharness.state_bytes(incident) == before


def test_break_glass_cannot_run_without_its_record(
    incident: Path, shim: Runner, env: dict[str, str], home: Path
) -> None:
    user_config(home, 'audit_log = "/dev/full"\n')
    env["SAFETERRAFORM_BREAK_GLASS"] = "INC-1"
    before = tfharness.state_bytes(incident)
    result = shim("apply", "-auto-approve", "-input=false")
    assert result.returncode == 3
    assert "cannot write audit log /dev/full" in result.stderr
    assert tfharness.state_bytes(incident) == before
    assert reset_log(incident) == []


SWAP_PRIVATE_COPY = """
import os, sys

def parent(pid):
    with open(f"/proc/{pid}/stat") as handle:
        return int(handle.read().rsplit(")", 1)[1].split()[1])

swap = open(sys.argv[1], "rb").read()
swapped = 0
shell = os.getppid()
for pid in (shell, parent(shell)):  # the shim, or the sh -c it runs the hook in
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if "/.terraform/safeterraform/plans/" in target and target.endswith("(deleted)"):
            with open(f"/proc/{pid}/fd/{fd}", "wb") as handle:
                handle.write(swap)
            swapped += 1
print(f"swapped {swapped}")
"""


def test_a_private_copy_rewritten_after_the_review_is_not_applied(
    incident: Path, shim: Runner, real: Runner, env: dict[str, str], home: Path, tmp_path: Path
) -> None:
    """The private copy has no name, but a process of the same user can still open it
    through /proc/PID/fd: here the pre-apply hook swaps the reviewed one-node plan for the
    three-node one. Mutation: skip the SHA-256 re-check before the apply in
    flows/apply.review_and_apply -> the swapped plan is applied and all three resets run."""
    full = tmp_path / "full.tfplan"
    assert real("plan", "-input=false", f"-out={full}").returncode == 0
    script = tmp_path / "swap.py"
    script.write_text(SWAP_PRIVATE_COPY)
    hook = f"{sys.executable} {script} {full} > hook.out"
    user_config(home, f"[hooks]\nbefore_destructive_apply = {json.dumps(hook)}\n")
    env["SAFETERRAFORM_CONFIRM_NODES"] = "powder"
    before = tfharness.state_bytes(incident)
    result = shim("apply", "-input=false", '-target=terraform_data.reset_on_destroy["powder"]')
    swapped = (incident / "hook.out").read_text().split()
    assert swapped[0] == "swapped" and int(swapped[1]) >= 1  # the attack did happen
    assert result.returncode == 3, result.stderr
    assert "changed after it was reviewed" in result.stderr
    assert tfharness.state_bytes(incident) == before
    assert reset_log(incident) == []
    assert audit_records(home)[-1]["verdict"] == "refused"


@pytest.mark.parametrize(
    ("hook", "code"),
    [("exit 1", 1), ("kill -9 $$", 137), ("no-such-command-here", 127)],
    ids=["exit-1", "killed", "not-found"],
)
def test_a_hook_that_fails_in_any_way_stops_the_apply(
    hook: str, code: int, incident: Path, shim: Runner, env: dict[str, str], home: Path
) -> None:
    """Mutations: ignore the hook's exit code, or only refuse on codes > 1 -> applied."""
    user_config(home, f"[hooks]\nbefore_destructive_apply = {json.dumps(hook)}\n")
    env["SAFETERRAFORM_CONFIRM_NODES"] = "powder poison phoebe"
    before = tfharness.state_bytes(incident)
    result = shim("apply", "-input=false")
    assert result.returncode == 3, result.stderr
    assert f"hook before_destructive_apply exited {code}" in result.stderr
    assert tfharness.state_bytes(incident) == before
    assert reset_log(incident) == []
    refused = audit_records(home)[-1]
    assert (refused["verdict"], refused["exit_code"]) == ("refused", 3)
    assert f"exited {code}" in str(refused["reason"])


def test_state_snapshot_of_a_local_backend_path(
    terraform_bin: Path, shim: Runner, env: dict[str, str], workdir: Path, real: Runner
) -> None:
    """The shim reads a local backend's state file itself (no `terraform state pull`), where
    `backend "local" { path = ... }` puts it. Mutation: the default terraform.tfstate read
    instead of the backend's path (the snapshot and the staleness check would see another
    state, or none)."""
    backend = 'terraform {\n  backend "local" {\n    path = "envs/prod/cluster.tfstate"\n  }\n}\n'
    main = workdir / "main.tf"
    main.write_text(backend + tfharness.incident_config(tfharness.INCIDENT_NODES))
    for args in (["init", "-input=false"], ["apply", "-auto-approve", "-input=false"]):
        assert real(*args).returncode == 0
    (workdir / "terraform.tfstate").write_text("{}")  # a decoy where the default would be
    main.write_text(backend + tfharness.incident_config(tfharness.INCIDENT_NODES, "v1.7.0"))
    state = workdir / "envs" / "prod" / "cluster.tfstate"
    before = state.read_bytes()
    env["SAFETERRAFORM_CONFIRM_NODES"] = "powder poison phoebe"
    applied = shim("apply", "-input=false")
    assert applied.returncode == 0, applied.stderr
    backups = list((workdir / ".terraform" / "safeterraform" / "state-backups").iterdir())
    assert [backup.read_bytes() for backup in backups] == [before]
    assert state.read_bytes() != before


@pytest.mark.parametrize(("limit", "applied"), [(3, True), (2, False)])
def test_max_affected_nodes_is_a_maximum_not_a_bound_below(
    incident: Path, shim: Runner, env: dict[str, str], limit: int, applied: bool
) -> None:
    """`[limits] max_affected_nodes = 3` allows the incident's three nodes; 2 refuses them.

    Mutation: `affected >= max_affected_nodes` (instead of `>`) refuses the plan that is
    exactly at the limit: the first row fails."""
    (incident / ".safeterraform.toml").write_text(f"[limits]\nmax_affected_nodes = {limit}\n")
    env["SAFETERRAFORM_CONFIRM_NODES"] = "powder poison phoebe"
    before = tfharness.state_bytes(incident)
    result = shim("apply", "-input=false")
    if applied:
        assert result.returncode == 0, result.stderr
        assert len(reset_log(incident)) == 3
    else:
        assert result.returncode == 3, result.stderr
        assert f"max_affected_nodes = {limit}" in result.stderr
        assert tfharness.state_bytes(incident) == before
        assert reset_log(incident) == []
