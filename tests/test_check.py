"""`safeterraform check`: real plan files through the real terraform; exit codes 0/2/1."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests import plan_scenarios, tfharness
from tests.conftest import Runner
from tests.test_render import validate

CHECK = Path(sys.executable).with_name("safeterraform")


def check(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CHECK), "check", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture()
def incident_plan(terraform_bin: Path, workdir: Path, env: dict[str, str]) -> Path:
    """The incident replayed, then planned to a file with the real terraform."""
    tfharness.make_incident(terraform_bin, workdir, env)
    result = tfharness.run(
        terraform_bin, ["plan", "-input=false", "-out=plan.tfplan"], workdir, env
    )
    assert result.returncode == 0, result.stderr
    return workdir / "plan.tfplan"


def test_incident_shows_the_three_resets(incident_plan: Path, env: dict[str, str]) -> None:
    result = check("plan.tfplan", cwd=incident_plan.parent, env=env)
    assert result.returncode == 2, result.stderr
    for ip in tfharness.INCIDENT_NODES.values():
        assert f"$ echo talosctl reset --nodes {ip} >> reset.log" in result.stdout
    assert (
        "3 of 3 nodes affected: phoebe (192.0.2.67), poison (192.0.2.66), powder (192.0.2.65)"
        in result.stdout
    )
    assert "\x1b[" not in result.stdout  # not a terminal: plain text
    assert result.stdout.index("DESTROY-TIME PROVISIONERS") < result.stdout.index("DESTRUCTIVE")
    # Why (issue 19): the three replacements share one origin, the variable's change.
    assert (
        '3 nodes (phoebe, poison, powder), one cause: var.talos_version changed from "v1.6.0" '
        'to "v1.7.0"' in result.stdout
    )


def test_json_format_validates(incident_plan: Path, env: dict[str, str], tmp_path: Path) -> None:
    result = check(str(incident_plan), "--format", "json", cwd=tmp_path, env=env)
    assert result.returncode == 2, result.stderr
    document = json.loads(result.stdout)
    validate(document)
    assert document["affected_nodes"] == ["phoebe", "poison", "powder"]
    assert sorted(item["command"] for item in document["destroy_provisioners"]) == [
        f"echo talosctl reset --nodes 192.0.2.{n} >> reset.log" for n in (65, 66, 67)
    ]
    # The file a user knows, not the snapshot's internal m-/main.tf (issue 17 item 10).
    assert {item["source"] for item in document["destroy_provisioners"]} == {"main.tf"}
    assert '"m-' not in result.stdout
    for change in document["changes"]:
        assert change["cause"]["kind"] == "chain"
        assert change["cause"]["links"][-1]["subject"] == "var.talos_version"
        assert change["cause"]["links"][-1]["origin"] is True


def test_markdown_and_chdir(incident_plan: Path, env: dict[str, str], tmp_path: Path) -> None:
    result = check(
        "plan.tfplan",
        "--format",
        "markdown",
        "--chdir",
        str(incident_plan.parent),
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 2, result.stderr
    assert result.stdout.startswith("### safeterraform: destructive plan")
    assert "**3 of 3 nodes affected: phoebe (192.0.2.67), poison (192.0.2.66), powder" in (
        result.stdout
    )


def test_nothing_destructive_is_exit_0(
    terraform_bin: Path, workdir: Path, env: dict[str, str]
) -> None:
    plan_scenarios.make_plan(terraform_bin, workdir, env, plan_scenarios.SCENARIOS["update"])
    result = check("plan.tfplan", cwd=workdir, env=env)
    assert result.returncode == 0, result.stderr
    assert "Nothing destructive" in result.stdout
    assert "1 to update" in result.stdout


def test_plan_json_is_accepted_with_a_warning(
    incident_plan: Path, real: Runner, env: dict[str, str]
) -> None:
    shown = real("show", "-json", "plan.tfplan")
    (incident_plan.parent / "plan.json").write_text(shown.stdout)
    result = check("plan.json", cwd=incident_plan.parent, env=env)
    assert result.returncode == 2, result.stderr
    assert "3 of 3 nodes affected" in result.stdout
    assert "no configuration snapshot" in result.stdout


def assert_one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr


def test_corrupt_zip(incident_plan: Path, env: dict[str, str]) -> None:
    (incident_plan.parent / "cut.tfplan").write_bytes(incident_plan.read_bytes()[:300])
    result = check("cut.tfplan", cwd=incident_plan.parent, env=env)
    assert_one_line_error(result, "not a Terraform plan file (corrupt or not a zip)")


def rewrite_tfplan(source: Path, dest: Path, change: bytes | None) -> None:
    """Copy a plan file, replacing (or, with change=None, keeping) the tfplan member."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(dest, "w") as copy:
        for name in original.namelist():
            data = original.read(name)
            copy.writestr(name, change if name == "tfplan" and change is not None else data)


def test_garbage_inside_the_zip(incident_plan: Path, env: dict[str, str]) -> None:
    rewrite_tfplan(incident_plan, incident_plan.parent / "bad.tfplan", b"\xff\x00 garbage")
    result = check("bad.tfplan", cwd=incident_plan.parent, env=env)
    assert_one_line_error(result, "cannot read plan", "bad.tfplan: parse error")


@pytest.mark.parametrize("release", ["older", "same-minor"])
def test_plan_from_another_terraform_version(
    incident_plan: Path, real: Runner, env: dict[str, str], release: str
) -> None:
    """same-minor: a 1.15.x plan of another patch release, which the native reader could
    read, must still go to show -json, which refuses it as apply would. Mutation: planread
    ignoring `same_terraform`."""
    with zipfile.ZipFile(incident_plan) as archive:
        tfplan = archive.read("tfplan")
    current = json.loads(real("version", "-json").stdout)["terraform_version"].encode()
    other = b"1.0.0" + b"0" * (len(current) - len(b"1.0.0"))
    if release == "same-minor":  # 1.15.5 -> 1.15.6
        other = current[:-1] + str((int(current[-1:]) + 1) % 10).encode()
    assert current in tfplan and len(other) == len(current)
    rewrite_tfplan(
        incident_plan, incident_plan.parent / "old.tfplan", tfplan.replace(current, other)
    )
    result = check("old.tfplan", cwd=incident_plan.parent, env=env)
    assert_one_line_error(result, "plan files cannot be transferred between different Terraform")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('{"format_version": "1.0", "values": {"root_module": {}}}', "looks like state"),
        ('{"hello": "world"}', "not a Terraform plan"),
        ("just text", "neither a plan file nor JSON"),
    ],
)
def test_not_a_plan(text: str, words: str, workdir: Path, env: dict[str, str]) -> None:
    (workdir / "thing.json").write_text(text)
    assert_one_line_error(check("thing.json", cwd=workdir, env=env), words)


def test_missing_file_and_missing_terraform(
    tools: Path, incident_plan: Path, env: dict[str, str], shim_bin: Path
) -> None:
    assert_one_line_error(check("nope.tfplan", cwd=incident_plan.parent, env=env), "no such plan")
    env["PATH"] = f"{shim_bin.parent}:{tools}"  # only the shim: skipped, nothing real
    assert_one_line_error(
        check("plan.tfplan", cwd=incident_plan.parent, env=env), "real terraform not found"
    )
