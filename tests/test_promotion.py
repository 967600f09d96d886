"""`[promotion] after`: production applies only a configuration applied in full, successfully,
in a lower environment first (issue 21), against the real Terraform.

The shim records applies in `staging` itself; the production apply reads the audit log.
The witness is the production state's bytes and the provisioners' reset.log.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from safeterraform import launcher, promotion
from tests import tfharness
from tests.conftest import Runner
from tests.test_guard import incident, incident_template, reset_log
from tests.test_prevention import audit_records, user_config

__all__ = ["incident", "incident_template"]

PROMOTION = '[promotion]\nafter = ["staging"]\n'
# Same configuration in every environment; a variable makes an apply fail on demand
# (variable values are not part of the configuration).
GATE = """
variable "fail" {
  default = false
}

resource "terraform_data" "gate" {
  lifecycle {
    precondition {
      condition     = !var.fail
      error_message = "the gate is closed"
    }
  }
}
"""


def refused_for_promotion(result: object) -> bool:
    stderr = getattr(result, "stderr", "")
    return getattr(result, "returncode", None) == 3 and (
        "apply this configuration in staging first" in stderr
    )


def test_a_changed_configuration_needs_staging_first_workspace_layout(
    incident: Path, shim: Runner, shim_bin: Path, real: Runner, env: dict[str, str], home: Path
) -> None:
    """Mutations: drop the exit-code test, the `partial` test, or hash nothing (a constant
    digest) in promotion.find_promotion / digest, and one of the refusals below is
    missing -- the production state changes too early and this fails."""
    user_config(home, PROMOTION)
    with (incident / "main.tf").open("a") as config:
        config.write(GATE)
    assert real("workspace", "new", "staging").returncode == 0
    assert real("workspace", "select", "prod").returncode == 0
    staging = {**env, "TF_WORKSPACE": "staging"}
    env["SAFETERRAFORM_CONFIRM_NODES"] = "powder poison phoebe"
    before = tfharness.state_bytes(incident)

    first = shim("apply", "-input=false")
    assert refused_for_promotion(first), first.stderr
    assert "Traceback" not in first.stderr

    # A staging apply that failed does not count.
    failed = tfharness.run(
        shim_bin, ["apply", "-auto-approve", "-input=false", "-var=fail=true"], incident, staging
    )
    assert failed.returncode == 1 and "the gate is closed" in failed.stderr
    after_failure = shim("apply", "-input=false")
    assert refused_for_promotion(after_failure)
    assert "failed (exit 1)" in after_failure.stderr

    # Nor one that used -target.
    targeted = tfharness.run(
        shim_bin,
        ["apply", "-auto-approve", "-input=false", "-target=terraform_data.gate"],
        incident,
        staging,
    )
    assert targeted.returncode == 0, targeted.stderr
    after_target = shim("apply", "-input=false")
    assert refused_for_promotion(after_target)
    assert "used -target" in after_target.stderr
    assert tfharness.state_bytes(incident) == before
    assert reset_log(incident) == []

    # A full, successful staging apply promotes exactly this configuration.
    full = tfharness.run(shim_bin, ["apply", "-auto-approve", "-input=false"], incident, staging)
    assert full.returncode == 0, full.stderr
    assert reset_log(incident) == []  # a new workspace: staging's nodes were created
    recorded = audit_records(home)[-1]
    assert recorded["workspace"] == "staging" and recorded["verdict"] == "applied"
    assert recorded["partial"] is None and len(str(recorded["config_sha256"])) == 64
    promoted = shim("apply", "-input=false")
    assert promoted.returncode == 0, promoted.stderr
    assert "was applied in full in staging" in promoted.stdout
    assert len(reset_log(incident)) == 3
    assert tfharness.state_bytes(incident) != before

    # A later change needs staging again.
    (incident / "main.tf").write_text(
        (incident / "main.tf").read_text().replace('"v1.7.0"', '"v1.8.0"')
    )
    changed = shim("apply", "-input=false")
    assert refused_for_promotion(changed)
    assert "staging last applied another configuration" in changed.stderr
    assert len(reset_log(incident)) == 3


MODULE_CALL = """
variable "talos_version" {
  default = "v1.6.0"
}

module "cluster" {
  source        = "../../modules/cluster"
  talos_version = var.talos_version
}
"""


@pytest.fixture()
def layout(
    tmp_path_factory: pytest.TempPathFactory, terraform_bin: Path, env: dict[str, str]
) -> Path:
    """repo/modules/cluster (the incident) called from repo/envs/staging and repo/envs/prod,
    both applied at v1.6.0; then the module's version changes to v1.7.0."""
    repo = tmp_path_factory.mktemp("repo")
    module = repo / "modules" / "cluster"
    module.mkdir(parents=True)
    for name in ("staging", "prod"):
        directory = repo / "envs" / name
        directory.mkdir(parents=True)
        (directory / "main.tf").write_text(MODULE_CALL)
        (directory / "terraform.tfvars").write_text(f'# {name}\ntalos_version = "v1.6.0"\n')
    (module / "main.tf").write_text(tfharness.incident_config(tfharness.INCIDENT_NODES, "x"))
    for name in ("staging", "prod"):
        for args in (["init", "-input=false"], ["apply", "-auto-approve", "-input=false"]):
            result = tfharness.run(terraform_bin, args, repo / "envs" / name, env)
            assert result.returncode == 0, result.stderr
    (module / "main.tf").write_text(
        tfharness.incident_config(tfharness.INCIDENT_NODES, "x").replace(
            "version = var.talos_version", 'version = "${var.talos_version}-patched"'
        )
    )
    (repo / ".safeterraform.toml").write_text(PROMOTION)
    return repo


def test_a_sibling_directory_envs_staging_promotes_envs_prod(
    layout: Path, shim: Runner, env: dict[str, str], home: Path
) -> None:
    """Mutation: hash the working directory differently from the plan's snapshot (e.g.
    include terraform.tfvars or leave the modules out) and envs/prod stays refused."""
    prod, staging = layout / "envs" / "prod", layout / "envs" / "staging"
    env["SAFETERRAFORM_CONFIRM_NODES"] = "powder poison phoebe"
    before = (prod / "terraform.tfstate").read_bytes()
    refused = shim("apply", "-input=false", cwd=prod)
    assert refused_for_promotion(refused), refused.stderr
    assert (prod / "terraform.tfstate").read_bytes() == before

    applied = shim("apply", "-auto-approve", "-input=false", cwd=staging)
    assert applied.returncode == 0, applied.stderr
    assert audit_records(home)[-1]["cwd"] == str(staging)
    promoted = shim("apply", "-input=false", cwd=prod)
    assert promoted.returncode == 0, promoted.stderr
    assert len(reset_log(prod)) == 3
    assert (prod / "terraform.tfstate").read_bytes() != before


def test_destroy_needs_no_promotion_and_break_glass_stands_in(
    incident: Path, shim: Runner, env: dict[str, str], home: Path
) -> None:
    user_config(home, PROMOTION)
    env["SAFETERRAFORM_CONFIRM_NODES"] = "powder poison phoebe"
    env["SAFETERRAFORM_BREAK_GLASS"] = "INC-7 staging is down"
    result = shim("apply", "-input=false")
    assert result.returncode == 0, result.stderr
    assert "BREAK-GLASS" in result.stderr
    glass = [r for r in audit_records(home) if r["verdict"] == "break-glass"]
    assert "apply this configuration in staging first" in str(glass[0]["reason"])
    del env["SAFETERRAFORM_BREAK_GLASS"]
    assert shim("destroy", "-input=false").returncode == 0


def record(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "time": "2025-01-31T09:00:00.000Z",
        "workspace": "default",
        "cwd": "/repo/envs/staging",
        "verdict": "applied",
        "exit_code": 0,
        "config_sha256": "c0ffee",
        "partial": None,
    }
    return {**base, **fields}


def test_find_promotion_rules() -> None:
    now = datetime(2025, 2, 1, 9, 0, tzinfo=UTC)
    week = int(timedelta(days=7).total_seconds())
    found, _ = promotion.find_promotion([record()], "c0ffee", ["staging"], week, now)
    assert found is not None
    for fields, why in [
        ({"time": "2025-01-20T09:00:00.000Z"}, "older than max_age"),
        ({"verdict": "failed", "exit_code": 1}, "failed (exit 1)"),
        ({"partial": "-target"}, "used -target"),
        ({"config_sha256": "beef"}, "another configuration"),
        ({"cwd": "/repo/envs/dev"}, None),
    ]:
        found, misses = promotion.find_promotion(
            [record(**fields)], "c0ffee", ["staging"], week, now
        )
        assert found is None
        assert (why in misses[0]) if why else misses == []
    assert promotion.find_promotion(
        [record(workspace="staging", cwd="/repo/cluster")], "c0ffee", ["staging"], week, now
    )[0]


def test_max_age_accepts_durations(tmp_path: Path) -> None:
    from safeterraform import policy

    (tmp_path / ".safeterraform.toml").write_text('[promotion]\nafter = ["qa"]\nmax_age = "36h"\n')
    config = policy.load({"HOME": str(tmp_path)}, str(tmp_path))
    assert config.error is None and config.promotion_max_age == 36 * 3600
    assert [p.glob for p in config.promotion_after] == ["qa"]
    (tmp_path / ".safeterraform.toml").write_text('[promotion]\nmax_age = "soon"\n')
    assert "max_age" in str(policy.load({"HOME": str(tmp_path)}, str(tmp_path)).error)


@pytest.mark.parametrize("directory", ["dev", "staging"])
def test_only_applies_in_a_named_lower_environment_stay_in_python(
    directory: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Outside the named environments an apply is exec'd as before: no promotion module,
    nothing heavy; in one of them the shim stays to record the outcome (stdlib only)."""
    from tests.test_fastpath import HEAVY, probe

    root = tmp_path_factory.mktemp("layout")
    work = root / "envs" / directory
    work.mkdir(parents=True)
    (root / ".safeterraform.toml").write_text(PROMOTION)
    real_bin = root / "real" / "terraform"
    real_bin.parent.mkdir()
    real_bin.write_text("#!/bin/sh\nexit 0\n")
    real_bin.chmod(0o755)
    env = tfharness.clean_env(tmp_path_factory.mktemp("home"))
    env["SAFETERRAFORM_REAL_TERRAFORM"] = str(real_bin)
    shim = launcher.write(root / "bin", "terraform", None, str(root / "no-system.toml"))
    if directory == "dev":
        executed, modules = probe(shim, ["apply", "-input=false"], work, env)
        assert executed == [str(real_bin), "apply", "-input=false"]
        assert "safeterraform.promotion" not in modules
        assert {name.split(".")[0] for name in modules} & HEAVY == set()
    else:
        result = tfharness.run(shim, ["apply", "-input=false"], work, env)
        assert result.returncode == 0, result.stderr
        (line,) = (
            (Path(env["XDG_STATE_HOME"]) / "safeterraform" / "audit.jsonl").read_text().splitlines()
        )
        assert '"verdict": "applied"' in line and '"config_sha256": "' in line
