"""plan.py: the model of `terraform show -json` and the snapshot, over real plans."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from safeterraform import plan
from safeterraform.errors import PlanError
from tests import plan_scenarios

FIXTURES = Path(__file__).parent / "fixtures" / "plans"


def fixture(name: str) -> tuple[dict[str, Any], dict[str, str]]:
    data = json.loads((FIXTURES / f"{name}.json").read_text())
    return data["plan"], data["snapshot"]


def changes(name: str) -> dict[str, plan.ResourceChange]:
    return {change.address: change for change in plan.parse(fixture(name)[0]).resource_changes}


@pytest.fixture(scope="module")
def incident_plan(terraform_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests import tfharness

    workdir = tmp_path_factory.mktemp("incident")
    env = tfharness.clean_env(tmp_path_factory.mktemp("home"))
    return plan_scenarios.make_plan(
        terraform_bin, workdir, env, plan_scenarios.SCENARIOS["incident"]
    )


def test_replacement_with_reason_paths_and_unknowns() -> None:
    change = changes("incident")['terraform_data.reset_on_destroy["powder"]']
    assert change.actions == ("delete", "create")
    assert change.index == "powder"
    assert change.replace_paths == (("triggers_replace",),)
    assert change.action_reason == "replace_because_cannot_update"
    assert change.reason_words == "a changed argument cannot be updated in place"
    assert change.destructive and change.replaces and not change.create_before_destroy
    assert change.before["input"]["ip"] == "192.0.2.65"
    assert "id" in change.unknown_after() and "output" in change.unknown_after()


def test_update_is_not_destructive() -> None:
    change = changes("incident")['terraform_data.node_config["powder"]']
    assert change.actions == ("update",)
    assert not change.destructive and change.reason_words is None


def test_create_before_destroy_order() -> None:
    change = changes("create_before_destroy")["terraform_data.beryl"]
    assert change.actions == ("create", "delete")
    assert change.create_before_destroy and change.replaces


def test_forget_has_words_even_with_a_delete_reason() -> None:
    change = changes("forget")["terraform_data.agate"]
    assert change.actions == ("forget",)
    assert change.forgets and change.destructive and not change.deletes
    assert change.reason_words is not None
    assert "destroy = false" in change.reason_words


def test_moved_keeps_previous_address() -> None:
    change = changes("moved")["terraform_data.new"]
    assert change.previous_address == "terraform_data.old"
    assert change.replaces
    pure_move = changes("moved")["terraform_data.renamed"]
    assert pure_move.previous_address == "terraform_data.stays"
    assert not pure_move.destructive


@pytest.mark.parametrize(
    ("name", "address", "reason"),
    [
        ("replace_triggers", "terraform_data.topaz", "replace_by_triggers"),
        ("replace_request", "terraform_data.amber", "replace_by_request"),
        ("taint", "terraform_data.coral", "replace_because_tainted"),
        ("destroy", "terraform_data.jade", "delete_because_no_resource_config"),
        ("count_for_each", "terraform_data.worker[2]", "delete_because_count_index"),
        ("count_for_each", 'terraform_data.edge["south"]', "delete_because_each_key"),
        ("module", "module.node[2].terraform_data.machine", "delete_because_no_module"),
    ],
)
def test_every_reason_from_real_plans_has_words(name: str, address: str, reason: str) -> None:
    change = changes(name)[address]
    assert change.action_reason == reason
    assert change.reason_words == plan.ACTION_REASONS[reason]


def test_count_index_is_an_int_and_module_addresses_parse() -> None:
    worker = changes("count_for_each")["terraform_data.worker[1]"]
    assert worker.index == 1 and worker.actions == ("delete",)
    machine = changes("module")["module.node[2].terraform_data.machine"]
    assert machine.module_address == "module.node[2]"
    assert machine.modules == (plan.ModuleStep("node", 2),)
    assert machine.config_address == "module.node.terraform_data.machine"
    disk = changes("module")["module.node[2].module.disk.terraform_data.disk"]
    assert plan.module_key(disk.modules) == "node.disk"


def test_importing() -> None:
    change = changes("import")["terraform_data.quartz"]
    assert change.importing and change.importing_id == "quartz-1"
    assert not change.destructive


def test_prior_state_instances_include_module_children_and_taint() -> None:
    parsed = plan.parse(fixture("module")[0])
    addresses = {instance.address for instance in parsed.prior_instances}
    assert "module.node[2].module.disk.terraform_data.disk" in addresses
    tainted = plan.parse(fixture("taint")[0]).prior_instances
    assert [instance.tainted for instance in tainted] == [True]


def test_module_address_with_awkward_keys() -> None:
    steps = plan.parse_module_address('module.a["x.y[0]"].module.b[3].module.c')
    assert steps == (
        plan.ModuleStep("a", "x.y[0]"),
        plan.ModuleStep("b", 3),
        plan.ModuleStep("c", None),
    )
    with pytest.raises(PlanError, match="malformed module address"):
        plan.parse_module_address("module.a.oops")


def test_format_path() -> None:
    assert plan.format_path(("triggers_replace",)) == "triggers_replace"
    assert plan.format_path(("disk", 0, "size")) == "disk[0].size"
    assert plan.format_path(("tags", "kubernetes.io/role")) == 'tags["kubernetes.io/role"]'


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "no format_version"),
        ({"format_version": "1.0", "values": {}}, "looks like state"),
        ({"format_version": "2.0", "planned_values": {}}, "format 2.0 is not supported"),
        ({"format_version": "1.2", "planned_values": {}, "resource_changes": {}}, "not a list"),
        ({"format_version": "1.2", "resource_changes": [{"address": "a"}]}, "no valid 'change'"),
        (
            {"format_version": "1.2", "resource_changes": [{"change": {"actions": ["delete"]}}]},
            "no valid 'address'",
        ),
    ],
)
def test_not_a_plan_is_one_line(data: Any, message: str) -> None:
    with pytest.raises(PlanError, match=message) as raised:
        plan.parse(data)
    assert "\n" not in str(raised.value)


def test_no_change_plan_parses_empty() -> None:
    parsed = plan.parse(fixture("no_change")[0])
    assert all(change.actions == ("no-op",) for change in parsed.resource_changes)
    assert parsed.terraform_version.startswith("1.15")


def test_plan_file_and_snapshot(incident_plan: Path) -> None:
    assert plan.is_plan_file(incident_plan)
    snapshot = plan.read_snapshot(incident_plan)
    assert set(snapshot) == {"m-/main.tf", "modules.json"}
    assert "reset_on_destroy" in snapshot["m-/main.tf"]
    assert plan.snapshot_modules(snapshot) == {"": "m-/"}


def test_snapshot_of_nested_modules() -> None:
    snapshot = fixture("module")[1]
    assert plan.snapshot_modules(snapshot) == {
        "": "m-/",
        "node": "m-node/",
        "node.disk": "m-node.disk/",
    }
    del snapshot["modules.json"]
    assert plan.snapshot_modules(snapshot) == {
        "": "m-/",
        "node": "m-node/",
        "node.disk": "m-node.disk/",
    }
    with pytest.raises(PlanError, match=r"corrupt tfconfig/modules\.json"):
        plan.snapshot_modules({"modules.json": "{not json"})


def test_corrupt_and_foreign_plan_files(incident_plan: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.tfplan"
    truncated.write_bytes(incident_plan.read_bytes()[:200])
    assert plan.is_plan_file(truncated)
    with pytest.raises(PlanError, match="corrupt or not a zip"):
        plan.read_snapshot(truncated)
    foreign = tmp_path / "foreign.zip"
    with zipfile.ZipFile(foreign, "w") as archive:
        archive.writestr("README", "hello")
    with pytest.raises(PlanError, match="zip archive but not a Terraform plan file"):
        plan.read_snapshot(foreign)
    with pytest.raises(PlanError, match="cannot read"):
        plan.read_snapshot(tmp_path / "missing.tfplan")


def test_load_json(tmp_path: Path) -> None:
    good = tmp_path / "plan.json"
    good.write_text(json.dumps(fixture("incident")[0]))
    assert not plan.is_plan_file(good)
    assert plan.load_json(good)["format_version"] == "1.2"
    for text, message in [
        ("not json at all", "neither a plan file nor JSON"),
        ("[1, 2]", "JSON but not a Terraform plan"),
        ('{"format_version": "1.0", "values": {}}', "looks like state"),
    ]:
        bad = tmp_path / "bad.json"
        bad.write_text(text)
        with pytest.raises(PlanError, match=message):
            plan.load_json(bad)
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(PlanError, match="neither a plan file nor plan JSON"):
        plan.load_json(binary)
