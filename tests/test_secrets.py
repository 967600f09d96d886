"""Secrets that travel other ways than `-var` on apply (issue 15, "also check"): backend
credentials on `init`, a token pasted into a break-glass reason, the hook's environment,
`doctor`. Real Terraform, real audit log; the witness is that the secret's bytes appear in
no output and no file the shim wrote."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Runner
from tests.test_guard import incident, incident_template, reset_log
from tests.test_prevention import user_config

__all__ = ["incident", "incident_template"]

SECRET = "hunter2-Backend-Pass"
TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"  # 36 characters after the prefix
AUDIT = Path(".local") / "state" / "safeterraform" / "audit.jsonl"


def audit_text(home: Path) -> str:
    path = home / AUDIT
    return path.read_text() if path.exists() else ""


@pytest.mark.parametrize(
    ("args", "extra_env"),
    [
        (["init", "-migrate-state", "-input=false", f"-backend-config=password={SECRET}"], {}),
        (["init", "-migrate-state", "-input=false", "-backend-config", f"password={SECRET}"], {}),
        (["init", "-migrate-state", "-input=false"],
         {"TF_CLI_ARGS_init": f"-backend-config=password={SECRET}"}),
    ],
    ids=["inline", "separate", "TF_CLI_ARGS_init"],
)  # fmt: skip
def test_backend_credentials_on_init_are_redacted(
    args: list[str], extra_env: dict[str, str], incident: Path, shim: Runner,
    env: dict[str, str], home: Path,
) -> None:  # fmt: skip
    """Mutation: drop "backend-config" from redact.SECRET_FLAGS -> the password is in the
    refusal and in the record's argv."""
    env.update(extra_env)
    result = shim(*args)
    assert result.returncode == 3, result.stderr
    recorded = audit_text(home)
    assert '"refused"' in recorded
    assert SECRET not in result.stdout + result.stderr + recorded
    if not extra_env:
        assert "password=<redacted>" in recorded  # the key stays: the audit stays useful


def test_a_token_in_a_break_glass_reason_is_recorded_and_shown_redacted(
    incident: Path, shim: Runner, env: dict[str, str], home: Path
) -> None:
    """Mutation: record the reason with Redactor.scrub instead of scrub_typed (or show it in
    the banner unscrubbed) -> the token is in the log or on stderr."""
    env["SAFETERRAFORM_BREAK_GLASS"] = f"INC-7 pager said so, used {TOKEN}"
    result = shim("apply", "-auto-approve", "-input=false")
    assert result.returncode == 0, result.stderr
    assert len(reset_log(incident)) == 3
    recorded = audit_text(home)
    assert "INC-7 pager said so, used <redacted>" in recorded
    assert TOKEN not in recorded + result.stdout + result.stderr


def test_the_hook_environment_carries_no_var_value(
    incident: Path, shim: Runner, env: dict[str, str], home: Path
) -> None:
    """The hook gets the user's environment and the record's fields, but not TF_CLI_ARGS*:
    they were merged into the command already (as for the shim's own terraform runs), and
    they carry -var values. Mutation: run the hook with the unfiltered environment."""
    with (incident / "main.tf").open("a") as config:
        config.write('\nvariable "password" {\n  default   = ""\n  sensitive = true\n}\n')
    user_config(home, '[hooks]\nbefore_destructive_apply = "env > hook.env"\n')
    env["TF_CLI_ARGS_apply"] = f"-var=password={SECRET}"
    env["SAFETERRAFORM_CONFIRM_NODES"] = "powder poison phoebe"
    result = shim("apply", "-input=false")
    assert result.returncode == 0, result.stderr
    hook_env = (incident / "hook.env").read_text()
    assert "SAFETERRAFORM_AFFECTED_NODES=phoebe poison powder" in hook_env
    assert SECRET not in hook_env
    assert SECRET not in result.stdout + result.stderr + audit_text(home)


def test_doctor_shows_no_var_value(incident: Path, env: dict[str, str]) -> None:
    """doctor prints every input to the verdict; TF_CLI_ARGS with a -var is not one of them
    and its value never appears."""
    env["TF_CLI_ARGS"] = f"-var=password={SECRET}"
    env["TF_CLI_ARGS_plan"] = f"-backend-config=password={SECRET}"
    result = subprocess.run(
        [str(Path(sys.executable).with_name("safeterraform")), "doctor"],
        cwd=incident, env={**env, "COLUMNS": "400"}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert "verdict" in result.stdout
    assert SECRET not in result.stdout + result.stderr
