"""Confirming by node name (docs/design.md#confirmation): the pure rules, and the real Terraform
with names that hold spaces, commas and accents (issue 17 item 12), typed in a real terminal.
"""

from __future__ import annotations

import shutil
import unicodedata
from collections.abc import Callable
from pathlib import Path

import pytest

from safeterraform.confirm import confirm_nodes, matches, split_names
from tests import tfharness
from tests.conftest import Runner
from tests.test_guard import finish, reset_log, spawn

ZOE = unicodedata.normalize("NFC", "Zoë")
NODES = {
    "Control Plane 1": "192.0.2.96",
    "Control Plane 2": "192.0.2.97",
    "db,primary": "192.0.2.98",
    ZOE: "192.0.2.99",
}
QUOTED = f"'Control Plane 1' 'Control Plane 2' 'db,primary' {ZOE}"
ZOE_NFD = unicodedata.normalize("NFD", ZOE)


# -- the pure rules -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected", "confirmed"),
    [
        (["powder", "poison", "phoebe"], ["phoebe", "powder", "poison"], True),
        (["powder", "poison"], ["phoebe", "powder", "poison"], False),  # a subset
        (["powder"], ["phoebe", "powder", "poison"], False),
        (["powder", "poison", "phoebe", "pearl"], ["phoebe", "powder", "poison"], False),
        (["powder", "poison", "pearl"], ["phoebe", "powder", "poison"], False),
        (["POWDER"], ["powder"], False),
        ([], ["powder"], False),
        ([], [], True),
        ([ZOE_NFD], [ZOE], True),
    ],
)
def test_matches_is_the_exact_set(typed: list[str], expected: list[str], confirmed: bool) -> None:
    """Mutations: `set(typed) <= set(expected)` (a subset), `set(typed) & set(expected)`
    (any one name), or comparing without NFC -> a row fails."""
    assert matches(typed, expected) is confirmed


@pytest.mark.parametrize(
    ("answer", "names"),
    [
        ("powder, poison phoebe", ("powder", "poison", "phoebe")),
        ("powder,poison,,phoebe", ("powder", "poison", "phoebe")),
        (QUOTED, ("Control Plane 1", "Control Plane 2", "db,primary", ZOE)),
        ('"Control Plane 1", "db,primary"', ("Control Plane 1", "db,primary")),
        ("Control Plane 1\ndb,primary\n", ("Control Plane 1", "db,primary")),
        ("  Control Plane 1 \n\n Zoe\u0308 ", ("Control Plane 1", ZOE)),
        ("Control Plane 1 db,primary", ("Control", "Plane", "1", "db", "primary")),
        ("'unbalanced", ("'unbalanced",)),
        ("", ()),
    ],
)
def test_split_names(answer: str, names: tuple[str, ...]) -> None:
    assert split_names(answer) == names


def answers(*lines: str) -> tuple[list[str], Callable[[str], str]]:
    """A prompt that answers `lines` in turn, and the questions it was asked."""
    asked: list[str] = []
    queue = list(lines)

    def ask(question: str) -> str:
        asked.append(question)
        return queue.pop(0)

    return asked, ask


THREE = ["powder", "poison", "phoebe"]


@pytest.mark.parametrize(
    ("lines", "confirmed", "questions"),
    [
        (["powder", "poison", "phoebe"], True, 3),  # pasted one per line
        (["'Control Plane 1'", "Control Plane 2", "db,primary"], False, 3),  # not these nodes
        (["powder", "", "", ""], False, 3),  # one name, then Enter: a subset; then empty: stop
        (["powder", "poison", "", "", ""], False, 4),
        (["powder", "pearl", "x", "y"], False, 4),  # a wrong line ends the list
        (["powder", "powder", "x", "y"], False, 4),  # a repeated name too
        (["powder poison", "x", "y"], False, 3),  # two names on one line: judged at once
    ],
)
def test_one_name_per_line_reads_on_only_while_names_are_missing(
    lines: list[str], confirmed: bool, questions: int
) -> None:
    """Mutation: end the line-by-line list with an empty line as a confirmation (accepting
    the names so far) -> the subset rows are confirmed."""
    asked, ask = answers(*lines, "", "", "", "", "")
    outcome = confirm_nodes(THREE, ask, lambda line: None)
    assert outcome.confirmed is confirmed
    assert len(asked) == questions


# -- the real Terraform -----------------------------------------------------------------------


def spaced_config(release: str) -> str:
    keys = "\n".join(f'    "{name}" = "{ip}"' for name, ip in NODES.items())
    return f"""
locals {{
  nodes = {{
{keys}
  }}
}}

resource "terraform_data" "node" {{
  for_each         = local.nodes
  input            = {{ ip = each.value }}
  triggers_replace = "{release}"

  provisioner "local-exec" {{
    when    = destroy
    command = "echo talosctl reset --nodes ${{self.input.ip}} >> reset.log"
  }}
}}
"""


@pytest.fixture(scope="module")
def spaced_template(tmp_path_factory: pytest.TempPathFactory, terraform_bin: Path) -> Path:
    """Four nodes keyed by names with spaces, a comma and an accent, applied in workspace
    prod; then a change that replaces all four."""
    home = tmp_path_factory.mktemp("spaced-home")
    directory = tmp_path_factory.mktemp("spaced")
    env = tfharness.clean_env(home)
    tfharness.applied_in_prod(
        terraform_bin, directory, env, spaced_config("r1"), spaced_config("r2")
    )
    return directory


@pytest.fixture()
def spaced(spaced_template: Path, workdir: Path) -> Path:
    shutil.copytree(spaced_template, workdir, dirs_exist_ok=True, symlinks=True)
    return workdir


@pytest.mark.parametrize(
    "value",
    [
        QUOTED,
        "\n".join(NODES),
        "\n".join([*list(NODES)[:3], ZOE_NFD]),
        f"db,primary\n{ZOE}\nControl Plane 2\nControl Plane 1\n",
    ],
    ids=["shell-quoted", "one-per-line", "one-per-line-nfd", "any-order"],
)
def test_confirm_nodes_states_names_with_separators(
    value: str, spaced: Path, shim: Runner, env: dict[str, str]
) -> None:
    env["SAFETERRAFORM_CONFIRM_NODES"] = value
    result = shim("apply", "-input=false")
    assert result.returncode == 0, result.stderr
    assert sorted(reset_log(spaced)) == sorted(
        f"talosctl reset --nodes {ip}" for ip in NODES.values()
    )


@pytest.mark.parametrize(
    "value",
    [
        "Control Plane 1 Control Plane 2 db,primary Zoë",  # split on every space and comma
        "'Control Plane 1' 'Control Plane 2' 'db,primary'",  # a subset
        f"{QUOTED} pearl",
    ],
    ids=["unquoted", "subset", "extra"],
)
def test_confirm_nodes_that_do_not_state_the_set_are_refused(
    value: str, spaced: Path, shim: Runner, env: dict[str, str]
) -> None:
    """Mutation: accept a subset of the names in confirm.matches -> the subset row applies."""
    before = tfharness.state_bytes(spaced)
    env["SAFETERRAFORM_CONFIRM_NODES"] = value
    result = shim("apply", "-input=false")
    assert result.returncode == 3, result.stderr
    # Names that hold a separator are shown quoted, as they are typed.
    assert "'Control Plane 1'" in result.stderr
    assert "SAFETERRAFORM_CONFIRM_NODES=" not in result.stderr
    assert tfharness.state_bytes(spaced) == before
    assert reset_log(spaced) == []


def test_the_rendering_and_the_prompt_show_names_quoted(
    spaced: Path, shim_bin: Path, env: dict[str, str]
) -> None:
    child = spawn(shim_bin, ["apply"], spaced, env)
    child.expect("Type the names of the 4 affected node")
    shown = child.before
    # Sorted by code point; every name that holds a separator is quoted; then its address.
    assert (
        "4 of 4 nodes affected: 'Control Plane 1' (192.0.2.96), 'Control Plane 2' (192.0.2.97), "
        "Zoë (192.0.2.99), 'db,primary' (192.0.2.98)" in shown
    )
    assert "  'db,primary' (192.0.2.98)\r\n    replace (destroy, then create)" in shown
    child.sendline("")
    assert finish(child) == 4


def test_typed_shell_quoted_names_apply(spaced: Path, shim_bin: Path, env: dict[str, str]) -> None:
    child = spawn(shim_bin, ["apply"], spaced, env)
    child.expect("Type the names of the 4 affected node")
    child.sendline(f"'db,primary' \"Control Plane 2\" {ZOE_NFD}, 'Control Plane 1'")
    child.expect("Apply complete!")
    assert finish(child) == 0
    assert len(reset_log(spaced)) == 4


def test_typed_one_name_per_line_applies(spaced: Path, shim_bin: Path, env: dict[str, str]) -> None:
    """One name per line, as pasted from a list: the prompt reads on while the lines name
    nodes still missing, and applies when every name is there."""
    child = spawn(shim_bin, ["apply"], spaced, env)
    child.expect("Type the names of the 4 affected node")
    for name in NODES:
        child.sendline(name)
    child.expect("Apply complete!")
    assert finish(child) == 0
    assert len(reset_log(spaced)) == 4


def test_typing_a_subset_three_times_applies_nothing(
    spaced: Path, shim_bin: Path, env: dict[str, str]
) -> None:
    """Mutation: accept a subset of the names (confirm.matches as `<=`) -> the first answer
    applies and the resets run."""
    before = tfharness.state_bytes(spaced)
    child = spawn(shim_bin, ["apply"], spaced, env)
    for _ in range(3):
        child.expect("Type the names of the 4 affected node")
        child.sendline("'Control Plane 1' 'Control Plane 2' 'db,primary'")
        child.expect(f"Not confirmed: missing {ZOE}")
    assert finish(child) == 4
    assert tfharness.state_bytes(spaced) == before
    assert reset_log(spaced) == []
