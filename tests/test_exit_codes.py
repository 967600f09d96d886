"""Every case of the README's exit-code table, run for real (docs/design.md#exit-codes).

The table is read from README.md: a code it documents without a case here, or a case here
for a code it does not document, fails `test_the_readme_table_is_the_one_tested`. A remote
run (exit 3) is exercised in tests/test_backends.py, which has the TFE server it needs.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import tfharness
from tests.conftest import Runner
from tests.test_guard import (
    finish,
    incident,
    incident_template,
    leftover_plans,
    reset_log,
    spawn,
)
from tests.test_state_location import audit_lines

__all__ = ["incident", "incident_template"]

README = Path(__file__).parent.parent / "README.md"
SAFETERRAFORM = str(Path(sys.executable).parent / "safeterraform")

Setup = Callable[[Path, dict[str, str], Path], list[str]]


def _readme_codes() -> set[str]:
    text = README.read_text()
    section = text[text.index("## Exit codes") :]
    section = section[: section.index("\n## ", 1)]
    return {match.group(1) for match in re.finditer(r"^\| ([^ |]+) \|", section, re.M)} - {
        "code",
        "---",
    }


def refused_auto_approve(incident: Path, env: dict[str, str], home: Path) -> list[str]:
    return ["apply", "-auto-approve"]


def refused_without_terminal(incident: Path, env: dict[str, str], home: Path) -> list[str]:
    return ["apply", "-input=false"]


def refused_unreadable_config(incident: Path, env: dict[str, str], home: Path) -> list[str]:
    (incident / ".safeterraform.toml").write_text("[production\n")
    return ["apply", "-input=false"]


def refused_unreadable_plan(incident: Path, env: dict[str, str], home: Path) -> list[str]:
    (incident / "garbage.tfplan").write_bytes(b"not a zip at all")
    return ["apply", "garbage.tfplan"]


def _saved_plan(incident: Path, env: dict[str, str]) -> bytes:
    terraform = Path(env["PATH"].split(":")[1]) / "terraform"
    assert tfharness.run(terraform, ["plan", "-out=p.tfplan"], incident, env).returncode == 0
    env["SAFETERRAFORM_CONFIRM_NODES"] = "powder poison phoebe"
    return (incident / "p.tfplan").read_bytes()


def refused_unknown_zip_version(incident: Path, env: dict[str, str], home: Path) -> list[str]:
    """A member needing a zip version Python does not read (NotImplementedError): the
    shim's readers, which take a plan file apart before terraform does, say so in one line
    (it was a traceback: found by an outside attack pass)."""
    plan = _saved_plan(incident, env)
    central = plan.index(b"PK\x01\x02")
    (incident / "p.tfplan").write_bytes(plan[: central + 6] + b"\xff\x00" + plan[central + 8 :])
    return ["apply", "p.tfplan"]


def refused_corrupt_member(incident: Path, env: dict[str, str], home: Path) -> list[str]:
    """The tfplan member's compressed bytes damaged (a zlib error, not BadZipFile)."""
    plan = _saved_plan(incident, env)
    with zipfile.ZipFile(incident / "p.tfplan") as archive:
        member = archive.getinfo("tfplan")
    assert member.compress_type == zipfile.ZIP_DEFLATED
    start = member.header_offset + 30 + len(member.filename.encode()) + len(member.extra)
    damaged = bytearray(plan)
    damaged[start : start + 8] = b"\xff" * 8
    (incident / "p.tfplan").write_bytes(bytes(damaged))
    return ["apply", "p.tfplan"]


def refused_undecodable_lzma(incident: Path, env: dict[str, str], home: Path) -> list[str]:
    """A configuration member LZMA-compressed with properties LZMA cannot decode
    (lzma.LZMAError, found by the second attack pass; terraform reads neither)."""
    plan = _saved_plan(incident, env)
    with zipfile.ZipFile(incident / "p.tfplan") as archive:
        members = [(info.filename, archive.read(info)) for info in archive.infolist()]
    with zipfile.ZipFile(incident / "p.tfplan", "w") as archive:
        for name, data in members:
            method = zipfile.ZIP_LZMA if name.startswith("tfconfig/") else zipfile.ZIP_DEFLATED
            archive.writestr(name, data, compress_type=method)
    rewritten = bytearray((incident / "p.tfplan").read_bytes())
    with zipfile.ZipFile(incident / "p.tfplan") as archive:
        member = next(i for i in archive.infolist() if i.compress_type == zipfile.ZIP_LZMA)
    start = member.header_offset + 30 + len(member.filename.encode()) + len(member.extra)
    rewritten[start + 4 : start + 9] = b"\xff" * 5  # the LZMA properties after their header
    (incident / "p.tfplan").write_bytes(bytes(rewritten))
    assert plan != bytes(rewritten)
    return ["apply", "p.tfplan"]


def refused_missing_plan(incident: Path, env: dict[str, str], home: Path) -> list[str]:
    return ["apply", "gone.tfplan"]


def refused_stale_plan(incident: Path, env: dict[str, str], home: Path) -> list[str]:
    terraform = Path(env["PATH"].split(":")[1]) / "terraform"
    assert tfharness.run(terraform, ["plan", "-out=old.tfplan"], incident, env).returncode == 0
    target = '-target=terraform_data.node_config["powder"]'
    changed = tfharness.run(terraform, ["apply", "-auto-approve", target], incident, env)
    assert changed.returncode == 0, changed.stderr
    env["SAFETERRAFORM_CONFIRM_NODES"] = "powder poison phoebe"
    return ["apply", "old.tfplan"]


def refused_audit_log(incident: Path, env: dict[str, str], home: Path) -> list[str]:
    config = home / ".config" / "safeterraform" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('audit_log = "/dev/full"\n')
    env["SAFETERRAFORM_CONFIRM_NODES"] = "powder poison phoebe"
    return ["apply", "-input=false"]


def refused_limits(incident: Path, env: dict[str, str], home: Path) -> list[str]:
    (incident / ".safeterraform.toml").write_text("[limits]\nmax_affected_nodes = 1\n")
    env["SAFETERRAFORM_CONFIRM_NODES"] = "powder poison phoebe"
    return ["apply", "-input=false"]


REFUSED: dict[str, Setup] = {
    "auto-approve": refused_auto_approve,
    "no terminal, no SAFETERRAFORM_CONFIRM_NODES": refused_without_terminal,
    "unreadable config": refused_unreadable_config,
    "unreadable plan": refused_unreadable_plan,
    "missing (used) plan": refused_missing_plan,
    "plan of an unknown zip version": refused_unknown_zip_version,
    "plan with a damaged member": refused_corrupt_member,
    "plan with undecodable LZMA options": refused_undecodable_lzma,
    "stale plan": refused_stale_plan,
    "audit log not writable": refused_audit_log,
    "limits": refused_limits,
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_3_refused_by_policy(
    case: str, incident: Path, shim: Runner, env: dict[str, str], home: Path
) -> None:
    """Mutation: a missing plan left to PlanError (exit 1, "No such file") -> fails."""
    args = REFUSED[case](incident, env, home)
    before = tfharness.state_bytes(incident)
    result = shim(*args)
    assert result.returncode == 3, result.stderr
    assert tfharness.state_bytes(incident) == before
    assert reset_log(incident) == []


@pytest.mark.parametrize("answers", [["pearl"] * 3, [""]], ids=["wrong names", "empty answer"])
def test_4_not_confirmed(
    answers: list[str], incident: Path, shim_bin: Path, env: dict[str, str]
) -> None:
    before = tfharness.state_bytes(incident)
    child = spawn(shim_bin, ["apply"], incident, env)
    for attempt, answer in enumerate(answers, start=1):
        child.expect(f"attempt {attempt} of 3")  # keys sent before it is drawn are dropped
        child.sendline(answer)
    assert finish(child) == 4
    assert tfharness.state_bytes(incident) == before


def test_4_not_yes(incident: Path, shim_bin: Path, env: dict[str, str]) -> None:
    (incident / "main.tf").write_text(
        tfharness.incident_config(tfharness.INCIDENT_NODES)
        + 'resource "terraform_data" "extra" {\n  input = "x"\n}\n'
    )
    child = spawn(shim_bin, ["apply"], incident, env)
    child.expect("Type `yes`")
    child.sendline("y")
    assert finish(child) == 4


def test_127_real_terraform_not_found(workdir: Path, shim: Runner, env: dict[str, str]) -> None:
    env["SAFETERRAFORM_REAL_TERRAFORM"] = str(workdir / "no-such-terraform")
    assert shim("version").returncode == 127


def test_130_interrupted_at_the_prompt(incident: Path, shim_bin: Path, env: dict[str, str]) -> None:
    before = tfharness.state_bytes(incident)
    child = spawn(shim_bin, ["apply"], incident, env)
    child.expect("Type the names")
    child.sendcontrol("c")
    assert finish(child) == 130
    assert tfharness.state_bytes(incident) == before


@pytest.mark.parametrize(
    "args", [["apply", "-input=false"], ["plan", "-out=p.tfplan"]], ids=["apply", "plan -out"]
)
def test_130_a_signal_while_the_plan_is_read_is_an_interruption(
    args: list[str], incident: Path, shim: Runner, env: dict[str, str], home: Path, tmp_path: Path
) -> None:
    """SIGTERM reaching the shim while it reads its plan (here while `terraform show -json`
    runs: a block comment in the configuration leaves the plan to terraform's reader) is
    an interruption, recorded as one, not a refusal "nothing was applied; nothing was
    applied" with exit 3 (found by an outside attack pass). The signal is sent by the
    terraform the shim runs, as it starts showing the plan."""
    with (incident / "main.tf").open("a") as config:
        config.write("/* the native reader leaves a block comment to terraform */\n")
    real = Path(env["PATH"].split(":")[1]) / "terraform"
    wrapper = tmp_path / "terraform"
    wrapper.write_text(
        f'#!/bin/sh\ncase " $* " in *" show "*) kill -TERM "$PPID" ;; esac\nexec {real} "$@"\n'
    )
    wrapper.chmod(0o755)
    env["SAFETERRAFORM_REAL_TERRAFORM"] = str(wrapper)
    env["SAFETERRAFORM_CONFIRM_NODES"] = "powder poison phoebe"
    before = tfharness.state_bytes(incident)
    result = shim(*args)
    assert result.returncode == 130, result.stderr
    assert "SIGTERM" in result.stderr
    assert "nothing was applied; nothing was applied" not in result.stderr
    verdicts = [json.loads(line)["verdict"] for line in audit_lines(home)]
    assert verdicts[-1] == "interrupted", verdicts
    assert tfharness.state_bytes(incident) == before
    assert leftover_plans(incident) == []


def test_terraforms_own_code_passed_through_and_applied(
    incident: Path, shim: Runner, env: dict[str, str]
) -> None:
    assert shim("validate", "-no-such-flag").returncode == 1  # terraform's usage error
    assert shim("version").returncode == 0
    env["SAFETERRAFORM_CONFIRM_NODES"] = "powder poison phoebe"
    assert shim("apply", "-input=false").returncode == 0
    assert len(reset_log(incident)) == 3


def test_check_and_lint_codes(incident: Path, shim: Runner, env: dict[str, str]) -> None:
    """README: check 0 nothing destructive, 2 destructive, 1 error; lint 0, 2, 1."""
    assert shim("plan", "-input=false", "-out=tfplan").returncode == 0

    def run(*args: str) -> int:
        return subprocess.run(
            [SAFETERRAFORM, *args], cwd=incident, env=env, capture_output=True, timeout=120
        ).returncode

    assert run("check", "tfplan") == 2
    assert run("check", "no-such.tfplan") == 1
    (incident / "nothing.json").write_text('{"format_version": "1.2", "resource_changes": []}')
    assert run("check", "nothing.json") == 0
    assert run("lint", "main.tf") == 2  # the incident's destroy-time provisioners
    clean = incident / "clean"
    clean.mkdir()
    (clean / "main.tf").write_text('resource "terraform_data" "x" {}\n')
    assert run("lint", str(clean)) == 0
    assert run("lint", str(incident / "no-such-dir")) == 1


def test_the_readme_table_is_the_one_tested() -> None:
    assert _readme_codes() == {"terraform's", "3", "4", "127", "130"}
