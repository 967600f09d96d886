"""`safeterraform lint` (issue 20): the pure check, the command's formats and exit codes,
and the pre-commit hook run by the real `pre-commit`."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest
import yaml

from safeterraform import lint
from safeterraform.commands import lint as command
from tests import tfharness

ROOT = Path(__file__).resolve().parent.parent
SAFETERRAFORM = Path(sys.executable).parent / "safeterraform"
PRE_COMMIT = Path(sys.executable).parent / "pre-commit"
SARIF_SCHEMA = ROOT / "schemas" / "sarif-schema-2.1.0.json"
LINT_SCHEMA = ROOT / "schemas" / "lint.schema.json"


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """The 1-based line of the n-th line containing `needle`."""
    hits = [n for n, line in enumerate(text.splitlines(), 1) if needle in line]
    return hits[occurrence - 1]


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.fixture()
def lint_env(home: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """No user or system config unless a test writes one."""
    environment = tfharness.clean_env(home)
    system = tmp_path_factory.mktemp("system") / "config.toml"
    environment["SAFETERRAFORM_SYSTEM_CONFIG"] = str(system)
    return environment


def run_lint(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SAFETERRAFORM), "lint", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


# --- destroy-time provisioners ---------------------------------------------------------


def per_node_incident() -> str:
    """The post-mortem's shape: one resource per control plane, each wiping its node on
    destroy, plus a create-time provisioner that must not be reported."""
    blocks = [
        f"""
resource "terraform_data" "reset_{name}" {{
  input = {{ hostname = "{name}", ip = "{ip}" }}

  provisioner "local-exec" {{
    command = "echo created {name}"
  }}

  provisioner "local-exec" {{
    when    = destroy
    command = "talosctl reset --graceful=false --nodes ${{self.input.ip}}"
  }}
}}
"""
        for name, ip in tfharness.INCIDENT_NODES.items()
    ]
    return "".join(blocks)


def test_incident_three_destroy_provisioners_with_file_line() -> None:
    """Mutations caught: dropping the `when = destroy` check reports the create-time
    provisioners too; taking the resource's line instead of the provisioner's shifts
    every line; a dangerous pattern list that misses talosctl makes them warnings."""
    text = per_node_incident()
    report = lint.lint({"main.tf": text})
    assert [(f.path, f.line) for f in report.findings] == [
        ("main.tf", line_of(text, 'provisioner "local-exec"', 2 * n)) for n in (1, 2, 3)
    ]
    assert [f.address for f in report.findings] == [
        "terraform_data.reset_powder",
        "terraform_data.reset_poison",
        "terraform_data.reset_phoebe",
    ]
    for finding in report.findings:
        assert finding.rule == lint.DESTROY_PROVISIONER
        assert finding.provisioner == "local-exec"
        assert finding.text == '"talosctl reset --graceful=false --nodes ${self.input.ip}"'
        assert finding.severity == lint.ERROR
        assert [d.match for d in finding.dangerous] == ["talosctl reset"]
    assert report.suppressed == ()


def test_incident_config_of_the_harness_runs_for_every_instance() -> None:
    """The replayed incident: one block with for_each over the three control planes."""
    text = tfharness.incident_config(tfharness.INCIDENT_NODES)
    (finding,) = lint.lint({"envs/prod/main.tf": text}).findings
    assert finding.path == "envs/prod/main.tf"
    assert finding.line == line_of(text, 'provisioner "local-exec"')
    assert finding.address == "terraform_data.reset_on_destroy"
    assert "runs for every for_each instance" in finding.message
    assert "dangerous: talosctl reset" in finding.message


@pytest.mark.parametrize(
    ("command_text", "dangerous"),
    [
        ("talosctl reset --nodes 10.0.0.1", "talosctl reset"),
        ("talosctl -n 10.0.0.1 reset --graceful=false", "talosctl -n 10.0.0.1 reset"),
        ("kubectl delete node pearl", "kubectl delete"),
        ("rm -rf /var/lib/etcd", "rm -rf"),
        ("rm -fr /srv", "rm -fr"),
        ("rm --recursive /srv", "rm --recursive"),
        ("dd if=/dev/zero of=/dev/sda bs=1M", "dd if=/dev/zero of="),
        ("mkfs.ext4 /dev/sdb1", "mkfs"),
        ("wipefs -a /dev/sda", "wipefs"),
        ("virsh destroy node1", "virsh destroy"),
        ("qm destroy 101", "qm destroy"),
        ("echo talosctl \\\n  reset", "talosctl reset"),
        ("rm /tmp/marker", None),
        ("echo add more nodes", None),
        ("talosctl health", None),
        ("kubectl get nodes", None),
    ],
)
def test_default_dangerous_commands(command_text: str, dangerous: str | None) -> None:
    text = (
        'resource "terraform_data" "x" {\n'
        '  provisioner "local-exec" {\n'
        "    when    = destroy\n"
        f"    command = <<-EOT\n      {command_text}\n    EOT\n"
        "  }\n"
        "}\n"
    )
    (finding,) = lint.lint({"main.tf": text}).findings
    assert [d.match for d in finding.dangerous] == ([dangerous] if dangerous else [])
    assert finding.severity == (lint.ERROR if dangerous else lint.WARNING)


BOUNDARIES = """
# provisioner "local-exec" { when = destroy  command = "commented out" }
/*
resource "terraform_data" "commented" {
  provisioner "local-exec" {
    when    = destroy
    command = "talosctl reset"
  }
}
*/
locals {
  braces  = "}}} { ${jsonencode({ a = "}" })} $${not_interpolated}"
  heredoc = <<-EOT
    resource "terraform_data" "inside_a_heredoc" {
      provisioner "local-exec" {
        when    = destroy
        command = "talosctl reset"
      }
    }
    }
  EOT
}

resource "terraform_data" "real" {
  input = "${"{"}"
  // provisioner "local-exec" { when = destroy }
  provisioner "remote-exec" {
    when   = destroy
    inline = [
      "echo '}'",
      "wipefs -a /dev/vda",
    ]
  }
  provisioner "local-exec" {
    when    = create
    command = "echo create"
  }
}
"""


def test_block_boundaries_heredocs_strings_comments() -> None:
    """Braces in strings, heredocs and comments do not open or close blocks; a
    provisioner quoted in a heredoc or commented out is not one. Mutation caught: a
    brace-counting scanner that ignores heredocs reports `inside_a_heredoc`."""
    (finding,) = lint.lint({"main.tf": BOUNDARIES}).findings
    assert finding.address == "terraform_data.real"
    assert finding.line == line_of(BOUNDARIES, 'provisioner "remote-exec"')
    assert finding.provisioner == "remote-exec"
    assert finding.text.startswith("[") and '"wipefs -a /dev/vda"' in finding.text
    assert [d.match for d in finding.dangerous] == ["wipefs"]


def test_local_modules_give_the_module_path_and_registry_modules_are_not_read() -> None:
    files = {
        "envs/prod/main.tf": (
            'module "control_plane" {\n  source = "../../modules/node"\n}\n'
            'module "remote" {\n  source = "git::https://example.invalid/x.git"\n}\n'
        ),
        "modules/node/main.tf": 'module "wipe" {\n  source = "./reset"\n  count = 3\n}\n',
        "modules/node/reset/main.tf": (
            'resource "terraform_data" "reset" {\n'
            '  provisioner "local-exec" {\n    when = destroy\n    command = "qm destroy 7"\n  }\n'
            "}\n"
        ),
    }
    (finding,) = lint.lint(files).findings
    assert finding.path == "modules/node/reset/main.tf"
    assert finding.line == 2
    assert finding.address == "module.control_plane.module.wipe.terraform_data.reset"


def test_removed_block_and_json_syntax() -> None:
    hcl = (
        "removed {\n  from = terraform_data.old\n"
        '  provisioner "local-exec" {\n    when = destroy\n    command = "virsh destroy old"\n'
        "  }\n}\n"
    )
    tf_json = json.dumps(
        {
            "resource": {
                "terraform_data": {
                    "j": {
                        "count": 2,
                        "provisioner": [
                            {"local-exec": {"command": "echo create"}},
                            {"local-exec": {"when": "destroy", "command": "mkfs.xfs /dev/sdb"}},
                        ],
                    }
                }
            }
        },
        indent=2,
    )
    removed, from_json = lint.lint({"a.tf": hcl, "b.tf.json": tf_json}).findings
    assert (removed.line, removed.address) == (3, "terraform_data.old")
    assert removed.message.startswith("the removed block for terraform_data.old")
    assert from_json.path == "b.tf.json"
    assert from_json.line == line_of(tf_json, '"when": "destroy"') - 1  # its `{`
    assert from_json.address == "terraform_data.j"
    assert from_json.text == '"mkfs.xfs /dev/sdb"'
    assert "runs for every count instance" in from_json.message


# --- -auto-approve ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "found"),
    [
        ("-auto-approve", True),
        ("--auto-approve", True),
        ("-auto-approve=true", True),
        ("-auto-approve=1", True),
        ("-auto-approve=t", True),
        ("-auto-approve=T", True),
        ("-auto-approve=TRUE", True),
        ("-auto-approve=True", True),
        ('"-auto-approve"', True),
        ("-auto-approve=$AUTO_APPROVE", True),  # unknown: fail closed
        ("-auto-approve=false", False),
        ("-auto-approve=0", False),
        ("-auto-approve=f", False),
        ("-auto-approve=F", False),
        ("-auto-approve=FALSE", False),
        ("--auto-approve=False", False),
        ("-auto-approver", False),
    ],
)
def test_auto_approve_spellings(flag: str, found: bool) -> None:
    script = f"#!/bin/sh\nterraform apply {flag}\n"
    findings = lint.lint({"deploy": script}).findings
    assert [(f.path, f.line) for f in findings] == ([("deploy", 2)] if found else [])


RUNBOOK = """# Adding a worker

Never run `terraform apply -auto-approve` (prose is not a command).

```console
$ terraform plan -out=tfplan
$ terraform apply -auto-approve
Apply complete! Resources: 1 added, 0 changed, 0 destroyed.
```

```python
os.system("terraform apply -auto-approve")
```

~~~bash
# terraform apply -auto-approve   (a comment)
tofu apply \\
  -input=false \\
  -auto-approve=true
~~~
"""


def test_auto_approve_in_scripts_makefiles_ci_and_runbooks() -> None:
    """Mutations caught: reading non-shell fences reports RUNBOOK line 12; not joining
    continuations misses the tofu line; reading trailing comments reports scripts/deploy:3."""
    files = {
        "scripts/deploy": (
            "#!/usr/bin/env bash\nset -e\n"
            "terraform plan -out=tfplan  # then apply, never -auto-approve\n"
            "terraform apply -auto-approve\n"
        ),
        "Makefile": (
            "TF ?= terraform\n\napply:\n\t@$(TF) apply --auto-approve\n\nfmt:\n\tterraform fmt\n"
        ),
        ".github/workflows/deploy.yml": (
            "on: push\njobs:\n  apply:\n    runs-on: ubuntu-latest\n    steps:\n"
            "      - uses: actions/checkout@v4\n"
            "      - run: terraform apply -input=false -auto-approve=1 tfplan\n"
        ),
        ".gitlab-ci.yml": (
            "apply:\n  script:\n    - terraform init\n"
            "    - terragrunt run-all apply -auto-approve\n"
        ),
        "docs/runbook.md": RUNBOOK,
        "notes.txt": "terraform apply -auto-approve\n",  # not a kind lint reads
        "tools/echo.sh": "echo -auto-approve\n",  # not a terraform command line
    }
    findings = lint.lint(files).findings
    assert [(f.path, f.line, f.text) for f in findings] == [
        (
            ".github/workflows/deploy.yml",
            7,
            "- run: terraform apply -input=false -auto-approve=1 tfplan",
        ),
        (".gitlab-ci.yml", 4, "- terragrunt run-all apply -auto-approve"),
        ("Makefile", 4, "@$(TF) apply --auto-approve"),
        ("docs/runbook.md", 7, "terraform apply -auto-approve"),
        ("docs/runbook.md", 19, "tofu apply -input=false -auto-approve=true"),
        ("scripts/deploy", 4, "terraform apply -auto-approve"),
    ]
    assert all(f.rule == lint.AUTO_APPROVE and f.severity == lint.ERROR for f in findings)


def test_auto_approve_injected_through_tf_cli_args() -> None:
    files = {
        "ci.sh": '#!/bin/sh\nexport TF_CLI_ARGS_apply="-auto-approve"\nterraform apply\n',
        ".github/workflows/x.yaml": "env:\n  TF_CLI_ARGS: -auto-approve\n",
    }
    found = [(f.path, f.line) for f in lint.lint(files).findings]
    assert found == [(".github/workflows/x.yaml", 2), ("ci.sh", 2)]


# --- suppressions ----------------------------------------------------------------------


def test_suppression_on_the_line_or_above_suppresses_one_finding() -> None:
    """Mutations caught: an allow comment that suppresses every finding below it (line 7
    would be suppressed), or one without a reason (line 9), or of another rule (line 11)."""
    script = (
        "#!/bin/sh\n"
        "terraform apply -auto-approve  # safeterraform: allow auto-approve sandbox account\n"
        "# safeterraform: allow auto-approve ephemeral review apps\n"
        "terraform apply \\\n"
        "  -auto-approve\n"
        "# safeterraform: allow auto-approve one comment, one finding\n"
        "terraform apply -auto-approve; terraform destroy -auto-approve\n"
        "# safeterraform: allow auto-approve\n"
        "terraform apply -auto-approve\n"
        "# safeterraform: allow destroy-provisioner wrong rule\n"
        "terraform apply -auto-approve\n"
    )
    hcl = (
        'resource "terraform_data" "lab" {\n'
        "  # safeterraform: allow destroy-provisioner lab cluster, rebuilt nightly\n"
        '  provisioner "local-exec" {\n    when = destroy\n    command = "talosctl reset"\n  }\n'
        "}\n"
    )
    report = lint.lint({"deploy.sh": script, "lab.tf": hcl})
    assert [(f.path, f.line, f.suppression) for f in report.suppressed] == [
        ("deploy.sh", 2, lint.Suppression(2, "sandbox account")),
        ("deploy.sh", 5, lint.Suppression(3, "ephemeral review apps")),
        ("deploy.sh", 7, lint.Suppression(6, "one comment, one finding")),
        ("lab.tf", 3, lint.Suppression(2, "lab cluster, rebuilt nightly")),
    ]
    assert [(f.path, f.line) for f in report.findings] == [
        ("deploy.sh", 7),
        ("deploy.sh", 9),
        ("deploy.sh", 11),
    ]


def test_an_allow_comment_without_a_reason_says_it_suppresses_nothing(
    tmp_path: Path, lint_env: dict[str, str]
) -> None:
    """Mutation: `_without_reason` returns the finding as it is (the comment's writer is
    left to think it worked)."""
    write(
        tmp_path,
        {
            "deploy.sh": "#!/bin/sh\n# safeterraform: allow auto-approve\n"
            "terraform apply -auto-approve\n"
        },
    )
    result = run_lint(tmp_path, lint_env)
    assert result.returncode == 2
    first, hint, summary = result.stdout.splitlines()
    assert first.startswith("deploy.sh:3: ")
    assert first.endswith(
        "(the allow comment on line 2 has no reason, so it suppresses nothing: write "
        "`# safeterraform: allow auto-approve <reason>`)"
    )
    assert hint.startswith("A finding that is intended, once reviewed: `# safeterraform: allow")
    assert summary == "1 finding (1 error), 0 suppressed, 1 file checked"


def test_suppressed_findings_are_listed_in_every_format(
    tmp_path: Path, lint_env: dict[str, str]
) -> None:
    write(
        tmp_path,
        {
            "main.tf": (
                'resource "terraform_data" "x" {\n'
                "  # safeterraform: allow destroy-provisioner drains the node first\n"
                '  provisioner "local-exec" {\n    when = destroy\n    command = "echo bye"\n  }\n'
                "}\n"
            )
        },
    )
    text = run_lint(tmp_path, lint_env)
    assert text.returncode == 0, text.stderr
    assert "main.tf:3: suppressed [destroy-provisioner]" in text.stdout
    assert "(allowed: drains the node first)" in text.stdout
    assert "\x1b[" not in text.stdout  # plain text when not a terminal
    as_json = json.loads(run_lint(tmp_path, lint_env, "--format", "json").stdout)
    assert as_json["findings"] == []
    assert as_json["suppressed"][0]["suppression"] == {
        "line": 2,
        "reason": "drains the node first",
    }
    sarif = json.loads(run_lint(tmp_path, lint_env, "--format", "sarif").stdout)
    (result,) = sarif["runs"][0]["results"]
    assert result["suppressions"][0]["kind"] == "inSource"
    assert result["suppressions"][0]["justification"] == "drains the node first"


# --- the command: exit codes, errors, formats ------------------------------------------


def test_exit_codes_and_text(tmp_path: Path, lint_env: dict[str, str]) -> None:
    write(tmp_path, {"main.tf": 'resource "terraform_data" "x" {}\n', "README.md": "# x\n"})
    clean = run_lint(tmp_path, lint_env)
    assert (clean.returncode, clean.stdout) == (0, "lint clean: 2 files checked, 0 suppressed\n")
    write(tmp_path, {"main.tf": per_node_incident()})
    found = run_lint(tmp_path, lint_env)
    assert found.returncode == 2
    lines = found.stdout.splitlines()
    first = line_of(per_node_incident(), 'provisioner "local-exec"', 2)
    assert lines[0].startswith(
        f"main.tf:{first}: error [destroy-provisioner] terraform_data.reset_powder"
    )
    assert lines[-1] == "3 findings (3 errors), 0 suppressed, 2 files checked"
    only_readme = run_lint(tmp_path, lint_env, "README.md")
    assert only_readme.returncode == 0


def test_the_walk_finds_shebang_scripts_and_skips_caches_and_binaries(
    tmp_path: Path, lint_env: dict[str, str]
) -> None:
    write(
        tmp_path,
        {
            "bin/apply": "#!/usr/bin/env bash\nterraform apply -auto-approve\n",
            "bin/notes": "terraform apply -auto-approve\n",  # no shebang, no extension
            ".terraform/modules/x/run.sh": "terraform apply -auto-approve\n",
            "node_modules/x/run.sh": "terraform apply -auto-approve\n",
        },
    )
    (tmp_path / "bin" / "tool.sh").write_bytes(b"\xff\xfe terraform apply -auto-approve\n")
    result = run_lint(tmp_path, lint_env, "--format", "json")
    assert result.returncode == 2, result.stderr
    report = json.loads(result.stdout)
    assert [(f["file"], f["line"]) for f in report["findings"]] == [("bin/apply", 2)]
    assert report["files"] == ["bin/apply"]


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        (
            "bad.tf",
            'resource "a" "b" {\n  x = 1 2\n}\n',
            "safeterraform lint: bad.tf:2:9: invalid HCL: unexpected '2'",
        ),
        (
            "bad.tf",
            'resource "a" "b" {\n  x = 1\n',
            "safeterraform lint: bad.tf:2: invalid HCL: unexpected end of file",
        ),
        (
            "bad.tf.json",
            '{"resource": {\n  "a": }\n',
            "safeterraform lint: bad.tf.json:2:8: invalid JSON: Expecting value",
        ),
    ],
)
def test_broken_configuration_is_one_clear_error_line(
    tmp_path: Path, lint_env: dict[str, str], name: str, text: str, expected: str
) -> None:
    write(tmp_path, {"ok.tf": 'resource "terraform_data" "x" {}\n', name: text})
    result = run_lint(tmp_path, lint_env)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == expected + "\n"


def test_configured_dangerous_commands(tmp_path: Path, lint_env: dict[str, str]) -> None:
    """`[lint] dangerous_commands` adds regexes; a bad regex or key is exit 1, one line."""
    hcl = (
        'resource "terraform_data" "x" {\n'
        '  provisioner "local-exec" {\n    when = destroy\n'
        '    command = "nomad node drain -self -yes"\n  }\n}\n'
    )
    write(tmp_path, {"main.tf": hcl})
    before = json.loads(run_lint(tmp_path, lint_env, "--format", "json").stdout)
    assert before["findings"][0]["severity"] == "warning"
    (tmp_path / ".safeterraform.toml").write_text(
        "[lint]\ndangerous_commands = ['\\bnomad\\s+node\\s+drain\\b']\n"
    )
    after = json.loads(run_lint(tmp_path, lint_env, "--format", "json").stdout)
    assert after["findings"][0]["severity"] == "error"
    assert after["findings"][0]["dangerous"] == [
        {"pattern": r"\bnomad\s+node\s+drain\b", "match": "nomad node drain"}
    ]
    user = Path(lint_env["XDG_CONFIG_HOME"]) / "safeterraform" / "config.toml"
    user.parent.mkdir(parents=True)
    user.write_text("[lint]\ndangerous_commands = ['(unclosed']\n")
    bad = run_lint(tmp_path, lint_env)
    assert bad.returncode == 1
    assert bad.stderr.count("\n") == 1
    assert f"config {user}: " in bad.stderr and "'(unclosed'" in bad.stderr
    user.write_text("[lint]\ndangerous_command = ['x']\n")
    typo = run_lint(tmp_path, lint_env)
    assert (typo.returncode, typo.stderr.count("\n")) == (1, 1)
    assert "unknown key [lint] `dangerous_command`" in typo.stderr


def test_module_outside_the_linted_directory_is_read(
    tmp_path: Path, lint_env: dict[str, str]
) -> None:
    write(
        tmp_path,
        {
            "envs/prd/main.tf": 'module "nodes" {\n  source = "../../modules/nodes"\n}\n',
            "modules/nodes/main.tf": per_node_incident(),
            "modules/nodes/ci.tf": (
                'resource "terraform_data" "ci" {\n'
                '  input = "terraform apply -auto-approve"  # HCL, not a command line\n}\n'
            ),
        },
    )
    result = run_lint(tmp_path / "envs" / "prd", lint_env, "--format", "json")
    assert result.returncode == 2, result.stderr
    report = json.loads(result.stdout)
    assert [f["address"] for f in report["findings"]] == [
        "module.nodes.terraform_data.reset_powder",
        "module.nodes.terraform_data.reset_poison",
        "module.nodes.terraform_data.reset_phoebe",
    ]
    assert {f["file"] for f in report["findings"]} == {"../../modules/nodes/main.tf"}
    assert "../../modules/nodes/ci.tf" in report["files"]


def sample_repository(root: Path) -> None:
    write(
        root,
        {
            "main.tf": per_node_incident(),
            "deploy.sh": (
                "#!/bin/sh\n# safeterraform: allow auto-approve dev only\n"
                "terraform apply -auto-approve\n"
            ),
            "Makefile": "apply:\n\tterraform apply -auto-approve\n",
            "sub dir/runbook.md": "```sh\nterraform destroy -auto-approve\n```\n",
        },
    )


def test_json_output_validates_against_the_published_schema(
    tmp_path: Path, lint_env: dict[str, str]
) -> None:
    sample_repository(tmp_path)
    result = run_lint(tmp_path, lint_env, "--format", "json")
    assert result.returncode == 2
    report = json.loads(result.stdout)
    schema = json.loads(LINT_SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(report)
    assert len(report["findings"]) == 5 and len(report["suppressed"]) == 1
    # The schema is not vacuous: a destroy-provisioner finding without its address fails.
    provisioner = next(f for f in report["findings"] if f["rule"] == "destroy-provisioner")
    del provisioner["address"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate(report)


def test_sarif_output_validates_against_the_sarif_2_1_0_schema(
    tmp_path: Path, lint_env: dict[str, str]
) -> None:
    sample_repository(tmp_path)
    result = run_lint(tmp_path, lint_env, "--format", "sarif")
    assert result.returncode == 2
    sarif = json.loads(result.stdout)
    schema = json.loads(SARIF_SCHEMA.read_text())
    assert schema["id"].endswith("/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json")
    jsonschema.Draft4Validator.check_schema(schema)
    jsonschema.Draft4Validator(schema).validate(sarif)
    (run,) = sarif["runs"]
    results = run["results"]
    assert len(results) == 6
    locations = {
        (
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            r["locations"][0]["physicalLocation"]["region"]["startLine"],
            r["ruleId"],
            r["level"],
            "suppressions" in r,
        )
        for r in results
    }
    assert ("deploy.sh", 3, "auto-approve", "error", True) in locations
    assert ("sub%20dir/runbook.md", 2, "auto-approve", "error", False) in locations
    first = line_of(per_node_incident(), 'provisioner "local-exec"', 2)
    assert ("main.tf", first, "destroy-provisioner", "error", False) in locations
    rule_ids = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    assert all(rule_ids[r["ruleIndex"]] == r["ruleId"] for r in results)
    # The schema is not vacuous: a level SARIF does not know fails validation.
    results[0]["level"] = "fatal"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(schema).validate(sarif)


# --- the pre-commit hook ---------------------------------------------------------------


def hook() -> dict[str, object]:
    (entry,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert isinstance(entry, dict)
    return entry


@pytest.mark.parametrize(
    "name",
    [
        "main.tf",
        "modules/x/main.tf.json",
        "deploy.sh",
        "bin/run.bash",
        "Makefile",
        "sub/GNUmakefile",
        "rules.mk",
        "README.md",
        "docs/runbook.markdown",
        ".gitlab-ci.yml",
        "ci/deploy.gitlab-ci.yaml",
        ".github/workflows/apply.yml",
        ".github/workflows/apply.yaml",
        "action.yml",
        "notes.txt",
        "terraform.tfvars",
        "config.yml",
        ".github/dependabot.yml",
        "main.tf.bak",
    ],
)
def test_hook_files_filter_is_what_lint_reads(name: str) -> None:
    entry = hook()
    assert entry["id"] == "safeterraform-lint"
    assert entry["language"] == "python"
    assert entry["entry"] == "safeterraform lint"
    assert isinstance(entry["files"], str)
    assert bool(re.search(entry["files"], name)) == (lint.kind_by_name(name) is not None)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout


@pytest.mark.slow
def test_pre_commit_hook_fails_on_the_incident_and_passes_without_it(
    tmp_path: Path, home: Path
) -> None:
    """The real pre-commit installs this repository's hook (pip, its dependencies from the
    test run's wheelhouse) into its own environment and runs it on a sample repository that
    names it in .pre-commit-config.yaml, as a user's repository does: the second run uses
    the environment the first one made (`try-repo` would make a new one each time)."""
    hook_repo = tmp_path / "hook-repo"
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # the working tree, uncommitted changes included
            (hook_repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, hook_repo / name)
    git(hook_repo, "init", "-q")
    git(hook_repo, "add", "-A")
    git(hook_repo, "commit", "-q", "-m", "the working tree")
    revision = git(hook_repo, "rev-parse", "HEAD").strip()

    sample = tmp_path / "sample"
    sample.mkdir()
    git(sample, "init", "-q")
    (sample / "main.tf").write_text(tfharness.incident_config(tfharness.INCIDENT_NODES))
    (sample / ".pre-commit-config.yaml").write_text(
        f"repos:\n- repo: {hook_repo}\n  rev: {revision}\n  hooks:\n  - id: safeterraform-lint\n"
    )
    git(sample, "add", "-A")
    env = {
        **tfharness.clean_env(home),
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-cache"),
        "SAFETERRAFORM_SYSTEM_CONFIG": str(tmp_path / "absent.toml"),
        **tfharness.pip_settings(),
    }

    def run_hook() -> tuple[subprocess.CompletedProcess[str], float]:
        started = time.monotonic()
        result = subprocess.run(
            [str(PRE_COMMIT), "run", "safeterraform-lint", "--all-files"],
            cwd=sample,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,  # pip installs the package and its dependencies the first time
        )
        return result, time.monotonic() - started

    failing, first = run_hook()
    assert failing.returncode == 1, failing.stdout + failing.stderr
    provisioner = line_of(tfharness.incident_config(tfharness.INCIDENT_NODES), "provisioner")
    assert f"main.tf:{provisioner}: error [destroy-provisioner]" in failing.stdout
    assert "dangerous: talosctl reset" in failing.stdout

    without = re.sub(
        r'\n  provisioner "local-exec" \{.*?\n  \}\n',
        "\n",
        tfharness.incident_config(tfharness.INCIDENT_NODES),
        flags=re.DOTALL,
    )
    assert "provisioner" not in without
    (sample / "main.tf").write_text(without)
    git(sample, "add", "-A")
    passing, second = run_hook()
    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert "safeterraform lint" in passing.stdout and "Passed" in passing.stdout
    print(f"pre-commit run: {first:.1f} s failing, {second:.1f} s passing")


# --- doctor ----------------------------------------------------------------------------


def test_doctor_rows_pre_commit_hook_and_lint(tmp_path: Path) -> None:
    outside = command.doctor_rows(tmp_path, {})
    assert outside == [
        ("pre-commit hook", f"not checked: {tmp_path} is not in a git repository", "")
    ]
    git(tmp_path, "init", "-q")
    (tmp_path / "main.tf").write_text(tfharness.incident_config(tfharness.INCIDENT_NODES))
    env = {"HOME": str(tmp_path / "home"), "SAFETERRAFORM_SYSTEM_CONFIG": str(tmp_path / "no")}
    hook_row, lint_row = command.doctor_rows(tmp_path / ".", env)
    assert hook_row[0] == "pre-commit hook" and hook_row[1].startswith("no: ")
    assert lint_row[0] == "lint" and "1 finding(s)" in lint_row[1] and lint_row[2] == "red"
    (tmp_path / ".pre-commit-config.yaml").write_text(
        "repos:\n- repo: local\n  hooks:\n  - id: safeterraform-lint\n"
    )
    (tmp_path / "main.tf").write_text('resource "terraform_data" "x" {}\n')
    hook_row, lint_row = command.doctor_rows(tmp_path, env)
    assert hook_row == (
        "pre-commit hook",
        f"safeterraform-lint in {tmp_path / '.pre-commit-config.yaml'}",
        "",
    )
    assert lint_row[0] == "lint" and lint_row[1].startswith("clean: ")


def test_doctor_shows_the_lint_rows(env: dict[str, str], tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    (tmp_path / "deploy.sh").write_text("terraform apply -auto-approve\n")
    environment = {**env, "SAFETERRAFORM_SYSTEM_CONFIG": str(tmp_path / "no"), "COLUMNS": "400"}
    result = subprocess.run(
        [str(SAFETERRAFORM), "doctor", "--chdir", str(tmp_path)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "pre-commit hook" in result.stdout
    assert re.search(r"lint\s.*1 finding\(s\).*deploy\.sh:1 \[auto-approve\]", result.stdout)
    assert os.path.isdir(tmp_path / ".git")
