"""The guarded production flow against the real Terraform (docs/design.md#command-classes,
#confirmation, #signals-and-terminals).

Interactive cases run the shim in a real pseudo-terminal (pexpect).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import time
from pathlib import Path

import pexpect
import pytest

from tests import tfharness
from tests.conftest import Runner

RESET = "talosctl reset --nodes"


@pytest.fixture(scope="module")
def incident_template(tmp_path_factory: pytest.TempPathFactory, terraform_bin: Path) -> Path:
    """The incident, applied once: prod workspace, three nodes, the one-line change made."""
    home = tmp_path_factory.mktemp("incident-home")
    directory = tmp_path_factory.mktemp("incident")
    tfharness.make_incident(terraform_bin, directory, tfharness.clean_env(home))
    return directory


@pytest.fixture()
def incident(incident_template: Path, workdir: Path) -> Path:
    """A private copy of the applied incident directory for one test."""
    shutil.copytree(incident_template, workdir, dirs_exist_ok=True, symlinks=True)
    return workdir


def spawn(shim_bin: Path, args: list[str], cwd: Path, env: dict[str, str]) -> pexpect.spawn:
    env = {**env, "TERM": "dumb"}
    return pexpect.spawn(
        str(shim_bin),
        args,
        cwd=str(cwd),
        env=env,
        encoding="utf-8",
        timeout=120,
        dimensions=(50, 200),
    )


def finish(child: pexpect.spawn) -> int:
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus is not None, f"killed by signal {child.signalstatus}"
    return int(child.exitstatus)


def leftover_plans(directory: Path) -> list[Path]:
    """Plan files the shim left under the data dir (its plans dir goes once empty)."""
    plans = directory / ".terraform" / "safeterraform" / "plans"
    return sorted(plans.iterdir()) if plans.exists() else []


def reset_log(directory: Path) -> list[str]:
    path = directory / "reset.log"
    return path.read_text().splitlines() if path.exists() else []


AUTO_APPROVE_ROUTES = [
    (["apply", "-auto-approve"], {}),
    (["apply", "--auto-approve"], {}),
    (["apply", "-auto-approve=true"], {}),
    (["apply", "-auto-approve=1"], {}),
    (["apply", "-auto-approve=t"], {}),
    (["apply", "-auto-approve=T"], {}),
    (["apply", "-auto-approve=TRUE"], {}),
    (["apply", "-auto-approve=True"], {}),
    (["apply", "-input=false", "--auto-approve=true"], {}),
    (["destroy", "-auto-approve"], {}),
    (["apply", "-destroy", "-auto-approve"], {}),
    (["apply"], {"TF_CLI_ARGS": "-auto-approve"}),
    (["apply"], {"TF_CLI_ARGS_apply": "-auto-approve"}),
    (["destroy"], {"TF_CLI_ARGS_destroy": "-auto-approve"}),
    ([], {"TF_CLI_ARGS": "apply -auto-approve"}),
    (["-chdir=."], {"TF_CLI_ARGS": "destroy --auto-approve=1"}),
]


@pytest.mark.parametrize(("args", "extra_env"), AUTO_APPROVE_ROUTES)
def test_every_auto_approve_route_is_refused_in_production(
    args: list[str],
    extra_env: dict[str, str],
    incident: Path,
    shim: Runner,
    env: dict[str, str],
) -> None:
    before = tfharness.state_bytes(incident)
    env.update(extra_env)
    result = shim(*args)
    assert result.returncode == 3, result.stderr
    assert "-auto-approve" in result.stderr and "production" in result.stderr
    assert "--no-auto-approve" in result.stderr  # Terragrunt users are told
    assert "workspace 'prod'" in result.stderr  # the reason that decided it
    assert tfharness.state_bytes(incident) == before
    assert reset_log(incident) == []


def test_auto_approve_false_is_not_approval(incident: Path, shim: Runner) -> None:
    result = shim("apply", "-auto-approve=false")
    assert result.returncode == 3  # refused for want of a TTY, not for auto-approve
    assert "auto-approve" not in result.stderr
    assert "SAFETERRAFORM_CONFIRM_NODES" in result.stderr


def test_outside_production_auto_approve_passes_through(incident: Path, shim: Runner) -> None:
    assert shim("workspace", "select", "default").returncode == 0
    result = shim("apply", "-auto-approve", "-input=false")
    assert result.returncode == 0, result.stderr
    assert "Apply complete! Resources: 6 added" in result.stdout


def test_incident_typed_names_apply_the_plan(
    incident: Path, shim_bin: Path, env: dict[str, str]
) -> None:
    child = spawn(shim_bin, ["apply"], incident, env)
    child.expect("Type the names")
    shown = child.before
    for ip in ("192.0.2.65", "192.0.2.66", "192.0.2.67"):
        assert f"{RESET} {ip}" in shown
    assert "3 of 3" in shown
    child.sendline("phoebe, powder poison")
    child.expect("Apply complete!")
    assert finish(child) == 0
    assert sorted(reset_log(incident)) == [f"{RESET} 192.0.2.6{n}" for n in (5, 6, 7)]
    assert leftover_plans(incident) == []


def test_incident_wrong_names_three_times_applies_nothing(
    incident: Path, shim_bin: Path, env: dict[str, str]
) -> None:
    before = tfharness.state_bytes(incident)
    child = spawn(shim_bin, ["apply"], incident, env)
    for attempt, answer in enumerate(("pearl", "phoebe powder", "yes"), start=1):
        child.expect(f"attempt {attempt} of 3")  # keys sent before it is drawn are dropped
        child.sendline(answer)
    assert finish(child) == 4
    assert tfharness.state_bytes(incident) == before
    assert reset_log(incident) == []


def test_empty_answer_applies_nothing(incident: Path, shim_bin: Path, env: dict[str, str]) -> None:
    before = tfharness.state_bytes(incident)
    child = spawn(shim_bin, ["apply"], incident, env)
    child.expect("Type the names")
    child.sendline("")
    assert finish(child) == 4
    assert tfharness.state_bytes(incident) == before


def test_ctrl_c_at_the_prompt_is_130(incident: Path, shim_bin: Path, env: dict[str, str]) -> None:
    before = tfharness.state_bytes(incident)
    child = spawn(shim_bin, ["destroy"], incident, env)
    child.expect("Type the names")
    child.sendintr()
    assert finish(child) == 130
    assert tfharness.state_bytes(incident) == before


def test_non_interactive_refused_without_confirm_nodes(incident: Path, shim: Runner) -> None:
    before = tfharness.state_bytes(incident)
    result = shim("apply", "-input=false")
    assert result.returncode == 3
    # The refusal lists the nodes but never a ready-made assignment an agent could copy.
    assert "SAFETERRAFORM_CONFIRM_NODES=" not in result.stderr
    for node in ("powder", "poison", "phoebe"):
        assert node in result.stderr
    assert tfharness.state_bytes(incident) == before


def test_non_interactive_wrong_set_refused(
    incident: Path, shim: Runner, env: dict[str, str]
) -> None:
    before = tfharness.state_bytes(incident)
    env["SAFETERRAFORM_CONFIRM_NODES"] = "pearl"
    assert shim("apply", "-input=false").returncode == 3
    env["SAFETERRAFORM_CONFIRM_NODES"] = ""
    assert shim("apply", "-input=false").returncode == 3
    assert tfharness.state_bytes(incident) == before
    assert reset_log(incident) == []


def test_non_interactive_exact_set_applies(
    incident: Path, shim: Runner, env: dict[str, str]
) -> None:
    env["SAFETERRAFORM_CONFIRM_NODES"] = "powder,poison,phoebe"
    result = shim("apply", "-input=false")
    assert result.returncode == 0, result.stderr
    assert len(reset_log(incident)) == 3


def test_plan_without_out_writes_a_private_plan_file_and_says_how_to_apply(
    incident: Path, shim: Runner, env: dict[str, str]
) -> None:
    result = shim("plan", "-input=false")
    assert result.returncode == 0, result.stderr
    plans = list((incident / ".terraform" / "safeterraform" / "plans").glob("prod-*.tfplan"))
    assert len(plans) == 1
    assert stat.S_IMODE(plans[0].stat().st_mode) == 0o600
    assert f"{RESET} 192.0.2.65" in result.stdout
    relative = plans[0].relative_to(incident)
    assert f"terraform apply {relative}" in result.stdout
    env["SAFETERRAFORM_CONFIRM_NODES"] = "powder poison phoebe"
    applied = shim("apply", str(relative))
    assert applied.returncode == 0, applied.stderr
    assert len(reset_log(incident)) == 3


def test_plan_with_out_still_prints_the_summary(incident: Path, shim: Runner) -> None:
    result = shim("plan", "-input=false", "-out=mine.tfplan")
    assert result.returncode == 0, result.stderr
    assert (incident / "mine.tfplan").is_file()
    assert f"{RESET} 192.0.2.66" in result.stdout
    assert "terraform apply mine.tfplan" in result.stdout


def test_nothing_destructive_asks_for_yes_as_terraform_does(
    incident: Path, shim_bin: Path, env: dict[str, str], real: Runner
) -> None:
    """Mutation: accept any answer starting with y (a single keypress) -> fails."""
    (incident / "main.tf").write_text(
        tfharness.incident_config({**tfharness.INCIDENT_NODES})
        + '\nresource "terraform_data" "pearl" {\n  input = { hostname = "pearl" }\n}\n'
    )
    before = tfharness.state_bytes(incident)
    child = spawn(shim_bin, ["apply"], incident, env)
    child.expect(r"Type `yes` to apply these changes")
    child.sendline("y")
    assert finish(child) == 4
    assert tfharness.state_bytes(incident) == before

    child = spawn(shim_bin, ["apply"], incident, env)
    child.expect(r"Type `yes` to apply these changes")
    child.sendline("yes")
    child.expect("Apply complete!")
    assert finish(child) == 0
    assert reset_log(incident) == []


def test_no_changes_applies_nothing(incident: Path, shim: Runner, env: dict[str, str]) -> None:
    (incident / "main.tf").write_text(tfharness.incident_config(tfharness.INCIDENT_NODES))
    before = tfharness.state_bytes(incident)
    result = shim("apply", "-input=false")
    assert result.returncode == 0, result.stderr
    assert "safeterraform: nothing to apply." in result.stdout
    assert tfharness.state_bytes(incident) == before


def test_terraform_error_in_the_hidden_plan_is_terraforms(incident: Path, shim: Runner) -> None:
    (incident / "broken.tf").write_text('resource "terraform_data" "x" {\n')
    before = tfharness.state_bytes(incident)
    result = shim("apply", "-input=false")
    assert result.returncode == 1
    assert "Error:" in result.stderr
    assert tfharness.state_bytes(incident) == before


def test_missing_variable_in_the_hidden_plan(incident: Path, shim: Runner) -> None:
    (incident / "extra.tf").write_text('variable "needed" {}\n')
    result = shim("apply", "-input=false")
    assert result.returncode == 1
    assert "No value for required variable" in result.stderr


def test_plan_flags_reach_the_hidden_plan(
    incident: Path, shim: Runner, env: dict[str, str]
) -> None:
    """-target narrows the plan that is rendered, confirmed and applied."""
    env["SAFETERRAFORM_CONFIRM_NODES"] = "powder"
    result = shim(
        "apply",
        "-input=false",
        '-target=terraform_data.reset_on_destroy["powder"]',
    )
    assert result.returncode == 0, result.stderr
    assert reset_log(incident) == [f"{RESET} 192.0.2.65"]


def test_destroy_is_guarded_like_apply(incident: Path, shim: Runner, env: dict[str, str]) -> None:
    env["SAFETERRAFORM_CONFIRM_NODES"] = "powder poison phoebe"
    result = shim("destroy", "-input=false")
    assert result.returncode == 0, result.stderr
    assert "6 destroyed" in result.stdout
    state = json.loads(tfharness.state_bytes(incident))
    assert state["resources"] == []


SLOW_CONFIG = """
resource "terraform_data" "slow" {
  input = "x"
  provisioner "local-exec" {
    command = "echo started > started.txt; sleep 8; echo finished > finished.txt"
  }
}
"""


def _slow_apply(workdir: Path, real: Runner, shim_bin: Path, env: dict[str, str]) -> pexpect.spawn:
    (workdir / "main.tf").write_text(SLOW_CONFIG)
    assert real("init", "-input=false").returncode == 0
    assert real("workspace", "new", "prod").returncode == 0
    env["SAFETERRAFORM_CONFIRM_NODES"] = ""
    child = spawn(shim_bin, ["apply"], workdir, env)
    child.expect(r"Type `yes` to apply these changes")
    child.sendline("yes")
    deadline = time.monotonic() + 60
    while not (workdir / "started.txt").exists():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    # While it applies, the workspace's lock is where the no-stale-lock checks look.
    assert (workdir / "terraform.tfstate.d" / "prod" / ".terraform.tfstate.lock.info").exists()
    return child


def test_ctrl_c_during_apply_reaches_terraform_once(
    workdir: Path, real: Runner, shim_bin: Path, env: dict[str, str]
) -> None:
    child = _slow_apply(workdir, real, shim_bin, env)
    child.sendintr()
    code = finish(child)
    output = child.before or ""
    assert code != 0
    assert "Two interrupts received" not in output
    # The local backend locks a workspace next to its state file.
    lock = workdir / "terraform.tfstate.d" / "prod" / ".terraform.tfstate.lock.info"
    assert lock.parent.is_dir() and not lock.exists()
    assert real("plan", "-input=false", "-lock-timeout=1s").returncode == 0  # no stale lock


def test_sigterm_to_the_shim_is_passed_on_once(
    workdir: Path, real: Runner, shim_bin: Path, env: dict[str, str]
) -> None:
    child = _slow_apply(workdir, real, shim_bin, env)
    os.kill(child.pid, signal.SIGTERM)
    code = finish(child)
    assert code != 0
    # The local backend locks a workspace next to its state file.
    lock = workdir / "terraform.tfstate.d" / "prod" / ".terraform.tfstate.lock.info"
    assert lock.parent.is_dir() and not lock.exists()
    assert real("plan", "-input=false", "-lock-timeout=1s").returncode == 0


def test_empty_confirm_nodes_applies_a_plan_with_nothing_destructive(
    incident: Path, shim: Runner, env: dict[str, str]
) -> None:
    (incident / "main.tf").write_text(
        tfharness.incident_config(tfharness.INCIDENT_NODES)
        + '\nresource "terraform_data" "pearl" {\n  input = { hostname = "pearl" }\n}\n'
    )
    env["SAFETERRAFORM_CONFIRM_NODES"] = ""
    result = shim("apply", "-input=false")
    assert result.returncode == 0, result.stderr
    assert "Apply complete! Resources: 1 added, 0 changed, 0 destroyed" in result.stdout


def test_destroy_asks_for_every_node_it_destroys(
    incident: Path, shim_bin: Path, env: dict[str, str]
) -> None:
    (incident / "main.tf").write_text(tfharness.incident_config(tfharness.INCIDENT_NODES))
    child = spawn(shim_bin, ["destroy"], incident, env)
    child.expect("Type the names of the 3 affected node")
    for ip in ("192.0.2.65", "192.0.2.66", "192.0.2.67"):
        assert f"{RESET} {ip}" in child.before
    child.sendline("powder poison")
    child.expect("missing phoebe")
    child.expect("Type the names")
    child.sendline("powder poison phoebe")
    child.expect("6 destroyed")
    assert finish(child) == 0
    assert len(reset_log(incident)) == 3


def test_lock_held_in_the_hidden_plan_is_terraforms_error(
    workdir: Path, real: Runner, shim: Runner, terraform_bin: Path, env: dict[str, str]
) -> None:
    """Another apply holds the state lock: terraform's message and code, nothing applied."""
    import subprocess

    (workdir / "main.tf").write_text(SLOW_CONFIG)
    assert real("init", "-input=false").returncode == 0
    assert real("workspace", "new", "prod").returncode == 0
    holder = subprocess.Popen(
        [str(terraform_bin), "apply", "-auto-approve", "-input=false"],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not (workdir / "started.txt").exists():
            assert time.monotonic() < deadline
            time.sleep(0.1)
        (workdir / "main.tf").write_text(SLOW_CONFIG.replace('input = "x"', 'input = "y"'))
        env["SAFETERRAFORM_CONFIRM_NODES"] = ""
        result = shim("apply", "-input=false", "-lock-timeout=1s")
        assert result.returncode == 1
        assert "Error acquiring the state lock" in result.stderr
        assert leftover_plans(workdir) == []
    finally:
        holder.wait(timeout=60)
    assert (workdir / "finished.txt").read_text() == "finished\n"  # only the holder applied
