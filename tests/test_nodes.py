"""blast/nodes.py: what a node is called (docs/design.md#node-names) and how names are shown."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest

from safeterraform import blast
from safeterraform.blast.nodes import (
    choose_node_name,
    display_name,
    state_sensitivity_mask,
    state_values,
)
from safeterraform.plan import ModuleStep
from safeterraform.policy import DEFAULT_NODE_ATTRIBUTES
from tests import plan_scenarios

FIXTURES = Path(__file__).parent / "fixtures" / "plans"


def name(values: Any, index: Any = None, modules: tuple[ModuleStep, ...] = (), **kw: Any) -> str:
    attributes = kw.pop("attributes", DEFAULT_NODE_ATTRIBUTES)
    return blast.node_name(values, index, "vm", modules, "terraform_data.vm", attributes, **kw)


def test_one_level_down_in_object_attributes() -> None:
    """Issue 17 item 2: `input = { hostname = "alpha" }` keyed n1 is alpha, not n1."""
    assert name({"input": {"hostname": "alpha"}}, "n1") == "alpha"
    assert name({"triggers_replace": {"node": "beta"}}, "n1") == "beta"
    assert name({"labels": {"name": "gamma"}}, 0) == "gamma"
    assert name({"anything": {"hostname": "delta"}}, "n1") == "delta"
    assert name({"input": {"nested": {"hostname": "too-deep"}}}, "n1") == "n1"


def test_attribute_order_wins_over_where_it_is_found() -> None:
    values = {"name": "top-level-name", "input": {"hostname": "alpha"}}
    assert name(values, "n1") == "alpha"  # hostname comes before name in the list
    assert name({"hostname": "top", "input": {"hostname": "nested"}}) == "top"
    # The named object attributes are looked into before any other.
    assert name({"aaa": {"hostname": "other"}, "tags": {"hostname": "tagged"}}) == "tagged"


def test_plain_module_calls_name_their_resources() -> None:
    """Issue 19: a resource inside `module "phoebe"` (no count/for_each) is phoebe."""
    assert name({}, None, (ModuleStep("phoebe", None),)) == "phoebe"
    assert name({}, None, (ModuleStep("rack", None), ModuleStep("blade", None))) == "blade"
    assert name({}, None, (ModuleStep("node", 2), ModuleStep("disk", None))) == "node[2]"
    assert name({}, None, (ModuleStep("node", "eu"), ModuleStep("disk", None))) == "eu"
    assert name({}, None, ()) == "terraform_data.vm"


def test_a_sensitive_value_is_never_a_name() -> None:
    """Mutation: never taking the `hidden` branch in choose_node_name returns "s3cret"."""
    values = {"input": {"hostname": "s3cret", "ip": "192.0.2.9"}}
    mask = {"input": {"hostname": True}}
    chosen = choose_node_name(values, "n1", "vm", (), "a", DEFAULT_NODE_ATTRIBUTES, mask)
    assert chosen.name == "n1" and chosen.sensitive_hidden
    assert name(values, "n1", sensitive={"input": True}) == "n1"  # the whole object
    # The same value copied elsewhere without a mark is just as secret.
    copied = {**values, "output": {"hostname": "s3cret"}}
    assert name(copied, "n1", sensitive=mask) == "n1"
    assert not choose_node_name(
        values, "n1", "vm", (), "a", DEFAULT_NODE_ATTRIBUTES
    ).sensitive_hidden


def test_sensitive_name_scenario_from_the_real_plan() -> None:
    """Issue 15 item 2 on a real plan: terraform_data.input.hostname from a sensitive variable
    (the plan marks input.hostname but not the same value in output)."""
    data = json.loads((FIXTURES / "sensitive_name.json").read_text())
    analysis = blast.analyze(data["plan"], data["snapshot"], DEFAULT_NODE_ATTRIBUTES)
    assert analysis.affected_nodes == ("primary",)
    assert analysis.names_hidden
    rendered = blast_outputs(analysis)
    assert "vault-7f3a" not in rendered
    assert "a sensitive value was not used as its name" in rendered


def blast_outputs(analysis: blast.Analysis) -> str:
    from safeterraform import render

    return render.to_text(analysis) + render.to_json(analysis) + render.to_markdown(analysis)


def test_state_sensitivity_mask_from_a_real_v4_state(
    terraform_bin: Path, workdir: Path, env: dict[str, str]
) -> None:
    """The mask helper reads `terraform state pull` as the state commands see it."""
    steps = plan_scenarios.SCENARIOS["sensitive_name"][:2]  # write, apply
    plan_scenarios.make_plan(terraform_bin, workdir, env, steps)
    state = json.loads(plan_scenarios.run(terraform_bin, ["state", "pull"], workdir, env))
    (resource,) = state["resources"]
    (instance,) = resource["instances"]
    mask = state_sensitivity_mask(instance["sensitive_attributes"])
    assert mask["input"]["hostname"] is True
    attributes = state_values(instance["attributes"])
    assert attributes["input"]["hostname"] == "vault-7f3a.internal"  # unwrapped
    chosen = choose_node_name(
        attributes, instance["index_key"], "vault", (), "a", DEFAULT_NODE_ATTRIBUTES, mask
    )
    assert (chosen.name, chosen.sensitive_hidden) == ("primary", True)


def test_state_sensitivity_mask_shapes() -> None:
    paths = [
        [{"type": "get_attr", "value": "password"}],
        [
            {"type": "get_attr", "value": "tags"},
            {"type": "index", "value": {"value": "Name", "type": "string"}},
        ],
        [{"type": "get_attr", "value": "disks"}, {"type": "index", "value": {"value": 0}}],
    ]
    mask = state_sensitivity_mask(paths)
    assert mask == {"password": True, "tags": {"Name": True}, "disks": {"0": True}}
    assert state_sensitivity_mask(None) == {}
    values = {"tags": {"Name": "db-1"}, "disks": [{"name": "d0"}]}
    assert name(values, None, attributes=("tags.Name",), sensitive=mask) == "terraform_data.vm"
    assert name(values, None, attributes=("disks.0.name",), sensitive=mask) == "terraform_data.vm"


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("powder", "powder"),
        ("Control Plane 1", "'Control Plane 1'"),
        ("db,primary", "'db,primary'"),
        ("it's", "'it'\"'\"'s'"),
        ('say "hi"', "'say \"hi\"'"),
        ("", "''"),
        ("ünïcode-名", "ünïcode-名"),
    ],
)
def test_display_name_quotes_what_cannot_be_typed_bare(raw: str, shown: str) -> None:
    assert display_name(raw) == shown
    assert shlex.split(display_name(raw)) == [raw] or raw == ""


def test_names_are_listed_quoted_in_text_and_markdown_but_raw_in_json() -> None:
    data = json.loads((FIXTURES / "spaced_names.json").read_text())
    analysis = blast.analyze(data["plan"], data["snapshot"], DEFAULT_NODE_ATTRIBUTES)
    assert analysis.affected_nodes == ("Control Plane 1", "db,primary")
    from safeterraform import render

    assert (
        "2 of 2 nodes affected: 'Control Plane 1' (192.0.2.96), 'db,primary' (192.0.2.97)"
        in render.to_text(analysis)
    )
    assert "'Control Plane 1'" in render.to_markdown(analysis)
    document = json.loads(render.to_json(analysis))
    assert document["affected_nodes"] == ["Control Plane 1", "db,primary"]
