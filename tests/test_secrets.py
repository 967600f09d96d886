"""No secret leaks through the shim (issue 15), with Terraform's own terraform_data and a
`sensitive = true` variable, so it runs wherever the suite runs (test_aws.py repeats it
against the AWS provider where a provider mirror exists).

The witness: the secret's bytes appear in no output of the shim, `safeterraform log`
(table and --json), `safeterraform check` (text, json, markdown) and not in the audit log,
while the variable's name stays visible there.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Runner
from tests.test_guard import incident, incident_template
from tests.test_prevention import user_config

__all__ = ["incident", "incident_template"]

PASS = "hunter2-Backend-Pass"  # a backend credential
AUDIT = Path(".local") / "state" / "safeterraform" / "audit.jsonl"


def audit_text(home: Path) -> str:
    path = home / AUDIT
    return path.read_text() if path.exists() else ""


SECRET = "s3cr3t-Pa55word-0xCAFE"
SAFETERRAFORM = str(Path(sys.executable).parent / "safeterraform")
CONFIG = """
variable "db_password" {
  type      = string
  sensitive = true
  default   = "initial-value"
}

resource "terraform_data" "db" {
  input            = { hostname = "orders-db", password = var.db_password }
  triggers_replace = var.db_password

  provisioner "local-exec" {
    when    = destroy
    command = "echo wiping ${self.input.hostname} >> reset.log"
  }
}
"""

SPELLINGS = [
    (["plan", "-input=false", "-var", f"db_password={SECRET}"], {}),
    (["plan", "-input=false", f"-var=db_password={SECRET}"], {}),
    (["plan", "-input=false", f"--var=db_password={SECRET}"], {}),
    (["apply", "-input=false", "--var", f"db_password={SECRET}"], {}),
    (["apply", "-auto-approve", f"-var=db_password={SECRET}"], {}),
    (["apply", "-input=false"], {"TF_CLI_ARGS": f"-var=db_password={SECRET}"}),
    (["plan", "-input=false"], {"TF_CLI_ARGS_plan": f"-var 'db_password={SECRET}'"}),
    (["apply", "-input=false"], {"TF_CLI_ARGS_apply": f'-var="db_password={SECRET}"'}),
]


@pytest.fixture()
def database(workdir: Path, real: Runner) -> Path:
    (workdir / "main.tf").write_text(CONFIG)
    assert real("init", "-input=false").returncode == 0
    assert real("workspace", "new", "prod").returncode == 0
    assert real("apply", "-auto-approve", "-input=false").returncode == 0
    return workdir


def tool(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SAFETERRAFORM, *args], cwd=cwd, env={**env, "COLUMNS": "80"},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize(("args", "extra"), SPELLINGS, ids=lambda v: str(v)[:40])
def test_a_var_value_is_shown_and_recorded_nowhere(
    args: list[str], extra: dict[str, str], database: Path, shim: Runner,
    env: dict[str, str], home: Path,
) -> None:  # fmt: skip
    """Mutation: record argv as typed (no redact_argv in make_record) -> the secret is in
    the audit log; print refusals without the UI's redactor -> it is on stderr. Every row
    also proves the secret reached Terraform (orders-db replaced) and was recorded: the
    three TF_CLI_ARGS rows used to assert nothing at the end (`or "TF_CLI_ARGS"`)."""
    env.update(extra)
    result = shim(*args)
    assert result.returncode in (0, 3), result.stderr
    outputs = [result.stdout, result.stderr]
    for log_args in (["log"], ["log", "--json"]):
        shown = tool(env, database, *log_args)
        assert shown.returncode == 0, shown.stderr
        outputs += [shown.stdout, shown.stderr]
    plans = sorted((database / ".terraform" / "safeterraform" / "plans").glob("*.tfplan"))
    for plan in plans:
        for output_format in ("text", "json", "markdown"):
            checked = tool(env, database, "check", str(plan), "--format", output_format)
            assert checked.returncode in (0, 2), checked.stderr
            outputs += [checked.stdout, checked.stderr]
    audit_log = (home / ".local" / "state" / "safeterraform" / "audit.jsonl").read_text()
    for number, text in enumerate([*outputs, audit_log]):
        assert SECRET not in text, f"output {number} shows the secret"
    # Every row has its record; the secret reached Terraform (the plan replaces orders-db:
    # without the -var its applied default stays and nothing changes), except with
    # -auto-approve, refused before any plan; the variable's name is visible wherever the
    # operator typed it.
    record = [json.loads(line) for line in audit_log.splitlines()][-1]
    planned = [] if "-auto-approve" in args else ["orders-db"]
    assert record["affected_nodes"] == planned, record
    typed = any("db_password=<redacted>" in word for word in record["argv"])
    assert typed is (not extra), record["argv"]  # TF_CLI_ARGS* are not argv: not recorded


def test_a_sensitive_value_is_never_a_node_name(
    database: Path, shim: Runner, env: dict[str, str], home: Path
) -> None:
    """`[nodes] attributes` naming the sensitive `input.password` first: the node is named
    by the next rule (hostname) and the confirmation asks for that. Mutation: ignore the
    sensitivity mask in node naming -> the password becomes the name to type."""
    (database / ".safeterraform.toml").write_text(
        '[nodes]\nattributes = ["password", "hostname"]\n'
    )
    env["TF_VAR_db_password"] = SECRET
    refused = shim("apply", "-input=false")
    assert refused.returncode == 3, refused.stderr
    assert "orders-db" in refused.stderr
    audit_log = (home / ".local" / "state" / "safeterraform" / "audit.jsonl").read_text()
    assert SECRET not in refused.stdout + refused.stderr + audit_log
    env["SAFETERRAFORM_CONFIRM_NODES"] = "orders-db"
    applied = shim("apply", "-input=false")
    assert applied.returncode == 0, applied.stderr
    assert (database / "reset.log").read_text().split() == ["wiping", "orders-db"]


def test_a_token_in_a_break_glass_reason_is_recorded_redacted(
    database: Path, shim: Runner, env: dict[str, str], home: Path
) -> None:
    token = "ghp_" + "A1b2C3d4E5f6G7h8I9j0" * 2
    env["SAFETERRAFORM_BREAK_GLASS"] = f"INC-9 approved by ops, token {token}"
    env["COLUMNS"] = "300"  # the banner must not wrap the token (the test would pass)
    result = shim("apply", "-auto-approve", "-input=false")
    assert result.returncode == 0, result.stderr
    audit_log = (home / ".local" / "state" / "safeterraform" / "audit.jsonl").read_text()
    assert token not in audit_log and "INC-9" in audit_log
    assert token not in result.stderr + result.stdout  # the banner too


# -- other ways a secret could travel (backend credentials, hooks, doctor) --


@pytest.mark.parametrize(
    ("args", "extra_env"),
    [
        (["init", "-migrate-state", "-input=false", f"-backend-config=password={PASS}"], {}),
        (["init", "-migrate-state", "-input=false", "-backend-config", f"password={PASS}"], {}),
        (["init", "-migrate-state", "-input=false"],
         {"TF_CLI_ARGS_init": f"-backend-config=password={PASS}"}),
    ],
    ids=["inline", "separate", "TF_CLI_ARGS_init"],
)  # fmt: skip
def test_backend_credentials_on_init_are_redacted(
    args: list[str], extra_env: dict[str, str], incident: Path, shim: Runner,
    env: dict[str, str], home: Path,
) -> None:  # fmt: skip
    """Mutation: drop "backend-config" from redact.PASS_FLAGS -> the password is in the
    refusal and in the record's argv."""
    env.update(extra_env)
    result = shim(*args)
    assert result.returncode == 3, result.stderr
    recorded = audit_text(home)
    assert '"refused"' in recorded
    assert PASS not in result.stdout + result.stderr + recorded
    if not extra_env:
        assert "password=<redacted>" in recorded  # the key stays: the audit stays useful


def test_the_hook_environment_carries_no_var_value(
    incident: Path, shim: Runner, env: dict[str, str], home: Path
) -> None:
    """The hook gets the user's environment and the record's fields, but not TF_CLI_ARGS*:
    they were merged into the command already (as for the shim's own terraform runs), and
    they carry -var values. Mutation: run the hook with the unfiltered environment."""
    with (incident / "main.tf").open("a") as config:
        config.write('\nvariable "password" {\n  default   = ""\n  sensitive = true\n}\n')
    user_config(home, '[hooks]\nbefore_destructive_apply = "env > hook.env"\n')
    env["TF_CLI_ARGS_apply"] = f"-var=password={PASS}"
    env["SAFETERRAFORM_CONFIRM_NODES"] = "powder poison phoebe"
    result = shim("apply", "-input=false")
    assert result.returncode == 0, result.stderr
    hook_env = (incident / "hook.env").read_text()
    assert "SAFETERRAFORM_AFFECTED_NODES=phoebe poison powder" in hook_env
    assert PASS not in hook_env
    assert PASS not in result.stdout + result.stderr + audit_text(home)


def test_doctor_shows_no_var_value(incident: Path, env: dict[str, str]) -> None:
    """doctor prints every input to the verdict; TF_CLI_ARGS with a -var is not one of them
    and its value never appears."""
    env["TF_CLI_ARGS"] = f"-var=password={PASS}"
    env["TF_CLI_ARGS_plan"] = f"-backend-config=password={PASS}"
    result = subprocess.run(
        [str(Path(sys.executable).with_name("safeterraform")), "doctor"],
        cwd=incident, env={**env, "COLUMNS": "400"}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert "verdict" in result.stdout
    assert PASS not in result.stdout + result.stderr
