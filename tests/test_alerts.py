"""[hooks] after_destructive_apply: the alert after a destructive production apply
(docs/design.md#the-prevention-list), against the real Terraform."""

from __future__ import annotations

import json
from pathlib import Path

from tests import tfharness
from tests.conftest import Runner
from tests.test_guard import incident, incident_template, reset_log
from tests.test_side_doors import audit_records, user_config

__all__ = ["incident", "incident_template"]

DUMP = 'after_destructive_apply = "env | grep ^SAFETERRAFORM_ | sort > {out}; exit {code}"\n'


def alert_env(out: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in out.read_text().splitlines())


def test_a_destructive_apply_alerts_with_the_outcome(
    incident: Path, shim: Runner, env: dict[str, str], home: Path, tmp_path: Path
) -> None:
    """Mutation: skip the alert (or run it before the apply) -> no file / no exit code."""
    out = tmp_path / "alert.env"
    user_config(home, "[hooks]\n" + DUMP.format(out=out, code=0))
    env["SAFETERRAFORM_CONFIRM_NODES"] = "powder poison phoebe"
    result = shim("apply", "-input=false")
    assert result.returncode == 0, result.stderr
    fields = alert_env(out)
    assert fields["SAFETERRAFORM_AFFECTED_NODES"] == "phoebe poison powder"
    assert fields["SAFETERRAFORM_EXIT_CODE"] == "0"
    assert fields["SAFETERRAFORM_OUTCOME"] == "applied"
    assert fields["SAFETERRAFORM_WORKSPACE"] == "prod"
    assert fields["SAFETERRAFORM_BREAK_GLASS"] == "0"
    assert fields["SAFETERRAFORM_USER"]
    assert len(reset_log(incident)) == 3


def test_a_non_destructive_apply_does_not_alert(
    incident: Path, shim: Runner, env: dict[str, str], home: Path, tmp_path: Path
) -> None:
    out = tmp_path / "alert.env"
    user_config(home, "[hooks]\n" + DUMP.format(out=out, code=0))
    (incident / "main.tf").write_text(
        tfharness.incident_config(tfharness.INCIDENT_NODES)
        + '\nresource "terraform_data" "pearl" {\n  input = { hostname = "pearl" }\n}\n'
    )
    env["SAFETERRAFORM_CONFIRM_NODES"] = ""
    result = shim("apply", "-input=false")
    assert result.returncode == 0, result.stderr
    assert not out.exists()


def test_a_failing_alert_keeps_the_apply_exit_code_and_is_recorded(
    incident: Path, shim: Runner, env: dict[str, str], home: Path, tmp_path: Path
) -> None:
    """Mutation: return the hook's exit code, or do not record its failure -> fails."""
    out = tmp_path / "alert.env"
    user_config(home, "[hooks]\n" + DUMP.format(out=out, code=9))
    env["SAFETERRAFORM_CONFIRM_NODES"] = "powder poison phoebe"
    result = shim("apply", "-input=false")
    assert result.returncode == 0, result.stderr
    assert "after_destructive_apply exited 9" in result.stderr
    records = audit_records(home)
    assert [r["verdict"] for r in records[-2:]] == ["applied", "alert-failed"]
    assert records[-1]["exit_code"] == 0


def test_break_glass_applies_alert_with_unknown_nodes(
    incident: Path, shim: Runner, env: dict[str, str], home: Path, tmp_path: Path
) -> None:
    out = tmp_path / "alert.env"
    user_config(home, "[hooks]\n" + DUMP.format(out=out, code=0))
    env["SAFETERRAFORM_BREAK_GLASS"] = "INC-7 etcd quorum lost"
    result = shim("apply", "-auto-approve", "-input=false")
    assert result.returncode == 0, result.stderr
    fields = alert_env(out)
    assert fields["SAFETERRAFORM_BREAK_GLASS"] == "1"
    assert fields["SAFETERRAFORM_AFFECTED_NODES"] == "unknown"
    assert fields["SAFETERRAFORM_EXIT_CODE"] == "0"
    assert json.dumps(audit_records(home)[-1]["verdict"]) == '"applied"'


def test_the_before_hook_reads_the_reviewed_plan(
    incident: Path, shim: Runner, env: dict[str, str], home: Path, terraform_bin: Path
) -> None:
    """SAFETERRAFORM_PLAN_FILE is the private copy (/dev/fd/N), readable by the hook."""
    user_config(
        home,
        "[hooks]\n"
        f'before_destructive_apply = "{terraform_bin} show -json $SAFETERRAFORM_PLAN_FILE'
        ' > shown.json"\n',
    )
    env["SAFETERRAFORM_CONFIRM_NODES"] = "powder poison phoebe"
    result = shim("apply", "-input=false")
    assert result.returncode == 0, result.stderr
    shown = json.loads((incident / "shown.json").read_text())
    replaced = [
        c["address"] for c in shown["resource_changes"] if "delete" in c["change"]["actions"]
    ]
    assert len(replaced) == 3
