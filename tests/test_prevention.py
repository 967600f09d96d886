"""Break-glass, audit in the guarded flow, limits, state snapshots, the pre-apply hook
and the plan's SHA-256 check, against the real Terraform (PRODUCT.md §7, §8; issue 11)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from safeterraform import argv, guard, policy
from safeterraform.realbin import RealBinary
from tests import tfharness
from tests.conftest import Runner
from tests.test_guard import RESET, incident, incident_template, reset_log

__all__ = ["incident", "incident_template"]

FOUR_NODES = {**tfharness.INCIDENT_NODES, "pearl": "192.0.2.68"}


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
    assert [r["verdict"] for r in records] == ["break-glass", "applied"] or records[0][
        "verdict"
    ] == "break-glass"
    assert records[0]["break_glass_reason"] == "INC-42 control plane already lost"


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
    incident: Path, shim: Runner, env: dict[str, str], tmp_path: Path
) -> None:
    system = tmp_path / "etc-config.toml"
    system.write_text("[production]\nallow_break_glass = false\n")
    (incident / ".safeterraform.toml").write_text("[production]\nallow_break_glass = true\n")
    env["SAFETERRAFORM_SYSTEM_CONFIG"] = str(system)
    env["SAFETERRAFORM_BREAK_GLASS"] = "please"
    before = tfharness.state_bytes(incident)
    result = shim("apply", "-auto-approve")
    assert result.returncode == 3
    assert f"break-glass is disabled by {system}" in result.stderr
    assert tfharness.state_bytes(incident) == before


def test_unwritable_audit_log_refuses_a_production_apply(
    incident: Path, shim: Runner, env: dict[str, str]
) -> None:
    (incident / ".safeterraform.toml").write_text('audit_log = "/dev/full"\n')
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
    assert "3 of 4" in refused.stderr and "-target=" in refused.stderr
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
    incident: Path, shim: Runner, env: dict[str, str]
) -> None:
    (incident / ".safeterraform.toml").write_text(
        "[hooks]\n"
        'before_destructive_apply = "echo $SAFETERRAFORM_AFFECTED_NODES > hook.out; exit 7"\n'
    )
    env["SAFETERRAFORM_CONFIRM_NODES"] = "powder poison phoebe"
    before = tfharness.state_bytes(incident)
    result = shim("apply", "-input=false")
    assert result.returncode == 3
    assert "exited 7" in result.stderr
    assert (incident / "hook.out").read_text().split() == ["phoebe", "poison", "powder"]
    assert tfharness.state_bytes(incident) == before
    assert reset_log(incident) == []


class TamperingPrompt:
    """Answers correctly, but rewrites the plan file while the operator is asked."""

    def __init__(self, plan: Path, answer: str) -> None:
        self.plan, self.answer = plan, answer

    def text(self, message: str) -> str:
        with self.plan.open("ab") as handle:
            handle.write(b"tampered")
        return self.answer

    def yes_no(self, message: str) -> bool:
        return True


def test_a_plan_file_changed_after_review_is_refused(
    incident: Path,
    real: Runner,
    env: dict[str, str],
    terraform_bin: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert real("plan", "-input=false", "-out=reviewed.tfplan").returncode == 0
    before = tfharness.state_bytes(incident)
    monkeypatch.setenv("HOME", env["HOME"])
    invocation = argv.parse(["apply", "reviewed.tfplan"], env)
    config = policy.load(env, str(incident))
    workspace, source = policy.current_workspace(env, str(incident))
    verdict = policy.decide(config, workspace, source, str(incident))
    assert verdict.production
    flow = guard.build(
        invocation,
        config,
        verdict,
        RealBinary(str(terraform_bin), "test"),
        env,
        "terraform",
        str(incident),
        prompt=TamperingPrompt(incident / "reviewed.tfplan", "powder poison phoebe"),
        interactive=True,
        cwd=str(incident),
    )
    code = guard.execute(flow)
    assert code == 3
    assert tfharness.state_bytes(incident) == before
    assert reset_log(incident) == []
    shutil.rmtree(incident / ".terraform" / "safeterraform", ignore_errors=True)
    assert os.path.exists(incident / "reviewed.tfplan")


def test_fifty_concurrent_guarded_invocations_lose_no_line(
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
    assert len(lines) == 75  # a break-glass run also records how it ended
    records = [json.loads(line) for line in lines]
    assert sorted(r["verdict"] for r in records) == (
        ["applied"] * 25 + ["break-glass"] * 25 + ["refused"] * 25
    )


def test_a_refusal_that_cannot_be_recorded_still_says_why(incident: Path, shim: Runner) -> None:
    (incident / ".safeterraform.toml").write_text('audit_log = "/dev/full"\n')
    before = tfharness.state_bytes(incident)
    result = shim("apply", "-auto-approve")
    assert result.returncode == 3
    assert "cannot write audit log /dev/full" in result.stderr
    assert "-auto-approve" in result.stderr and "production" in result.stderr
    assert tfharness.state_bytes(incident) == before


def test_break_glass_cannot_run_without_its_record(
    incident: Path, shim: Runner, env: dict[str, str]
) -> None:
    (incident / ".safeterraform.toml").write_text('audit_log = "/dev/full"\n')
    env["SAFETERRAFORM_BREAK_GLASS"] = "INC-1"
    before = tfharness.state_bytes(incident)
    result = shim("apply", "-auto-approve", "-input=false")
    assert result.returncode == 3
    assert "cannot write audit log /dev/full" in result.stderr
    assert tfharness.state_bytes(incident) == before
    assert reset_log(incident) == []
