"""`safeterraform check --format markdown` for pull-request comments (issue 27 item 9), and the
CI examples of docs/ci.md, whose script lines are taken out of the page and run here
against a real plan (terraform and safeterraform real; `gh` and `curl`, which would post to
GitHub or GitLab, replaced by stand-ins that record what they were given)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import tfharness

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "ci.md"
GOLDEN = ROOT / "tests" / "golden" / "check_markdown_incident.md"
VENV_BIN = Path(sys.executable).parent

RECORDER = """#!/bin/sh
# Stand-in for {name}: records its arguments and the file it would post.
printf '%s\\n' "$@" > "$STUB_LOG/{name}.args"
while [ $# -gt 0 ]; do
  case "$1" in
    --body-file) cp "$2" "$STUB_LOG/body.md" ;;
    body@*) cp "${{1#body@}}" "$STUB_LOG/body.md" ;;
  esac
  shift
done
"""


def yaml_block(heading: str) -> Any:
    """The first ```yaml block after `## heading` in docs/ci.md, parsed."""
    text = DOC.read_text()
    section = text[text.index(f"\n## {heading}\n") :]
    match = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert match is not None, f"no yaml block under {heading}"
    return yaml.safe_load(match.group(1))


@pytest.fixture()
def repository(terraform_bin: Path, tmp_path: Path, env: dict[str, str]) -> Path:
    """A repository whose envs/prod holds the incident, applied; the change not yet planned."""
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    prod = root / "envs" / "prod"
    prod.mkdir(parents=True)
    tfharness.make_incident(terraform_bin, prod, env)
    return root


@pytest.fixture()
def ci_env(tmp_path: Path, env: dict[str, str], terraform_bin: Path) -> dict[str, str]:
    """A CI job's environment: the real terraform and safeterraform on PATH (no shim: CI
    runs terraform itself), gh and curl recorded."""
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    for name in ("gh", "curl"):
        stub = stubs / name
        stub.write_text(RECORDER.format(name=name))
        stub.chmod(0o755)
    log = tmp_path / "posted"
    log.mkdir()
    path = os.pathsep.join(map(str, [stubs, terraform_bin.parent, VENV_BIN, "/usr/bin", "/bin"]))
    return {**env, "PATH": path, "STUB_LOG": str(log)}


def posted(ci_env: dict[str, str], name: str) -> tuple[list[str], str]:
    log = Path(ci_env["STUB_LOG"])
    return (log / f"{name}.args").read_text().splitlines(), (log / "body.md").read_text()


def assert_golden(text: str) -> None:
    if os.environ.get("SAFETERRAFORM_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text(), (
        f"{GOLDEN} differs; if intended, rerun with SAFETERRAFORM_UPDATE_GOLDEN=1 and review"
    )


def assert_result_first(text: str) -> None:
    """Mutation: render the headline last (as before issue 27), or the changes outside a
    <details> -> this fails."""
    lines = text.splitlines()
    assert lines[0] == "### safeterraform: destructive plan"
    assert lines[2].startswith("**3 of 3 nodes affected: phoebe (192.0.2.67), poison")
    assert lines[4] == "0 to destroy, 3 to replace, 0 to forget, 0 to create, 3 to update."
    assert "Plan of workspace `prod`, directory `envs/prod`." in lines[:8]
    provisioners = text.index("Destroy-time provisioners (3)")
    details = text.index("<details>\n<summary>Destructive changes on 3 nodes, and why</summary>")
    assert provisioners < details < text.index("#### Why") < text.index("</details>")
    assert text.rstrip().endswith("</details>")


GITHUB_EXPRESSIONS = {"github.token": "test-token", "github.event.pull_request.number": "27"}


def test_the_github_actions_example_posts_the_comment(
    repository: Path, ci_env: dict[str, str], tmp_path: Path
) -> None:
    """The workflow's `run` steps, as the runner runs them (bash -eo pipefail, each in its
    working-directory, step env with `${{ }}` filled in), after the checkout and installs."""
    steps = yaml_block("GitHub Actions")["jobs"]["plan"]["steps"]
    output = tmp_path / "github_output"
    output.touch()
    ran = []
    for step in steps:
        if "run" not in step or step["name"] == "Install safeterraform":
            continue
        values = {
            key: re.sub(r"\$\{\{\s*(.*?)\s*\}\}", lambda m: GITHUB_EXPRESSIONS[m.group(1)], value)
            for key, value in step.get("env", {}).items()
        }
        result = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=repository / step.get("working-directory", "."),
            env={**ci_env, **values, "GITHUB_OUTPUT": str(output)},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, (step["name"], result.stderr)
        ran.append(step["name"])
    assert ran == ["Plan and check", "Comment on the pull request"]
    assert output.read_text() == "destructive=true\n"
    arguments, body = posted(ci_env, "gh")
    assert arguments == ["pr", "comment", "27", "--body-file", "envs/prod/destructive.md"]
    assert_result_first(body)
    assert_golden(body)


def test_the_gitlab_ci_example_posts_the_note(repository: Path, ci_env: dict[str, str]) -> None:
    """The job's `script` lines, in order, failing on the first that fails (as the runner)."""
    job = yaml_block("GitLab CI")["safeterraform"]
    variables = {
        "GITLAB_TOKEN": "test-token",
        "CI_API_V4_URL": "https://gitlab.example/api/v4",
        "CI_PROJECT_ID": "5",
        "CI_MERGE_REQUEST_IID": "27",
    }
    result = subprocess.run(
        ["bash", "-e", "-c", "\n".join(job["script"])],
        cwd=repository,
        env={**ci_env, **variables},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    arguments, body = posted(ci_env, "curl")
    assert "body@destructive.md" in arguments
    assert arguments[-1] == "https://gitlab.example/api/v4/projects/5/merge_requests/27/notes"
    assert "PRIVATE-TOKEN: test-token" in arguments
    assert_result_first(body)
    assert_golden(body)


def test_the_gitlab_script_fails_when_the_plan_cannot_be_read(
    repository: Path, ci_env: dict[str, str]
) -> None:
    """`|| [ $? -eq 2 ]` lets exit 2 through, not exit 1: a broken check fails the job and
    posts nothing. Mutation: `|| true` in the doc -> the job goes on and curl is called."""
    script = [line.replace("tfplan --format", "missing.tfplan --format") for line in
              yaml_block("GitLab CI")["safeterraform"]["script"]]  # fmt: skip
    result = subprocess.run(
        ["bash", "-e", "-c", "\n".join(script)],
        cwd=repository,
        env={**ci_env, "CI_API_V4_URL": "https://gitlab.example/api/v4"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1, result.stderr
    assert "no such plan file" in result.stderr
    assert not (Path(ci_env["STUB_LOG"]) / "curl.args").exists()
