"""blast.py: affected nodes and destroy-time provisioners, checked against what the real
Terraform actually runs when the plan is applied."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from safeterraform import blast, plan
from safeterraform.blast import hcl
from safeterraform.policy import DEFAULT_NODE_ATTRIBUTES
from tests import plan_scenarios, tfharness

FIXTURES = Path(__file__).parent / "fixtures" / "plans"
ATTRIBUTES = ("hostname", "input.hostname")


def fixture(name: str) -> tuple[dict[str, Any], dict[str, str]]:
    data = json.loads((FIXTURES / f"{name}.json").read_text())
    return data["plan"], data["snapshot"]


def analyze(name: str, attributes: tuple[str, ...] = ATTRIBUTES) -> blast.Analysis:
    shown, snapshot = fixture(name)
    return blast.analyze(shown, snapshot, attributes)


def commands(analysis: blast.Analysis) -> dict[str, str]:
    return {item.address: item.command for item in analysis.destroy_provisioners}


def test_incident_with_default_node_attributes() -> None:
    analysis = analyze("incident", DEFAULT_NODE_ATTRIBUTES)
    assert analysis.destructive
    assert analysis.affected_nodes == ("phoebe", "poison", "powder")
    assert analysis.nodes_known == 3
    assert commands(analysis) == {
        f'terraform_data.reset_on_destroy["{name}"]': (
            f"echo talosctl reset --nodes {ip} >> reset.log"
        )
        for name, ip in tfharness.INCIDENT_NODES.items()
    }
    assert [item.node for item in analysis.destroy_provisioners] == ["phoebe", "poison", "powder"]
    assert all(not item.unresolved for item in analysis.destroy_provisioners)
    assert {change.action for change in analysis.changes} == {"replace"}
    assert {change.replace_paths for change in analysis.changes} == {("triggers_replace",)}
    assert (analysis.creates, analysis.updates) == (0, 3)
    assert analysis.count("replace") == 3 and analysis.count("destroy") == 0


def test_nodes_known_counts_all_instances_of_the_hit_resources() -> None:
    shown, snapshot = fixture("incident")
    narrowed = copy.deepcopy(shown)
    for entry in narrowed["resource_changes"]:
        if entry["address"] != 'terraform_data.reset_on_destroy["powder"]':
            entry["change"]["actions"] = ["no-op"]
    analysis = blast.analyze(narrowed, snapshot, DEFAULT_NODE_ATTRIBUTES)
    assert analysis.affected_nodes == ("powder",)
    assert analysis.nodes_known == 3


def test_dotted_node_attribute_and_module_instances() -> None:
    analysis = analyze("module")
    assert analysis.affected_nodes == ("cp-0", "cp-2")
    assert analysis.nodes_known == 3
    assert commands(analysis) == {
        "module.node[0].terraform_data.machine": "echo talosctl reset --nodes 192.0.2.100",
        "module.node[2].terraform_data.machine": "echo talosctl reset --nodes 192.0.2.102",
    }
    # The default attributes find input.hostname one level down (docs/design.md#node-names).
    assert analyze("module", DEFAULT_NODE_ATTRIBUTES).affected_nodes == ("cp-0", "cp-2")
    # Without any attribute, the module instance key names the node.
    assert analyze("module", ()).affected_nodes == ("node[0]", "node[2]")


def test_count_and_for_each() -> None:
    analysis = analyze("count_for_each")
    assert analysis.affected_nodes == ("south", "worker[1]", "worker[2]")
    assert analysis.nodes_known == 5
    assert commands(analysis) == {
        "terraform_data.worker[1]": "echo drain worker 1 at 192.0.2.91",
        "terraform_data.worker[2]": "echo drain worker 2 at 192.0.2.92",
    }


def test_delete_without_provisioner() -> None:
    analysis = analyze("destroy")
    assert [(c.address, c.action) for c in analysis.changes] == [("terraform_data.jade", "destroy")]
    assert analysis.destroy_provisioners == ()


def test_forget_runs_nothing() -> None:
    analysis = analyze("forget")
    assert [(c.node, c.action) for c in analysis.changes] == [("agate", "forget")]
    assert analysis.destroy_provisioners == ()
    assert analysis.count("forget") == 1


def test_moved_and_replaced() -> None:
    analysis = analyze("moved")
    (change,) = analysis.changes
    assert change.action == "moved-and-replaced"
    assert change.previous_address == "terraform_data.old"
    assert commands(analysis) == {"terraform_data.new": "echo talosctl reset --nodes 192.0.2.79"}


def test_removed_block_provisioner_leaves_functions_visible() -> None:
    analysis = analyze("removed_provisioner")
    (item,) = analysis.destroy_provisioners
    assert item.removed_block
    assert item.command == "echo wipe 192.0.2.78 ${upper(self.input.hostname)}"
    assert item.unresolved == ("${upper(self.input.hostname)}",)


def test_removed_blocks_run_from_the_root_module_only() -> None:
    analysis = analyze("module_removed")
    assert commands(analysis) == {
        "module.rack.terraform_data.spare": "echo power off spare at 192.0.2.86",
    }
    assert [item.source for item in analysis.destroy_provisioners] == ["main.tf"]
    (warning,) = analysis.warnings
    assert "module.rack.terraform_data.blade in rack/main.tf" in warning
    assert "does not run" in warning


def test_heredoc_commands_are_dedented() -> None:
    config = """
resource "terraform_data" "onyx" {
  provisioner "local-exec" {
    when    = destroy
    command = <<-EOT
      echo evacuate ${self.input.hostname}
        talosctl reset --nodes ${self.input.ip}
    EOT
  }
}
"""
    (item,) = onyx_with(config).destroy_provisioners
    assert item.command == "echo evacuate onyx\n  talosctl reset --nodes 192.0.2.71"


@pytest.mark.parametrize(
    ("name", "why"),
    [("taint", "tainted"), ("create_before_destroy", "create_before_destroy")],
)
def test_provisioners_terraform_skips_are_not_listed(name: str, why: str) -> None:
    analysis = analyze(name)
    assert analysis.destroy_provisioners == ()
    (change,) = analysis.changes
    assert change.provisioners_skipped is not None and why in change.provisioners_skipped


def test_deposed_object_runs_no_provisioner() -> None:
    # terraform_data cannot fail a delete, so a real deposed object cannot be made offline:
    # this turns the real replacement into the plan Terraform writes for a deposed object.
    shown, snapshot = fixture("replace_cannot_update")
    deposed = copy.deepcopy(shown)
    (entry,) = deposed["resource_changes"]
    entry.update(deposed="2aa6df7d", action_reason=None)
    entry["change"]["actions"] = ["delete"]
    analysis = blast.analyze(deposed, snapshot, ATTRIBUTES)
    (change,) = analysis.changes
    assert change.deposed == "2aa6df7d" and change.action == "destroy"
    assert change.provisioners_skipped == "the object is deposed"
    assert analysis.destroy_provisioners == ()
    assert analyze("replace_cannot_update").destroy_provisioners != ()


@pytest.mark.parametrize("name", ["create", "update", "no_change", "import"])
def test_nothing_destructive(name: str) -> None:
    analysis = analyze(name)
    assert not analysis.destructive
    assert analysis.affected_nodes == () and analysis.destroy_provisioners == ()


def test_creates_updates_imports_counted() -> None:
    assert (analyze("create").creates, analyze("update").updates) == (2, 1)
    assert analyze("import").imports == 1


def test_plan_json_without_snapshot_warns() -> None:
    shown, _ = fixture("incident")
    analysis = blast.analyze(shown, {}, ATTRIBUTES)
    assert analysis.destroy_provisioners == ()
    assert any("no configuration snapshot" in warning for warning in analysis.warnings)


def onyx_with(config: str, name: str = "m-/main.tf") -> blast.Analysis:
    shown, _ = fixture("replace_cannot_update")
    return blast.analyze(shown, {"modules.json": '[{"Key": "", "Dir": "."}]', name: config}, ())


def test_scanner_is_not_fooled_by_braces_in_strings_comments_and_heredocs() -> None:
    config = """
# resource "terraform_data" "onyx" { not this one }
/* } } { */
locals {
  text = "a } brace ${ "in" } a string {"
  doc  = <<-EOT
    } closing braces in a heredoc {
  EOT
}

resource "terraform_data" "onyx" {
  input = { hostname = "onyx", ip = "${"}"}" }
  // a { comment
  provisioner "local-exec" {
    when    = destroy
    command = "echo \\"${self.input.ip}\\" $${literal} %%{x} ${each.key} ${count.index}"
  }
  provisioner "local-exec" {
    command = "echo at create time"
  }
}
"""
    (item,) = onyx_with(config).destroy_provisioners
    assert item.command == 'echo "192.0.2.71" ${literal} %{x} ${each.key} ${count.index}'
    assert item.unresolved == ("${each.key}", "${count.index}")


def test_json_configuration_syntax() -> None:
    config = json.dumps(
        {
            "resource": {
                "terraform_data": {
                    "onyx": {
                        "input": {"hostname": "onyx"},
                        "provisioner": [
                            {"local-exec": {"when": "destroy", "command": "off ${self.input.ip}"}}
                        ],
                    }
                }
            }
        }
    )
    (item,) = onyx_with(config, "m-/main.tf.json").destroy_provisioners
    assert item.command == "off 192.0.2.71"


def test_remote_exec_and_bare_references() -> None:
    config = """
resource "terraform_data" "onyx" {
  provisioner "remote-exec" {
    when   = destroy
    inline = ["leave ${self.input["hostname"]}", "shutdown"]
  }
  provisioner "local-exec" {
    when    = destroy
    command = self.input.ip
  }
}
"""
    items = onyx_with(config).destroy_provisioners
    assert [(item.type, item.command) for item in items] == [
        ("remote-exec", "leave onyx\nshutdown"),
        ("local-exec", "192.0.2.71"),
    ]


def test_unparsable_provisioner_is_a_warning_not_a_silence() -> None:
    config = """
resource "terraform_data" "onyx" {
  provisioner "local-exec" {
    when    = destroy
    command = "unterminated ${
  }
}
"""
    analysis = onyx_with(config)
    assert analysis.destroy_provisioners == ()
    assert any("cannot parse a provisioner" in warning for warning in analysis.warnings)


def test_sensitive_values_are_not_printed() -> None:
    shown, snapshot = fixture("replace_cannot_update")
    secret = copy.deepcopy(shown)
    secret["resource_changes"][0]["change"]["before_sensitive"] = {"input": {"ip": True}}
    (item,) = blast.analyze(secret, snapshot, ATTRIBUTES).destroy_provisioners
    assert item.command == f"echo talosctl reset --nodes {blast.SENSITIVE}"
    assert "192.0.2.71" not in item.command


def test_node_name_rules() -> None:
    steps = (plan.ModuleStep("node", "eu-1"),)
    values = {"name": "", "tags": {"Name": "pearl"}, "node": 7, "flag": True}
    assert blast.node_name(values, 0, "vm", (), "a", ("hostname", "tags.Name")) == "pearl"
    assert blast.node_name(values, 0, "vm", (), "a", ("name", "node")) == "7"
    assert blast.node_name(values, 0, "vm", (), "a", ("flag",)) == "vm[0]"
    assert blast.node_name(values, "k", "vm", (), "a", ()) == "k"
    assert blast.node_name(values, None, "vm", steps, "a", ()) == "eu-1"
    assert blast.node_name(None, None, "vm", (), "terraform_data.vm", ()) == "terraform_data.vm"
    assert blast.attribute({"disks": [{"id": "d0"}]}, "disks.0.id") == "d0"


EXECUTING = re.compile(r'^(.+?) \(local-exec\): Executing: \["/bin/sh" "-c" (".*")\]$', re.M)


@pytest.mark.parametrize(
    "name",
    [
        "incident",
        "module",
        "module_removed",
        "count_for_each",
        "removed_provisioner",
        "moved",
        "taint",
        "create_before_destroy",
        "forget",
    ],
)
def test_listed_provisioners_are_exactly_what_terraform_runs(
    name: str, terraform_bin: Path, workdir: Path, env: dict[str, str]
) -> None:
    plan_file = plan_scenarios.make_plan(
        terraform_bin, workdir, env, plan_scenarios.SCENARIOS[name]
    )
    shown = json.loads(
        plan_scenarios.run(terraform_bin, ["show", "-json", "plan.tfplan"], workdir, env)
    )
    analysis = blast.analyze(shown, plan.read_snapshot(plan_file), ATTRIBUTES)
    output = plan_scenarios.run(terraform_bin, ["apply", "-no-color", "plan.tfplan"], workdir, env)
    ran = sorted(
        (address, json.loads(command).strip()) for address, command in EXECUTING.findall(output)
    )
    listed = sorted((item.address, item) for item in analysis.destroy_provisioners)
    assert [address for address, _ in listed] == [address for address, _ in ran]
    for (_, item), (_, command) in zip(listed, ran, strict=True):
        # What stayed unresolved (a function call) may be anything; the rest is verbatim.
        pattern = re.escape(item.command)
        for reference in item.unresolved:
            pattern = pattern.replace(re.escape(reference), ".*")
        assert re.fullmatch(pattern, command), (item.command, command)
    assert sum(len(item.unresolved) for _, item in listed) <= 1


PROVISIONER_SHAPES = [
    'provisioner "local-exec" {\n  when    = destroy\n  command = "echo ${self.id}"\n}',
    'provisioner "local-exec" {\n  when = destroy # why\n  // note\n  command = "a \\"b\\" c"\n}',
    'provisioner "local-exec" {\n  when = destroy\n'
    "  command = <<-EOT\n    echo ${self.id}\n  EOT\n}",
    'provisioner "local-exec" {\n  when = destroy\n  command = "x ${join(",", ["a"])}"\n}',
    'provisioner "local-exec" {\n  when = destroy\n  on_failure = continue\n  command = "y"\n}',
]
NEEDS_THE_PARSER = [
    'provisioner "local-exec" {\n  when = destroy\n  command = join(" ", ["a", "b"])\n}',
    'provisioner "local-exec" {\n  when = destroy\n  environment = { A = "1" }\n  command = "z"\n}',
    'provisioner "remote-exec" {\n  when = destroy\n  inline = ["a"]\n  connection {\n  }\n}',
    'provisioner "local-exec" {\n  when = destroy\n  command = "a" + "b"\n}',
]


def _settings_both_ways(text: str) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    (block,) = hcl.blocks(text)
    fast = hcl.simple_settings(block.text, block.body_start, block.body_end)
    ((_, parsed),) = hcl.parse_hcl(text)["provisioner"][0].items()
    return fast, {k: v for k, v in parsed.items() if not k.startswith("__")}


@pytest.mark.parametrize("text", PROVISIONER_SHAPES)
def test_fast_provisioner_reading_agrees_with_hcl2(text: str) -> None:
    fast, parsed = _settings_both_ways(text)
    assert fast == parsed


@pytest.mark.parametrize("text", NEEDS_THE_PARSER)
def test_fast_provisioner_reading_defers_to_hcl2(text: str) -> None:
    fast, _ = _settings_both_ways(text)
    assert fast is None


def test_fast_reading_agrees_with_hcl2_on_every_fixture() -> None:
    seen = 0
    for path in sorted(FIXTURES.glob("*.json")):
        snapshot = json.loads(path.read_text())["snapshot"]
        for name, text in snapshot.items():
            if not name.endswith(".tf"):
                continue
            for block in hcl.blocks(text):
                for inner in hcl.blocks(block.text, block.body_start, block.body_end):
                    if inner.type != "provisioner":
                        continue
                    fast, parsed = _settings_both_ways(inner.text)
                    assert fast in (None, parsed), (path.name, inner.text)
                    seen += fast is not None
    assert seen >= 5
