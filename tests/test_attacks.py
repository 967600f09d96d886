"""Routes into a production state found by attacking the shim from outside (wave 2).

Each test reproduces one route that still works on the code it was written against: it
FAILS there, and passes once the route is closed. The witness is the production state
file's bytes and the destroy-time provisioners' reset.log; a closed route is a refusal
(exit 3) or a confirmation that nobody gave, with the bytes unchanged and nothing reset.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests import tfharness
from tests.conftest import Runner
from tests.test_guard import incident, incident_template, reset_log

__all__ = ["incident", "incident_template"]

PROD_STATE = "terraform.tfstate.d/prod/terraform.tfstate"
BACKEND = 'terraform {{\n  backend "local" {{\n    path = "{path}"\n  }}\n}}\n'


@pytest.fixture()
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A temp dir whose path has no production token (tmp_path carries the test's name)."""
    from safeterraform.policy import has_production_token

    directory = tmp_path_factory.mktemp("root")
    assert not any(has_production_token(part) for part in directory.parts)
    return directory


# -- A. `init -reconfigure` copies the default workspace's state over prod's -------------


@pytest.mark.parametrize(
    ("args", "answers"),
    [(["init", "-reconfigure"], "yes\n" * 5), (["init", "-reconfigure", "-force-copy"], None)],
    ids=["reconfigure-answered-yes", "reconfigure-force-copy"],
)
def test_init_reconfigure_cannot_copy_a_state_over_prod(
    args: list[str], answers: str | None, incident: Path, shim: Runner, real: Runner
) -> None:
    """Route: in a checkout whose prod workspace holds the real state, select `default`
        (it holds a throwaway state), add a local backend whose `path` is prod's state file,
        then `yes yes | terraform init -reconfigure`. Terraform still offers to migrate every
        workspace out of the implicit local backend ("THIS WILL OVERWRITE any conflicting
        states") and copies default's state over prod's; the shim passes `-reconfigure`
        through as "no migration". `init -reconfigure -force-copy -input=false` does the same
    without any prompt (force-copy makes it a state change, but the verdict then sees only
    workspace `default`). Reproduced on main: prod's state shrinks to the throwaway
        resource, exit 0, no audit line. Mutation that reopens it after the fix: let
        backend.init_migration return None for -reconfigure."""
    assert real("workspace", "select", "default").returncode == 0
    (incident / "main.tf").write_text('resource "terraform_data" "scratch" {}\n')
    assert real("apply", "-auto-approve", "-input=false").returncode == 0
    (incident / "backend.tf").write_text(BACKEND.format(path=PROD_STATE))
    before = tfharness.state_bytes(incident)
    result = shim(*args, input=answers)
    assert tfharness.state_bytes(incident) == before, "prod's state was overwritten"
    assert result.returncode == 3, result.stdout + result.stderr


# -- B. a local backend whose path is prod's state, then a plain apply ------------------


def test_a_backend_path_into_a_prod_state_makes_apply_production(
    incident: Path, root: Path, shim: Runner
) -> None:
    """Route: a second checkout (non-production directory, workspace `default`) whose
    configuration has `backend "local" { path = "<prod checkout>/terraform.tfstate.d/
    prod/terraform.tfstate" }`. A first `terraform init` migrates nothing (passes), then
    `terraform apply -auto-approve` passes straight through, because the verdict looks at
    the workspace name and the directory but not at the state the initialised backend
    reads and writes. Reproduced on main: the incident replays (3 replaced, three
    `talosctl reset` lines), exit 0, no audit line. Same with `-backend-config=path=...`
    or an absolute path under /srv/envs/prod."""
    checkout = root / "checkout"
    checkout.mkdir()
    (checkout / "main.tf").write_text((incident / "main.tf").read_text())
    (checkout / "backend.tf").write_text(BACKEND.format(path=incident / PROD_STATE))
    assert shim("init", "-input=false", cwd=checkout).returncode == 0
    before = tfharness.state_bytes(incident)
    result = shim("apply", "-auto-approve", "-input=false", cwd=checkout)
    assert reset_log(checkout) == [], "the destroy-time provisioners ran"
    assert tfharness.state_bytes(incident) == before
    assert result.returncode == 3, result.stdout + result.stderr


# -- C. a saved plan made in production, applied from another directory ------------------


def test_a_prod_plan_applied_from_another_directory_is_still_guarded(
    root: Path, shim: Runner, real: Runner
) -> None:
    """Route: in a production directory (envs/prod) with a backend that is not relative
    to it (here a local backend with an absolute path; the same holds for s3, pg, http,
    ...), `terraform plan -out=/shared/p.tfplan` is allowed (rendered, not confirmed).
    Then `cd ../../dev && terraform apply /shared/p.tfplan` (or `terraform
    -chdir=../../dev apply ...`) passes straight through: the shim judges the directory,
    but Terraform applies a saved plan to the backend and workspace recorded IN the plan.
    Reproduced on main: the incident replays (three resets), prod's state changes, exit
    0, no confirmation and no audit line for the apply."""
    prod = root / "envs" / "prod"
    dev = root / "dev"
    prod.mkdir(parents=True)
    dev.mkdir()
    state = prod / "terraform.tfstate"
    (prod / "backend.tf").write_text(BACKEND.format(path=state))
    (prod / "main.tf").write_text(tfharness.incident_config(tfharness.INCIDENT_NODES))
    assert real("init", "-input=false", cwd=prod).returncode == 0
    assert real("apply", "-auto-approve", "-input=false", cwd=prod).returncode == 0
    (prod / "main.tf").write_text(
        tfharness.incident_config(tfharness.INCIDENT_NODES, talos_version="v1.7.0")
    )
    plan = root / "p.tfplan"
    planned = shim("plan", "-input=false", f"-out={plan}", cwd=prod)
    assert planned.returncode == 0, planned.stderr
    before = state.read_bytes()
    result = shim("apply", "-input=false", str(plan), cwd=dev)
    assert reset_log(dev) == [], "the destroy-time provisioners ran"
    assert state.read_bytes() == before
    assert result.returncode == 3, result.stdout + result.stderr


# -- D. a backend's credentials in refusals, the audit log and `log --json` -------------

SAFETERRAFORM = str(Path(sys.executable).parent / "safeterraform")
BACKEND_SECRET = "S3cretPassw0rd"


def test_backend_credentials_from_a_file_are_never_shown_or_recorded(
    root: Path, shim: Runner, real: Runner, env: dict[str, str], home: Path
) -> None:
    """Route: a checkout with local state gets `backend "http" { address = ".../prod" }`
    and the operator runs `terraform init -backend-config=creds.hcl` (the documented way
    to keep credentials out of the .tf files; creds.hcl holds `password = "..."`). The
    shim judges the migration by the backend's settings and puts all of them, the
    password included, into the refusal on stderr (four times), the audit record's
    `reason` and `safeterraform log --json`. `-backend-config=password=...` typed or in
    TF_CLI_ARGS_init is redacted; a FILE's contents and the backend block's own settings
    are not. Reproduced on main."""
    checkout = root / "checkout"
    checkout.mkdir()
    (checkout / "main.tf").write_text('resource "terraform_data" "x" {}\n')
    assert real("init", "-input=false", cwd=checkout).returncode == 0
    assert real("apply", "-auto-approve", "-input=false", cwd=checkout).returncode == 0
    (checkout / "backend.tf").write_text(
        'terraform {\n  backend "http" {\n    address = "http://127.0.0.1:9/state/prod"\n  }\n}\n'
    )
    (checkout / "creds.hcl").write_text(f'username = "ops"\npassword = "{BACKEND_SECRET}"\n')
    result = shim("init", "-input=false", "-backend-config=creds.hcl", cwd=checkout)
    assert result.returncode == 3, result.stdout + result.stderr  # refused: prod backend
    assert "http" in result.stderr
    assert BACKEND_SECRET not in result.stdout + result.stderr
    audit = (home / ".local" / "state" / "safeterraform" / "audit.jsonl").read_text()
    assert BACKEND_SECRET not in audit
    for args in (["log"], ["log", "--json"]):
        shown = subprocess.run(
            [SAFETERRAFORM, *args], env=env, capture_output=True, text=True, timeout=60
        )
        assert BACKEND_SECRET not in shown.stdout + shown.stderr


# -- E. a coding agent retries with what the refusal suggests ---------------------------


def test_a_coding_agent_cannot_confirm_a_destructive_plan_itself(
    incident: Path, shim: Runner, env: dict[str, str]
) -> None:
    """Route (docs/design.md#coding-agents-and-approvals): in an agent's shell (CLAUDECODE=1) the
    refusal of `terraform apply` lists the affected nodes and points at
    SAFETERRAFORM_CONFIRM_NODES; the agent retries with
    `SAFETERRAFORM_CONFIRM_NODES="phoebe poison powder" terraform apply` and the incident
    replays (three resets, exit 0). On main `[confirm] agent_env` is parsed but nothing
    reads it and there is no `safeterraform approve`. Closed when the agent is told to
    ask a person to run `safeterraform approve PLANFILE` and the variable is ignored."""
    env["CLAUDECODE"] = "1"
    before = tfharness.state_bytes(incident)
    first = shim("apply", "-input=false")
    assert first.returncode == 3
    env["SAFETERRAFORM_CONFIRM_NODES"] = "phoebe poison powder"
    result = shim("apply", "-input=false")
    assert reset_log(incident) == [], "the destroy-time provisioners ran"
    assert tfharness.state_bytes(incident) == before
    assert result.returncode == 3, result.stdout + result.stderr
    assert "safeterraform approve" in result.stderr


# -- F. the current workspace's own state file is a symlink to prod's ------------------


@pytest.mark.parametrize(
    ("link", "target", "workspace"),
    [
        ("terraform.tfstate.d/staging", "prod", "staging"),
        ("terraform.tfstate", PROD_STATE, "default"),
    ],
    ids=["workspace-dir-symlink", "default-state-symlink"],
)
def test_a_workspace_whose_state_is_a_symlink_to_prod_is_production(
    link: str, target: str, workspace: str, incident: Path, shim: Runner
) -> None:
    """Route: a repository someone else wrote ships `terraform.tfstate.d/staging -> prod`
    (or `terraform.tfstate -> terraform.tfstate.d/prod/terraform.tfstate`); the operator
    selects `staging` (or `default`) and runs `terraform apply -auto-approve`. Terraform
    writes through the symlink into prod's state; the shim judges the workspace name
    and the directory, and resolves symlinks only for paths given with -state. Reproduced
    on main: the incident replays (three resets), prod's bytes change, exit 0, no
    audit line."""
    (incident / link).symlink_to(target)
    (incident / ".terraform" / "environment").write_text(workspace)
    before = tfharness.state_bytes(incident)
    result = shim("apply", "-auto-approve", "-input=false")
    assert reset_log(incident) == [], "the destroy-time provisioners ran"
    assert tfharness.state_bytes(incident) == before
    assert result.returncode == 3, result.stdout + result.stderr


# -- G. `state mv -backup-out` writes over prod's state --------------------------------


def test_state_mv_backup_out_into_prod_is_production(
    incident: Path, shim: Runner, real: Runner
) -> None:
    """Route: from workspace `default`, `terraform state mv -state-out=other.tfstate
    -backup-out=terraform.tfstate.d/prod/terraform.tfstate A B`: Terraform writes the
    destination's backup over prod's state file. `-backup-out` (state mv's backup of the
    destination) is missing from argv.STATE_FILE_FLAGS (state, state-out, backup), so the
    shim passes it through. Reproduced on main: prod's state is replaced by
    other.tfstate's (one resource), exit 0, no audit line."""
    assert real("workspace", "select", "default").returncode == 0
    (incident / "main.tf").write_text(
        'resource "terraform_data" "a" {}\nresource "terraform_data" "c" {}\n'
    )
    assert real("apply", "-auto-approve", "-input=false").returncode == 0
    moved = real("state", "mv", "-state-out=other.tfstate", "terraform_data.c", "terraform_data.c")
    assert moved.returncode == 0, moved.stderr
    before = tfharness.state_bytes(incident)
    result = shim(
        "state",
        "mv",
        "-state-out=other.tfstate",
        f"-backup-out={PROD_STATE}",
        "terraform_data.a",
        "terraform_data.b",
    )
    assert tfharness.state_bytes(incident) == before, "prod's state was overwritten"
    assert result.returncode == 3, result.stdout + result.stderr


def test_a_plan_made_in_the_prod_workspace_stays_production_in_another_one(
    incident: Path, shim: Runner, real: Runner, env: dict[str, str]
) -> None:
    """Route: in the prod workspace `terraform plan -out=p.tfplan` (allowed), then
    `terraform workspace select default` and `terraform apply p.tfplan`: the directory and
    the current workspace are not production, but the plan carries its workspace. (Terraform
    1.15 itself refuses the mismatch, exit 1; the shim refuses first, exit 3, recorded.)

    Mutation: the plan-file reader ignoring the recorded workspace (`"default"`) -> the
    plan's state is judged as `default` and the apply passes through to Terraform: the
    reader's result, the judged states and the exit code all fail here."""
    from safeterraform import backend, planfiles

    planned = real("plan", "-input=false", "-out=p.tfplan")
    assert planned.returncode == 0, planned.stderr
    assert planfiles.recorded_backend(str(incident / "p.tfplan")) == ("local", {}, "prod")
    assert ("workspace", "prod") in backend.plan_states(env, str(incident / "p.tfplan"))
    assert real("workspace", "select", "default").returncode == 0
    before = tfharness.state_bytes(incident)
    env["SAFETERRAFORM_CONFIRM_NODES"] = ""
    result = shim("apply", "-input=false", "p.tfplan")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "'prod'" in result.stderr
    assert tfharness.state_bytes(incident) == before
    assert reset_log(incident) == []
