"""Names people know (issue 27 item 1): a node is shown by its name and its address,
`powder (192.0.2.65)`, and either may be typed, each node once.

The pure rule (blast/nodes.py) on the layouts README "Node names" documents, the matching
(confirm.py), then the real Terraform in a real pseudo-terminal on the post-mortem's layout:
`for_each` over powder/poison/phoebe and a trigger object holding `node = <IP>`.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import pexpect
import pytest

from safeterraform.blast.nodes import (
    NodeName,
    choose_node_name,
    display_label,
    looks_like_address,
    usable_addresses,
)
from safeterraform.confirm import confirm_from_env, confirm_nodes, matches
from safeterraform.plan import ModuleStep
from safeterraform.policy import DEFAULT_NODE_ATTRIBUTES
from tests import tfharness
from tests.test_approve import spawn_approve
from tests.test_guard import finish, incident, incident_template, spawn

__all__ = ["incident", "incident_template"]

GOLDEN = Path(__file__).parent / "golden"
IP = {"powder": "192.0.2.65", "poison": "192.0.2.66", "phoebe": "192.0.2.67"}


def named(
    values: Any,
    index: str | int | None = None,
    modules: tuple[ModuleStep, ...] = (),
    sensitive: Any = None,
    attributes: tuple[str, ...] = DEFAULT_NODE_ATTRIBUTES,
) -> NodeName:
    return choose_node_name(
        values, index, "cp", modules, "terraform_data.cp", attributes, sensitive
    )


# -- the rule --------------------------------------------------------------------------------


def test_the_post_mortem_layout_reads_powder_poison_phoebe() -> None:
    """Mutation: let the first attribute found win even when it is an address (the rule
    before issue 27) -> the name is 192.0.2.65 and this fails."""
    values = {"triggers_replace": {"node": "192.0.2.65", "talos_version": "v1.6.0"}}
    assert named(values, "powder") == NodeName("powder", False, "192.0.2.65")
    # The same layout with the key `ip` (not a name attribute) names it the same way.
    assert named({"triggers_replace": {"ip": "192.0.2.65"}}, "powder") == NodeName(
        "powder", False, "192.0.2.65"
    )


@pytest.mark.parametrize(
    ("values", "index", "modules", "expected"),
    [
        # Talos: the machine config's hostname names it; its ip is the address.
        (
            {"input": {"hostname": "powder", "ip": "192.0.2.65"}},
            "cp1",
            (),
            ("powder", "192.0.2.65"),
        ),
        # talos_machine_configuration_apply: `node` is the address, the key the name.
        ({"node": "192.0.2.65", "endpoint": "192.0.2.65"}, "powder", (), ("powder", "192.0.2.65")),
        # AWS: tags.Name names an instance, private_ip is its address.
        (
            {"tags": {"Name": "web-a"}, "private_ip": "10.0.1.5", "public_ip": ""},
            "a",
            (),
            ("web-a", "10.0.1.5"),
        ),
        # AWS with count: no key to fall back to, tags.Name still names it.
        ({"tags": {"Name": "web-0"}, "private_ip": "10.0.1.5"}, 0, (), ("web-0", "10.0.1.5")),
        # A host name with dots is an address too: the key is the name.
        (
            {"tags": {"Name": "powder.cluster.example"}},
            "powder",
            (),
            ("powder", "powder.cluster.example"),
        ),
        # A module per node, keyed: module.cp["powder"].terraform_data.this.
        (
            {"input": {"node": "192.0.2.65"}},
            None,
            (ModuleStep("cp", "powder"),),
            ("powder", "192.0.2.65"),
        ),
        # A module per node, one call each: module.powder.terraform_data.this.
        (
            {"input": {"node": "192.0.2.65"}},
            None,
            (ModuleStep("powder", None),),
            ("powder", "192.0.2.65"),
        ),
        # count indexes are not names people use: the address stays the name.
        ({"input": {"node": "192.0.2.90"}}, 0, (), ("192.0.2.90", None)),
        ({"input": {"node": "192.0.2.90"}}, 0, (ModuleStep("cp", "powder"),), ("192.0.2.90", None)),
        # A key that is itself an address does not win over the attribute.
        ({"input": {"node": "192.0.2.65"}}, "192.0.2.99", (), ("192.0.2.65", None)),
        # Nothing names it: the key, and an address where one is found.
        ({"input": {"ip": "192.0.2.90"}}, 1, (), ("cp[1]", "192.0.2.90")),
        ({"input": {"ip": "not an address"}}, "edge", (), ("edge", None)),
        # A version is no host name.
        ({"input": {"name": "v1.7.0"}}, "edge", (), ("v1.7.0", None)),
    ],
)
def test_layouts(
    values: Any, index: Any, modules: tuple[ModuleStep, ...], expected: tuple[str, str | None]
) -> None:
    chosen = named(values, index, modules)
    assert (chosen.name, chosen.address) == expected


def test_a_sensitive_address_is_never_shown_or_accepted() -> None:
    """Mutation: skip the sensitivity check when looking for an address -> 10.9.9.9 shows."""
    values = {"input": {"hostname": "vault", "ip": "10.9.9.9"}}
    chosen = named(values, "primary", sensitive={"input": {"ip": True}})
    assert chosen == NodeName("vault", False, None)
    # A sensitive `node` value is passed over as a name (and said so), the key names it.
    chosen = named({"node": "10.9.9.9"}, "primary", sensitive={"node": True})
    assert chosen == NodeName("primary", True, None)


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("192.0.2.65", True),
        ("2001:db8::1", True),
        ("powder.cluster.example", True),
        ("ip-10-0-1-5.ec2.internal", True),
        ("powder", False),
        ("v1.7.0", False),
        ("1.2.3", False),
        ("Control Plane 1", False),
        ("db,primary", False),
        ("a@b.example", False),
    ],
)
def test_what_looks_like_an_address(text: str, address: bool) -> None:
    assert looks_like_address(text) is address


def test_an_address_that_could_mean_two_nodes_names_neither() -> None:
    """Mutation: keep shared addresses -> typing 10.0.0.1 would confirm one of two nodes."""
    found = {"a": ["10.0.0.1", "10.0.0.2"], "b": ["10.0.0.1"], "c": ["a"], "d": ["10.0.0.4"]}
    assert usable_addresses(found, ["a", "b", "c", "d"]) == {
        "a": ("10.0.0.2",),
        "d": ("10.0.0.4",),
    }
    assert display_label("powder", ("192.0.2.65",)) == "powder (192.0.2.65)"
    assert display_label("Control Plane 1", ()) == "'Control Plane 1'"


# -- typing names or addresses ---------------------------------------------------------------

THREE = ["phoebe", "poison", "powder"]
ADDRESSES = {name: [ip] for name, ip in IP.items()}


@pytest.mark.parametrize(
    ("typed", "confirmed"),
    [
        (["powder", "poison", "phoebe"], True),
        (["192.0.2.65", "192.0.2.66", "192.0.2.67"], True),
        (["powder", "192.0.2.66", "phoebe"], True),  # a mix, each node once
        (["powder", "192.0.2.65", "poison", "phoebe"], False),  # powder named twice
        (["powder", "192.0.2.65", "poison"], False),  # ... and phoebe missing
        (["powder", "powder", "poison", "phoebe"], False),  # the same word twice
        (["powder", "poison"], False),
        (["powder", "poison", "phoebe", "192.0.2.68"], False),  # an extra
        (["192.0.2.65", "192.0.2.66"], False),
    ],
)
def test_each_node_is_named_exactly_once(typed: list[str], confirmed: bool) -> None:
    """Mutations: compare sets of nodes (ignoring a node named twice) -> the twice rows are
    confirmed; ignore the addresses -> the address rows are refused."""
    assert matches(typed, THREE, ADDRESSES) is confirmed


def test_the_refusal_says_which_node_was_named_twice() -> None:
    said: list[str] = []
    answers = iter(["powder 192.0.2.65 poison phoebe", ""])
    outcome = confirm_nodes(THREE, lambda _: next(answers), said.append, aliases=ADDRESSES)
    assert not outcome.confirmed
    assert said == ["Not confirmed: named more than once: powder. 2 attempt(s) left."]


def test_the_runbook_variable_accepts_addresses() -> None:
    """Mutation: drop `aliases` in confirm_from_env -> the address row is refused."""
    by_address = {"SAFETERRAFORM_CONFIRM_NODES": "192.0.2.65 192.0.2.66 192.0.2.67"}
    outcome = confirm_from_env(THREE, by_address, ADDRESSES)
    assert outcome is not None and outcome.confirmed
    twice = {"SAFETERRAFORM_CONFIRM_NODES": "powder 192.0.2.65 poison phoebe"}
    refused = confirm_from_env(THREE, twice, ADDRESSES)
    assert refused is not None and not refused.confirmed
    assert "named more than once: powder" in refused.reason


# -- the real Terraform, in a real terminal ----------------------------------------------------


def post_mortem_config(talos_version: str) -> str:
    """The post-mortem's layout: for_each over the control planes' hostnames, a trigger
    object holding `node = <IP>`, reset on destroy."""
    planes = ", ".join(f'{name} = "{ip}"' for name, ip in IP.items())
    return f"""
resource "terraform_data" "machine_config_apply" {{
  for_each         = {{ {planes} }}
  triggers_replace = {{ node = each.value, talos_version = "{talos_version}" }}

  provisioner "local-exec" {{
    when    = destroy
    command = "echo talosctl reset --nodes ${{self.triggers_replace.node}} >> reset.log"
  }}
}}
"""


@pytest.fixture(scope="module")
def post_mortem_template(tmp_path_factory: pytest.TempPathFactory, terraform_bin: Path) -> Path:
    home = tmp_path_factory.mktemp("post-mortem-home")
    directory = tmp_path_factory.mktemp("post-mortem")
    env = tfharness.clean_env(home)
    tfharness.applied_in_prod(
        terraform_bin, directory, env, post_mortem_config("v1.6.0"), post_mortem_config("v1.7.0")
    )
    return directory


@pytest.fixture()
def post_mortem(post_mortem_template: Path, workdir: Path) -> Path:
    shutil.copytree(post_mortem_template, workdir, dirs_exist_ok=True, symlinks=True)
    return workdir


def resets(directory: Path) -> list[str]:
    path = directory / "reset.log"
    return sorted(path.read_text().split()[3::4]) if path.exists() else []


@pytest.mark.parametrize(
    "answer",
    ["powder poison phoebe", "192.0.2.67, 192.0.2.65 192.0.2.66", "phoebe 192.0.2.66 powder"],
    ids=["hostnames", "addresses", "mixed"],
)
def test_typed_hostnames_or_addresses_apply(
    answer: str, post_mortem: Path, shim_bin: Path, env: dict[str, str]
) -> None:
    """The prompt lists `powder (192.0.2.65)`; hostnames, addresses or a mix, each node
    once, apply. Mutation: confirm without `aliases` (flows/apply.py) -> the addresses
    are "not affected" and nothing is applied."""
    child = spawn(shim_bin, ["apply"], post_mortem, env)
    child.expect("Type the names of the 3 affected node")
    assert (
        "3 of 3 nodes affected: phoebe (192.0.2.67), poison (192.0.2.66), powder (192.0.2.65)"
        in child.before
    )
    child.sendline(answer)
    child.expect("Apply complete!")
    assert finish(child) == 0
    assert resets(post_mortem) == sorted(IP.values())


def test_naming_one_node_twice_applies_nothing(
    post_mortem: Path, shim_bin: Path, env: dict[str, str]
) -> None:
    """Mutation: compare the set of nodes named (a node named by its name and its address
    counts once) -> the first answer applies and the resets run."""
    before = tfharness.state_bytes(post_mortem)
    child = spawn(shim_bin, ["apply"], post_mortem, env)
    for _ in range(3):
        child.expect("Type the names of the 3 affected node")
        child.sendline("powder 192.0.2.65 poison phoebe")
        child.expect("Not confirmed: named more than once: powder")
    assert finish(child) == 4
    assert tfharness.state_bytes(post_mortem) == before
    assert resets(post_mortem) == []


def test_a_runbook_may_state_addresses(
    post_mortem: Path, shim_bin: Path, env: dict[str, str]
) -> None:
    """Without a terminal, SAFETERRAFORM_CONFIRM_NODES may name nodes by address; a node
    named twice is refused (exit 3) and the state is untouched."""
    twice = {**env, "SAFETERRAFORM_CONFIRM_NODES": "powder 192.0.2.65 poison phoebe"}
    before = tfharness.state_bytes(post_mortem)
    refused = tfharness.run(shim_bin, ["apply", "-input=false"], post_mortem, twice)
    assert refused.returncode == 3, refused.stderr
    assert tfharness.state_bytes(post_mortem) == before
    by_address = {**env, "SAFETERRAFORM_CONFIRM_NODES": "192.0.2.65 192.0.2.66 192.0.2.67"}
    applied = tfharness.run(shim_bin, ["apply", "-input=false"], post_mortem, by_address)
    assert applied.returncode == 0, applied.stderr
    assert resets(post_mortem) == sorted(IP.values())


# -- golden: the incident prompt at 80 columns, NO_COLOR ----------------------------------------

PROMPT_GOLDEN = GOLDEN / "incident_prompt_80.txt"
_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def test_the_incident_prompt_names_nodes_with_their_addresses(
    incident: Path, shim_bin: Path, env: dict[str, str]
) -> None:
    """What the operator sees in an 80-column terminal without colour, from the shim's
    own rendering to the question (terraform's plan above it is terraform's own)."""
    child = pexpect.spawn(
        str(shim_bin),
        ["apply"],
        cwd=str(incident),
        env={**env, "TERM": "dumb", "NO_COLOR": "1"},
        encoding="utf-8",
        timeout=120,
        dimensions=(50, 80),
    )
    child.expect(r"\(attempt 1 of 3\):")
    shown = _ESCAPES.sub("", child.before + child.after).replace("\r\n", "\n")
    text = shown[shown.index("DESTROY-TIME PROVISIONERS") :]
    text = "\n".join(line.rstrip() for line in text.splitlines()) + "\n"
    child.sendline("")
    assert finish(child) == 4
    if os.environ.get("SAFETERRAFORM_UPDATE_GOLDEN") == "1":
        PROMPT_GOLDEN.write_text(text)
    assert text == PROMPT_GOLDEN.read_text(), (
        f"{PROMPT_GOLDEN} differs; if intended, rerun with SAFETERRAFORM_UPDATE_GOLDEN=1 and review"
    )
    assert "3 of 3 nodes affected: phoebe (192.0.2.67), poison (192.0.2.66), powder" in text


def test_approve_accepts_addresses(
    post_mortem: Path, terraform_bin: Path, shim_bin: Path, env: dict[str, str]
) -> None:
    """`safeterraform approve` takes addresses as the prompt does; the approval (bound to
    the node names) then lets a non-interactive apply of that plan through. Mutation:
    confirm without `aliases` in flows/approve.py -> "not affected" and no approval."""
    planned = tfharness.run(
        terraform_bin, ["plan", "-input=false", "-out=tfplan"], post_mortem, env
    )
    assert planned.returncode == 0, planned.stderr
    child = spawn_approve("tfplan", post_mortem, env)
    child.expect("Type the names of the 3 affected node")
    child.sendline("192.0.2.65 192.0.2.66 192.0.2.67")
    child.expect("Approved until")
    assert finish(child) == 0
    applied = tfharness.run(shim_bin, ["apply", "-input=false", "tfplan"], post_mortem, env)
    assert applied.returncode == 0, applied.stderr
    assert resets(post_mortem) == sorted(IP.values())
