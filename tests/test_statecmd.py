"""Production guard for the other state-changing commands, against the real Terraform."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pexpect
import pytest

from safeterraform.argv import CommandClass, parse
from safeterraform.statecmd import covers, touched
from tests import tfharness
from tests.conftest import Runner
from tests.test_guard import finish, incident, incident_template, spawn

__all__ = ["incident", "incident_template"]  # fixtures shared with test_guard

POWDER = 'terraform_data.reset_on_destroy["powder"]'
CONFIG_POWDER = 'terraform_data.node_config["powder"]'

# (command line, what the operator must type)
COMMANDS = [
    (["state", "rm", POWDER], "powder"),
    (["state", "rm", "terraform_data.reset_on_destroy"], "phoebe poison powder"),
    (["state", "mv", CONFIG_POWDER, 'terraform_data.node_config["powder2"]'], "powder"),
    (["state", "push", "pushed.tfstate"], "prod"),
    (["state", "push", "-force", "pushed.tfstate"], "prod"),
    (["state", "replace-provider", "-auto-approve", "hashicorp/a", "hashicorp/b"], "prod"),
    (["taint", POWDER], "powder"),
    (["untaint", 'terraform_data.reset_on_destroy["phoebe"]'], "phoebe"),
    (["import", "terraform_data.imported", "some-id"], "terraform_data.imported"),
    (["refresh", "-input=false"], "prod"),
    (["workspace", "delete", "staging"], "staging"),
    (["workspace", "delete", "-force", "staging"], "staging"),
    (["force-unlock", "-force", "0b1e9d9e-0000-0000-0000-000000000000"], "prod"),
    (["init", "-migrate-state", "-input=false"], "prod"),
    (["init", "-force-copy", "-input=false"], "prod"),
    (["test"], "prod"),
]
# `terraform test` on the incident configuration is refused outright (tests below).
RUNNABLE = [row for row in COMMANDS if row[0] != ["test"]]


def ids(value: object) -> str:
    return " ".join(value) if isinstance(value, list) else str(value)


def prepare(directory: Path, real: Runner) -> None:
    """Extra objects some commands need: a state to push, a second workspace."""
    tainted = real("taint", 'terraform_data.reset_on_destroy["phoebe"]', cwd=directory)
    assert tainted.returncode == 0, tainted.stderr  # something `untaint` can untaint
    pulled = real("state", "pull", cwd=directory)
    (directory / "pushed.tfstate").write_text(pulled.stdout)
    with (directory / "main.tf").open("a") as config:  # something `import` can import
        config.write('\nresource "terraform_data" "imported" {}\n')

    assert real("workspace", "new", "staging", cwd=directory).returncode == 0
    assert real("workspace", "select", "prod", cwd=directory).returncode == 0


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every state file of every workspace."""
    return {
        str(path.relative_to(directory)): path.read_bytes()
        for path in sorted((directory / "terraform.tfstate.d").rglob("*.tfstate"))
    }


@pytest.mark.parametrize(
    ("args", "expected"), COMMANDS, ids=lambda v: " ".join(v) if isinstance(v, list) else v
)
def test_every_state_changing_command_is_classified(args: list[str], expected: str) -> None:
    assert parse(args, {}).command_class == CommandClass.STATE_CHANGE


def test_table_of_what_each_command_touches(incident: Path, real: Runner) -> None:
    import json

    state = json.loads(real("state", "pull").stdout)
    attributes = ("hostname", "node", "name", "tags.Name")
    for args, expected in COMMANDS:
        invocation = parse(args, {})
        found = touched(invocation.command, invocation.command_args, "prod", state, attributes)
        assert " ".join(found.expected) == expected, args


@pytest.mark.parametrize(
    ("args", "expected"), RUNNABLE, ids=lambda v: " ".join(v) if isinstance(v, list) else v
)
def test_refused_without_a_terminal_and_runs_with_the_stated_names(
    args: list[str],
    expected: str,
    incident: Path,
    shim: Runner,
    real: Runner,
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    prepare(incident, real)
    if args[0] == "untaint":  # only a tainted instance can be untainted (else exit 1)
        assert real("taint", POWDER).returncode == 0
    twin = tmp_path / "twin"
    shutil.copytree(incident, twin, symlinks=True)
    before = snapshot(incident)

    refused = shim(*args)
    assert refused.returncode == 3, refused.stderr
    assert "SAFETERRAFORM_CONFIRM_NODES" in refused.stderr
    env["SAFETERRAFORM_CONFIRM_NODES"] = "somebody-else"
    assert shim(*args).returncode == 3
    assert snapshot(incident) == before

    env["SAFETERRAFORM_CONFIRM_NODES"] = expected
    ran = shim(*args)
    twin_result = real(*args, cwd=twin)
    assert ran.returncode == twin_result.returncode, ran.stderr
    # Every row really runs (no lock exists to force-unlock: terraform says so, exit 1).
    assert ran.returncode == (1 if args[0] == "force-unlock" else 0), ran.stderr
    # The witness: the shim's run left every state exactly as terraform's own run did.
    assert snapshot(incident) == snapshot(twin)
    backups = list((incident / ".terraform" / "safeterraform" / "state-backups").iterdir())
    assert len(backups) == 1


def test_wrong_typed_names_change_nothing_and_right_ones_run(
    incident: Path, shim_bin: Path, env: dict[str, str]
) -> None:
    before = tfharness.state_bytes(incident)
    child = spawn(shim_bin, ["state", "rm", POWDER], incident, env)
    child.expect("state rm")
    for attempt, answer in enumerate(("poison", "powder poison", "POWDER"), start=1):
        child.expect(f"attempt {attempt} of 3")  # keys sent before it is drawn are dropped
        child.sendline(answer)
    assert finish(child) == 4
    assert tfharness.state_bytes(incident) == before

    child = spawn(shim_bin, ["state", "rm", POWDER], incident, env)
    child.expect("Type the names")
    child.sendline("powder")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert POWDER.encode() not in tfharness.state_bytes(incident)


@pytest.mark.parametrize(
    "args",
    [
        ["state", "rm", "-dry-run", POWDER],
        ["state", "mv", "-dry-run", POWDER, 'terraform_data.reset_on_destroy["x"]'],
        ["state", "rm", "-help"],
        ["taint", "-h"],
    ],
)
def test_dry_run_and_help_pass_through(args: list[str], incident: Path, shim: Runner) -> None:
    before = tfharness.state_bytes(incident)
    result = shim(*args)
    assert result.returncode == 0, result.stderr
    assert tfharness.state_bytes(incident) == before


@pytest.mark.parametrize(("args", "expected"), COMMANDS, ids=ids)
def test_outside_production_state_commands_pass_through(
    args: list[str], expected: str, incident: Path, shim: Runner, real: Runner, tmp_path: Path
) -> None:
    """Same exit code as terraform itself on a twin directory, and nothing asked."""
    prepare(incident, real)
    assert real("workspace", "select", "default").returncode == 0
    (incident / "terraform.tfstate").write_bytes(tfharness.state_bytes(incident))
    twin = tmp_path / "twin"
    shutil.copytree(incident, twin, symlinks=True)
    result = shim(*args)
    assert result.returncode == real(*args, cwd=twin).returncode, result.stderr
    assert "SAFETERRAFORM_CONFIRM_NODES" not in result.stderr
    assert not (incident / ".terraform" / "safeterraform").exists()


@pytest.mark.parametrize(
    ("given", "address", "covered"),
    [
        ("terraform_data.reset", "terraform_data.reset", True),
        ("terraform_data.reset", 'terraform_data.reset["a"]', True),
        ("terraform_data.reset", "terraform_data.reset[0]", True),
        ("terraform_data.reset", 'terraform_data.reset_on_destroy["powder"]', False),
        ("terraform_data.reset", "terraform_data.resets", False),
        ("module.db", "module.db.terraform_data.x", True),
        ("module.db", 'module.db["eu"].terraform_data.x', True),
        ("module.db", "module.db_replica.terraform_data.x", False),
        ('terraform_data.reset["a"]', 'terraform_data.reset["ab"]', False),
    ],
)
def test_covers_stops_at_an_address_boundary(given: str, address: str, covered: bool) -> None:
    """Mutation: `covers` as a plain startswith -> the False rows fail."""
    assert covers(given, address) is covered


def test_state_rm_of_a_resource_does_not_take_one_whose_name_it_prefixes(
    incident: Path, shim: Runner, real: Runner, env: dict[str, str]
) -> None:
    """`state rm terraform_data.reset` touches `reset` (node pearl), not the three
    `reset_on_destroy` instances whose name merely starts the same way. Mutation: loosen the
    boundary in statecmd.covers (plain startswith) -> the refusal names powder, poison and
    phoebe too, and SAFETERRAFORM_CONFIRM_NODES=pearl is refused (the state is unchanged).
    Mutation: read state attributes without statecmd.plain_attributes -> the node is
    called `terraform_data.reset`, not by its `input.hostname` as the plan names it."""
    with (incident / "main.tf").open("a") as config:
        config.write('\nresource "terraform_data" "reset" {\n  input = { hostname = "pearl" }\n}\n')
    applied = real("apply", "-auto-approve", "-input=false", "-target=terraform_data.reset")
    assert applied.returncode == 0, applied.stderr
    before = json.loads(tfharness.state_bytes(incident))
    assert {r["name"] for r in before["resources"]} == {"node_config", "reset", "reset_on_destroy"}

    refused = shim("state", "rm", "terraform_data.reset")
    assert refused.returncode == 3, refused.stderr
    assert "pearl" in refused.stderr, refused.stderr
    for node in ("powder", "poison", "phoebe"):
        assert node not in refused.stderr

    env["SAFETERRAFORM_CONFIRM_NODES"] = "pearl"
    ran = shim("state", "rm", "terraform_data.reset")
    assert ran.returncode == 0, ran.stderr
    after = json.loads(tfharness.state_bytes(incident))
    assert [r for r in before["resources"] if r["name"] != "reset"] == after["resources"]
