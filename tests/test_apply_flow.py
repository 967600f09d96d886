"""The guarded apply's rough edges a new user hits (issue 17 items 4, 6, 8, 11), against the
real Terraform; terminal behaviour in a real pseudo-terminal."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import pexpect
import pytest

from tests import tfharness
from tests.conftest import Runner
from tests.test_guard import finish, incident, incident_template, reset_log, spawn
from tests.test_prevention import audit_records

__all__ = ["incident", "incident_template"]

COLOUR = re.compile(r"\x1b\[[0-9;]*m")  # SGR: colours and bold, not cursor control
NOTE = (
    "safeterraform: production: the plan above is applied by this command once you confirm; "
    "there is nothing else to run."
)


# -- item 4: a stale saved plan ---------------------------------------------------------------


def test_a_stale_saved_plan_is_refused_before_anyone_is_asked(
    incident: Path, real: Runner, shim_bin: Path, env: dict[str, str]
) -> None:
    """Mutation: check staleness after the confirmation (or not at all) -> the operator is
    asked for the names of a plan Terraform will refuse anyway: the prompt comes first
    and this fails at once (not after pexpect's timeout), on the whole transcript."""
    assert real("plan", "-input=false", "-out=old.tfplan").returncode == 0
    changed = real(
        "apply", "-auto-approve", "-input=false", '-target=terraform_data.node_config["powder"]'
    )
    assert changed.returncode == 0, changed.stderr
    before = tfharness.state_bytes(incident)
    child = spawn(shim_bin, ["apply", "old.tfplan"], incident, env)
    child.logfile_read = transcript = io.StringIO()
    first = child.expect(["Saved plan is stale", "Type the names", pexpect.EOF])
    assert first == 0, f"asked before the staleness check: {transcript.getvalue()}"
    assert finish(child) == 3
    assert "Type the names" not in transcript.getvalue()
    assert "nothing was applied" in transcript.getvalue()
    assert tfharness.state_bytes(incident) == before
    assert reset_log(incident) == []


def test_a_saved_plan_of_another_terraform_release_is_refused_before_anyone_is_asked(
    incident: Path, real: Runner, shim_bin: Path, env: dict[str, str]
) -> None:
    """A plan file given to `apply` may be read natively (planread takes any 1.15.x plan),
    but `terraform show` of it comes before the question and refuses a plan of another
    release, as apply would: nobody types names for a plan that cannot be applied.
    Mutation: no `show_plan` for a saved plan -> the question comes."""
    assert real("plan", "-input=false", "-out=made.tfplan").returncode == 0
    current = json.loads(real("version", "-json").stdout)["terraform_version"].encode()
    other = current[:-1] + str((int(current[-1:]) + 1) % 10).encode()  # 1.15.5 -> 1.15.6
    with (
        zipfile.ZipFile(incident / "made.tfplan") as source,
        zipfile.ZipFile(incident / "other.tfplan", "w") as copy,
    ):
        for name in source.namelist():
            data = source.read(name)
            copy.writestr(name, data.replace(current, other) if name == "tfplan" else data)
    before = tfharness.state_bytes(incident)
    child = spawn(shim_bin, ["apply", "other.tfplan"], incident, env)
    child.logfile_read = transcript = io.StringIO()
    first = child.expect(["cannot be transferred", "Type the names", pexpect.EOF])
    assert first == 0, f"asked for a plan terraform refuses: {transcript.getvalue()}"
    assert finish(child) != 0
    assert "Type the names" not in transcript.getvalue()
    assert tfharness.state_bytes(incident) == before
    assert reset_log(incident) == []


# -- item 6: colour -----------------------------------------------------------------------------


@pytest.mark.parametrize("no_color", [True, False], ids=["NO_COLOR", "colour"])
def test_composed_runs_follow_no_color_in_a_terminal(
    no_color: bool, incident: Path, shim_bin: Path, env: dict[str, str]
) -> None:
    """In a terminal, terraform's own plan output is coloured unless NO_COLOR is set.
    Mutation: never pass -no-color (the NO_COLOR row fails) or always (the colour row)."""
    if not no_color:
        env.pop("NO_COLOR", None)
    child = spawn(shim_bin, ["apply"], incident, env)
    child.expect("to destroy")  # terraform's own plan summary
    planned = child.before or ""
    child.expect("Type the names")
    child.sendline("")
    assert finish(child) == 4
    assert bool(COLOUR.search(planned)) is not no_color


def test_piped_composed_runs_print_no_escape_codes(
    incident: Path, shim: Runner, env: dict[str, str]
) -> None:
    """Output that is not a terminal gets no colour, NO_COLOR or not. Mutation: decide on
    NO_COLOR alone -> terraform's plan colours the pipe."""
    env.pop("NO_COLOR", None)
    env["SAFETERRAFORM_CONFIRM_NODES"] = "powder poison phoebe"
    result = shim("apply", "-input=false")
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout + result.stderr


def test_pass_through_keeps_terraforms_colour_byte_for_byte(
    incident: Path, shim: Runner, real: Runner, env: dict[str, str]
) -> None:
    """Outside production nothing is added, not even -no-color under NO_COLOR: terraform
    colours a pipe itself, so the bytes differ if the shim touched the command line."""
    assert real("workspace", "select", "default").returncode == 0
    assert env.get("NO_COLOR") == "1"
    through, direct = shim("plan", "-input=false"), real("plan", "-input=false")
    assert COLOUR.search(direct.stdout)
    assert (through.returncode, through.stdout, through.stderr) == (
        direct.returncode,
        direct.stdout,
        direct.stderr,
    )


# -- item 8: message order and wrapping ------------------------------------------------------


def test_the_apply_note_follows_the_rendering_on_one_line(
    incident: Path, shim_bin: Path, env: dict[str, str]
) -> None:
    """Mutations: print the note before rendering, or through a wrapping console -> fails."""
    env["COLUMNS"] = "60"  # narrower than the note: a wrapping console would break it
    child = spawn(shim_bin, ["apply"], incident, env)
    child.expect("Type the names")
    lines = [line.rstrip("\r") for line in (child.before or "").split("\n")]
    child.sendline("")
    assert finish(child) == 4
    assert NOTE in lines
    headline = (
        "3 of 3 nodes affected: phoebe (192.0.2.67), poison (192.0.2.66), powder (192.0.2.65)"
    )
    assert lines.index(NOTE) > lines.index(headline)
    ours = lines[lines.index("DESTRUCTIVE CHANGES on 3 nodes") : lines.index(NOTE) + 1]
    assert [line for line in ours if line != line.rstrip()] == []


def test_no_apply_note_before_a_refusal_without_a_terminal(incident: Path, shim: Runner) -> None:
    """Nobody can confirm without a terminal: no "once you confirm" right before the
    refusal. Mutation: print the note whatever the terminal -> fails."""
    result = shim("apply", "-input=false")
    assert result.returncode == 3, result.stderr
    assert "once you confirm" not in result.stdout + result.stderr
    assert "no terminal to confirm" in result.stderr


def test_no_changes_prints_no_apply_note(incident: Path, shim: Runner) -> None:
    """Mutation: print the note before knowing whether the plan has changes -> fails."""
    (incident / "main.tf").write_text(tfharness.incident_config(tfharness.INCIDENT_NODES))
    result = shim("apply", "-input=false")
    assert result.returncode == 0, result.stderr
    assert "safeterraform: nothing to apply." in result.stdout.splitlines()
    assert "applied by this command" not in result.stdout + result.stderr


# -- item 11: an uninitialised directory ------------------------------------------------------


def test_apply_in_an_uninitialised_production_dir_leaves_no_data_dir(
    tmp_path_factory: pytest.TempPathFactory, shim: Runner
) -> None:
    """Mutation: create the hidden plan's directory before terraform's plan succeeds and
    not remove it -> an empty .terraform/safeterraform/plans/ stays behind."""
    directory = tmp_path_factory.mktemp("envs") / "prod"
    directory.mkdir()
    (directory / "main.tf").write_text(  # a provider: nothing runs before `terraform init`
        'terraform {\n  required_providers {\n    null = { source = "hashicorp/null" }\n  }\n}\n'
    )
    result = shim("apply", "-input=false", cwd=directory)
    assert result.returncode == 1
    assert "terraform init" in result.stderr
    assert sorted(path.name for path in directory.iterdir()) == ["main.tf"]


def test_the_hidden_plan_is_not_offered_as_a_command_to_run(
    incident: Path, shim: Runner, env: dict[str, str]
) -> None:
    """Terraform ends a saved plan with "run: terraform apply FILE"; for the shim's own
    hidden plan (removed on exit) that line would send the operator to a file that is gone.
    Mutation: plan without TF_IN_AUTOMATION -> the hidden path is offered."""
    env["SAFETERRAFORM_CONFIRM_NODES"] = "powder poison phoebe"
    result = shim("apply", "-input=false")
    assert result.returncode == 0, result.stderr
    assert ".terraform/safeterraform/plans/" not in result.stdout
    assert "Apply complete!" in result.stdout


# -- issue 28: plan -detailed-exitcode in production ---------------------------------------


@pytest.mark.parametrize(
    ("args", "extra", "code"),
    [
        (["-detailed-exitcode"], {}, 2),
        (["-detailed-exitcode=true"], {}, 2),
        (["--detailed-exitcode=1"], {}, 2),
        ([], {"TF_CLI_ARGS_plan": "-detailed-exitcode=T"}, 2),
        (["-detailed-exitcode=false"], {}, 0),
    ],
    ids=["bare", "=true", "--=1", "TF_CLI_ARGS_plan", "=false"],
)
def test_a_detailed_exitcode_plan_in_production_is_summarised_and_recorded(
    incident: Path, shim: Runner, env: dict[str, str], home: Path,
    args: list[str], extra: dict[str, str], code: int,
) -> None:  # fmt: skip
    """`plan -detailed-exitcode=true` used to skip the destructive summary and the audit
    record (only the bare spelling was recognised) and still exit 2.

    Mutation: recognise only `-detailed-exitcode` / `--detailed-exitcode` (the old test)
    -> the `=true`, `=1` and TF_CLI_ARGS_plan rows fail."""
    env.update(extra)
    result = shim("plan", "-input=false", *args)
    assert result.returncode == code, result.stderr
    assert "3 of 3" in result.stdout and "To apply exactly this plan" in result.stdout
    (record,) = [r for r in audit_records(home) if r["verdict"] == "planned"]
    assert record["exit_code"] == code
    assert record["affected_nodes"] == ["phoebe", "poison", "powder"]
