"""blast/cause.py: why each replacement happens, traced on real plans from the real Terraform
(tests/fixtures/plans, made by scripts/make_plan_fixtures.py) and on variations of them."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from safeterraform import blast, render
from safeterraform.blast import cause
from safeterraform.policy import DEFAULT_NODE_ATTRIBUTES

FIXTURES = Path(__file__).parent / "fixtures" / "plans"


def fixture(name: str) -> tuple[dict[str, Any], dict[str, str]]:
    data = json.loads((FIXTURES / f"{name}.json").read_text())
    return data["plan"], data["snapshot"]


def causes(
    name: str, snapshot: dict[str, str] | None = None, shown: dict[str, Any] | None = None
) -> dict[str, blast.Cause]:
    plan_json, files = fixture(name)
    analysis = blast.analyze(
        shown or plan_json, files if snapshot is None else snapshot, DEFAULT_NODE_ATTRIBUTES
    )
    found = {}
    for change in analysis.changes:
        assert change.cause is not None
        found[change.address] = change.cause
    return found


def test_incident_chain_names_each_nodes_own_machine_config() -> None:
    """Mutation: ignoring the instance key in cause._resource (`target.index != key` never
    skips) names phoebe's machine config as powder's cause, and this fails."""
    found = causes("incident_chain")
    for node, ip in (("powder", "192.0.2.65"), ("poison", "192.0.2.66"), ("phoebe", "192.0.2.67")):
        explained = found[f'terraform_data.cp_reset_on_destroy["{node}"]']
        assert explained.kind == "chain"
        first, origin = explained.links
        assert first.kind == "attribute" and first.path == "triggers_replace"
        assert (first.old, first.new) == (f'"{ip}"', f'"vlan-{ip}"')
        assert origin.origin and origin.kind == "resource"
        assert origin.subject == f'terraform_data.machine_config_apply["{node}"]'
        assert (origin.path, origin.old, origin.new) == ("input.node", f'"{ip}"', f'"vlan-{ip}"')
        assert explained.summary == (
            f'input.node of terraform_data.machine_config_apply["{node}"] changed from '
            f'"{ip}" to "vlan-{ip}"'
        )


def test_incident_chain_groups_three_nodes_under_one_cause() -> None:
    plan_json, snapshot = fixture("incident_chain")
    text = render.to_text(blast.analyze(plan_json, snapshot, DEFAULT_NODE_ATTRIBUTES))
    assert (
        "3 nodes (phoebe, poison, powder), one cause: input.node of "
        "terraform_data.machine_config_apply changed" in text
    )
    # Under the group's headline, each node's own difference alone (issue 27).
    assert '    powder: "192.0.2.65" → "vlan-192.0.2.65"\n' in text
    # Why sits between the changes and the headline, so the prompt comes right after it.
    assert text.index("DESTRUCTIVE CHANGES") < text.index("WHY") < text.index("3 of 3 nodes")


def test_incident_names_the_variable_behind_the_upstream_change() -> None:
    found = causes("incident")
    explained = found['terraform_data.reset_on_destroy["powder"]']
    assert [link.kind for link in explained.links] == ["attribute", "resource", "variable"]
    assert explained.links[1].subject == 'terraform_data.node_config["powder"]'
    assert explained.links[2].text == 'var.talos_version changed from "v1.6.0" to "v1.7.0"'
    assert explained.links[0].new == cause.UNKNOWN  # output is known after apply


def test_chain_through_a_local_and_a_variable() -> None:
    """Mutation: cause.invert always answering _NO_HINT leaves the variable's earlier value
    unknown; the chain then stops at the attribute and this fails."""
    explained = causes("chain_local_variable")['terraform_data.upgrade["jade"]']
    assert [link.kind for link in explained.links] == ["attribute", "local", "variable"]
    local, variable = explained.links[1:]
    assert local.text == 'local.image = "ghcr.io/siderolabs/installer:${var.talos_version}"'
    assert variable.origin and variable.subject == "var.talos_version"
    assert (variable.old, variable.new) == ('"v1.6.0"', '"v1.7.0"')
    assert explained.summary == 'var.talos_version changed from "v1.6.0" to "v1.7.0"'


def test_origin_is_bold_on_a_terminal() -> None:
    plan_json, snapshot = fixture("chain_local_variable")
    analysis = blast.analyze(plan_json, snapshot, DEFAULT_NODE_ATTRIBUTES)
    buffer = io.StringIO()
    render.to_console(analysis, Console(file=buffer, force_terminal=True, color_system="standard"))
    lines = buffer.getvalue().splitlines()
    (line,) = [line for line in lines if "← " in line and "var.talos_version changed" in line]
    assert "\x1b[1m" in line.split("← ", 1)[1]
    (other,) = [line for line in lines if "← local.image" in line]
    assert "\x1b[1m" not in other.split("← ", 1)[1]


def test_chain_across_a_module_boundary() -> None:
    found = causes("chain_module")
    for module in ("phoebe", "poison"):
        explained = found[f"module.{module}.terraform_data.machine"]
        assert [link.kind for link in explained.links] == [
            "attribute",
            "module_input",
            "resource",
        ]
        assert explained.links[1].subject == f"module.{module}.var.subnet"
        origin = explained.links[2]
        assert origin.origin and origin.subject == "terraform_data.network"
        assert (origin.path, origin.old, origin.new) == (
            "input.cidr",
            '"192.0.2.0/26"',
            '"192.0.2.64/26"',
        )


@pytest.mark.parametrize(
    ("name", "kind", "words"),
    [
        ("replace_request", "requested", "requested with -replace"),
        ("taint", "tainted", "tainted"),
        ("replace_cannot_update", "configuration", "in its own configuration"),
        ("moved", "configuration", "in its own configuration"),
    ],
)
def test_requested_tainted_and_own_configuration_invent_no_chain(
    name: str, kind: str, words: str
) -> None:
    (explained,) = causes(name).values()
    assert explained.kind == kind and words in explained.summary
    assert len(explained.links) <= 1  # at most the forcing attribute itself
    assert all(link.kind == "attribute" for link in explained.links)


def test_replace_triggered_by_follows_the_trigger() -> None:
    (explained,) = causes("replace_triggers").values()
    assert [link.kind for link in explained.links] == ["triggered_by", "resource"]
    assert explained.links[1].subject == "terraform_data.ruby"
    assert (explained.links[1].old, explained.links[1].new) == ('"192.0.2.72"', '"192.0.2.99"')


def test_without_a_snapshot_the_plans_references_still_match_keys() -> None:
    """Plan JSON only (`check plan.json`): references lose their index there, so each node is
    matched to the upstream instance with its own key.

    Mutation: dropping the same-key preference in cause._resource names phoebe's machine
    config as powder's cause."""
    explained = causes("incident_chain", snapshot={})[
        'terraform_data.cp_reset_on_destroy["powder"]'
    ]
    assert explained.links[-1].subject == 'terraform_data.machine_config_apply["powder"]'


def onyx_with(config: str) -> blast.Cause:
    plan_json, _ = fixture("replace_cannot_update")
    snapshot = {"modules.json": '[{"Key": "", "Dir": "."}]', "m-/main.tf": config}
    (change,) = blast.analyze(plan_json, snapshot, ()).changes
    assert change.cause is not None
    return change.cause


def test_a_cycle_ends_in_origin_not_found() -> None:
    explained = onyx_with(
        'locals {\n  a = "${local.b}-x"\n  b = local.a\n}\n'
        'resource "terraform_data" "onyx" {\n  triggers_replace = local.a\n}\n'
    )
    assert explained.kind == "not_found"
    assert explained.summary.startswith("origin not found in the plan: the references form a cycle")


def test_a_chain_too_deep_ends_in_origin_not_found() -> None:
    chain = "\n".join(f"  l{n} = local.l{n + 1}" for n in range(30))
    explained = onyx_with(
        f'locals {{\n{chain}\n  l30 = "v2"\n}}\n'
        'resource "terraform_data" "onyx" {\n  triggers_replace = local.l0\n}\n'
    )
    assert explained.kind == "not_found"
    assert f"longer than {cause.MAX_DEPTH} links" in explained.summary


def test_sensitive_values_in_a_chain_are_masked() -> None:
    """Mutation: ignoring the variable's `sensitive` flag in cause._variable (or the
    attribute's before_sensitive) prints v1.6.0 / v1.7.0, and this fails."""
    plan_json, snapshot = fixture("chain_local_variable")
    secret = copy.deepcopy(plan_json)
    secret["configuration"]["root_module"]["variables"]["talos_version"]["sensitive"] = True
    for entry in secret["resource_changes"]:
        entry["change"]["before_sensitive"]["triggers_replace"] = True
        entry["change"]["after_sensitive"]["triggers_replace"] = True
    analysis = blast.analyze(secret, snapshot, DEFAULT_NODE_ATTRIBUTES)
    for output in (
        render.to_text(analysis),
        render.to_json(analysis),
        render.to_markdown(analysis),
    ):
        assert "v1.6.0" not in output and "v1.7.0" not in output
        assert "(sensitive value)" in output
    (variable,) = [
        link
        for change in analysis.changes
        if change.cause
        for link in change.cause.links
        if link.kind == "variable"
    ][:1]
    assert (variable.old, variable.new) == ("(sensitive value)", "(sensitive value)")


def test_an_unchanged_variable_is_not_a_cause() -> None:
    """A chain that reaches a variable whose value did not change ends at the attribute."""
    plan_json, snapshot = fixture("chain_local_variable")
    same = copy.deepcopy(plan_json)
    same["variables"]["talos_version"]["value"] = "v1.6.0"
    analysis = blast.analyze(same, snapshot, DEFAULT_NODE_ATTRIBUTES)
    explained = analysis.changes[0].cause
    assert explained is not None and explained.kind == "configuration"


@pytest.mark.parametrize(
    ("expression", "value", "reference", "expected"),
    [
        ("var.x", "v1", "var.x", "v1"),
        ('"talos-${var.x}"', "talos-v1", "var.x", "v1"),
        ('"talos-${var.x}-amd64"', "talos-v1-amd64", "var.x", "v1"),
        ("{ image = local.i, other = 1 }", {"image": "a", "other": 1}, "local.i", "a"),
        ('"talos-${var.x}"', "other-v1", "var.x", None),
        ('"${var.x}-${var.y}"', "a-b", "var.x", None),
        ("upper(var.x)", "V1", "var.x", None),
    ],
)
def test_invert_only_passes_values_through(
    expression: str, value: Any, reference: str, expected: Any
) -> None:
    found = cause.invert(expression, value, reference)
    assert (None if found is cause._NO_HINT else found) == expected
