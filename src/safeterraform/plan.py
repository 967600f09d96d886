"""A Terraform plan as frozen dataclasses: `terraform show -json` output and the
configuration snapshot (`tfconfig/`) inside the plan file. Pure apart from reading files.

JSON format: https://developer.hashicorp.com/terraform/internals/json-format
Plan file layout: https://github.com/hashicorp/terraform/blob/main/internal/plans/planfile/writer.go
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from safeterraform.errors import PlanError, damaged_zip

SNAPSHOT_PREFIX = "tfconfig/"
MODULES_MANIFEST = "modules.json"
ZIP_MAGIC = b"PK\x03\x04"
SUPPORTED_FORMAT_MAJOR = "1"

# https://github.com/hashicorp/terraform/blob/main/internal/command/jsonplan/plan.go
# (ResourceInstance*); the last three are OpenTofu's.
ACTION_REASONS: Mapping[str, str] = {
    "replace_because_cannot_update": "a changed argument cannot be updated in place",
    "replace_because_tainted": "the object is tainted (a create or provisioner failed, or taint)",
    "replace_by_request": "replacement was requested with -replace",
    "replace_by_triggers": "lifecycle.replace_triggered_by fired",
    "delete_because_no_resource_config": "its resource block is no longer in the configuration",
    "delete_because_wrong_repetition": "count/for_each was added or removed on its resource",
    "delete_because_count_index": "its count index is beyond the new count",
    "delete_because_each_key": "its for_each key is no longer in the for_each value",
    "delete_because_no_module": "its module instance is no longer in the configuration",
    "delete_because_no_move_target": "it was moved to an address that is not in the configuration",
    "delete_because_enabled_false": "its resource is disabled (enabled = false)",
    "forgot_because_lifecycle_destroy_in_state": "it was created with lifecycle destroy = false",
    "forgot_because_lifecycle_destroy_in_config": "lifecycle destroy = false in the configuration",
}
FORGET_WORDS = "lifecycle destroy = false keeps the real object"

_MODULE_STEP = re.compile(r'module\.([A-Za-z_][\w-]*)(?:\[("(?:[^"\\]|\\.)*"|\d+)\])?(?:\.|$)')
_IDENTIFIER = re.compile(r"[A-Za-z_][\w-]*\Z")

Index = str | int | None


@dataclass(frozen=True)
class ModuleStep:
    """One `module.NAME[KEY]` step of a module instance address."""

    name: str
    key: Index


@dataclass(frozen=True)
class ResourceChange:
    """One entry of `resource_changes`: a resource instance (or deposed object) and its change."""

    address: str
    module_address: str  # "" for the root module
    mode: str  # "managed" or "data"
    type: str
    name: str
    index: Index  # count index (int), for_each key (str) or None
    actions: tuple[str, ...]
    action_reason: str | None
    before: Any  # prior object (None when created); unknowns are absent, see after_unknown
    after: Any
    after_unknown: Any
    before_sensitive: Any
    after_sensitive: Any
    replace_paths: tuple[tuple[str | int, ...], ...]
    previous_address: str | None  # set when a `moved` block (or refactoring) moved it
    deposed: str | None  # deposed object key
    importing_id: str | None
    importing: bool

    @property
    def modules(self) -> tuple[ModuleStep, ...]:
        return parse_module_address(self.module_address)

    @property
    def config_address(self) -> str:
        """The resource block this instance comes from: module path without keys, type.name."""
        return config_address(self.modules, self.type, self.name)

    @property
    def deletes(self) -> bool:
        return "delete" in self.actions

    @property
    def forgets(self) -> bool:
        return "forget" in self.actions

    @property
    def destructive(self) -> bool:
        """True when the current object is destroyed or dropped from state."""
        return self.mode == "managed" and (self.deletes or self.forgets)

    @property
    def replaces(self) -> bool:
        return "create" in self.actions and (self.deletes or self.forgets)

    @property
    def create_before_destroy(self) -> bool:
        return self.actions[:1] == ("create",) and len(self.actions) > 1

    @property
    def reason_words(self) -> str | None:
        """action_reason in plain words; an unknown reason is shown as it is."""
        words = None
        if self.action_reason:
            words = ACTION_REASONS.get(self.action_reason, self.action_reason)
        if self.forgets and not (self.action_reason or "").startswith("forgot_"):
            words = f"{words}; {FORGET_WORDS}" if words else FORGET_WORDS
        return words

    def unknown_after(self) -> tuple[str, ...]:
        """Attribute paths whose planned value is only known after apply."""
        return tuple(sorted(_true_paths(self.after_unknown, ())))


@dataclass(frozen=True)
class PriorInstance:
    """A resource instance object in the prior state (before this plan)."""

    address: str
    module_address: str
    mode: str
    type: str
    name: str
    index: Index
    values: Any
    deposed: str | None
    tainted: bool
    sensitive_values: Any = None  # the prior object's sensitivity mask

    @property
    def config_address(self) -> str:
        return config_address(parse_module_address(self.module_address), self.type, self.name)


@dataclass(frozen=True)
class Plan:
    format_version: str
    terraform_version: str
    resource_changes: tuple[ResourceChange, ...]
    prior_instances: tuple[PriorInstance, ...]
    applyable: bool
    errored: bool
    variables: Mapping[str, Any] = field(default_factory=dict)  # root variables: name -> value
    configuration: Mapping[str, Any] = field(default_factory=dict)  # the `configuration` section
    # False when read natively (planread): `configuration` holds only the root variables'
    # sensitivity, and a lookup of anything else needs `terraform show -json`.
    configuration_complete: bool = True


def parse_module_address(module_address: str) -> tuple[ModuleStep, ...]:
    """`module.a["x"].module.b[0]` -> (a, "x"), (b, 0); a malformed address is a PlanError."""
    steps: list[ModuleStep] = []
    position = 0
    while position < len(module_address):
        match = _MODULE_STEP.match(module_address, position)
        if match is None:
            raise PlanError(f"safeterraform: malformed module address in plan: {module_address}")
        raw = match.group(2)
        key: Index = None
        if raw is not None:
            key = json.loads(raw) if raw.startswith('"') else int(raw)
        steps.append(ModuleStep(match.group(1), key))
        position = match.end()
    return tuple(steps)


def module_key(steps: tuple[ModuleStep, ...]) -> str:
    """The module's key in modules.json and the snapshot: call names joined by dots."""
    return ".".join(step.name for step in steps)


def config_address(steps: tuple[ModuleStep, ...], type_: str, name: str) -> str:
    return "".join(f"module.{step.name}." for step in steps) + f"{type_}.{name}"


def format_path(path: tuple[str | int, ...]) -> str:
    """A replace_paths entry as an attribute path: `tags["kubernetes.io/role"]`, `disk[0].size`."""
    text = ""
    for step in path:
        if isinstance(step, int):
            text += f"[{step}]"
        elif _IDENTIFIER.match(step):
            text += f".{step}" if text else step
        else:
            text += f"[{json.dumps(step)}]"
    return text


def _true_paths(value: Any, prefix: tuple[str | int, ...]) -> Iterator[str]:
    if value is True:
        yield format_path(prefix) if prefix else "(whole object)"
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _true_paths(item, (*prefix, key))
    elif isinstance(value, list):
        for number, item in enumerate(value):
            yield from _true_paths(item, (*prefix, number))


def _field(data: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    value = data.get(key)
    if not isinstance(value, kind):
        raise PlanError(f"safeterraform: not a Terraform plan: {where} has no valid {key!r}")
    return value


def _index(value: Any) -> Index:
    return value if isinstance(value, (str, int)) and not isinstance(value, bool) else None


def _change(entry: Any, number: int) -> ResourceChange:
    where = f"resource_changes[{number}]"
    if not isinstance(entry, dict):
        raise PlanError(f"safeterraform: not a Terraform plan: {where} is not an object")
    change = _field(entry, "change", dict, where)
    actions = _field(change, "actions", list, f"{where}.change")
    if not all(isinstance(action, str) for action in actions):
        raise PlanError(f"safeterraform: not a Terraform plan: {where} has invalid actions")
    replace_paths = tuple(
        tuple(step for step in path if isinstance(step, (str, int)))
        for path in change.get("replace_paths") or ()
        if isinstance(path, list)
    )
    importing = change.get("importing")
    import_id = importing.get("id") if isinstance(importing, dict) else None
    return ResourceChange(
        address=_field(entry, "address", str, where),
        module_address=entry.get("module_address") or "",
        mode=entry.get("mode") or "managed",
        type=_field(entry, "type", str, where),
        name=_field(entry, "name", str, where),
        index=_index(entry.get("index")),
        actions=tuple(actions),
        action_reason=entry.get("action_reason") or None,
        before=change.get("before"),
        after=change.get("after"),
        after_unknown=change.get("after_unknown"),
        before_sensitive=change.get("before_sensitive"),
        after_sensitive=change.get("after_sensitive"),
        replace_paths=replace_paths,
        previous_address=entry.get("previous_address") or None,
        deposed=entry.get("deposed") or None,
        importing_id=import_id if isinstance(import_id, str) else None,
        importing=isinstance(importing, dict),
    )


def _prior_instances(module: Any) -> Iterator[PriorInstance]:
    if not isinstance(module, dict):
        return
    module_address = module.get("address") or ""
    for resource in module.get("resources") or ():
        if isinstance(resource, dict) and isinstance(resource.get("address"), str):
            yield PriorInstance(
                address=resource["address"],
                module_address=module_address,
                mode=resource.get("mode") or "managed",
                type=str(resource.get("type", "")),
                name=str(resource.get("name", "")),
                index=_index(resource.get("index")),
                values=resource.get("values"),
                deposed=resource.get("deposed_key") or None,
                tainted=resource.get("tainted") is True,
                sensitive_values=resource.get("sensitive_values"),
            )
    for child in module.get("child_modules") or ():
        yield from _prior_instances(child)


def parse(data: Any) -> Plan:
    """The plan in `terraform show -json PLANFILE` output; anything else is a PlanError."""
    if not isinstance(data, dict) or "format_version" not in data:
        raise PlanError("safeterraform: not a Terraform plan: no format_version")
    if "planned_values" not in data and "resource_changes" not in data:
        kind = "state" if "values" in data else "something else"
        raise PlanError(f"safeterraform: not a Terraform plan (this JSON looks like {kind})")
    format_version = str(data["format_version"])
    if format_version.split(".")[0] != SUPPORTED_FORMAT_MAJOR:
        raise PlanError(
            f"safeterraform: plan JSON format {format_version} is not supported "
            f"(expected {SUPPORTED_FORMAT_MAJOR}.x)"
        )
    changes = data.get("resource_changes")
    changes = [] if changes is None else changes
    if not isinstance(changes, list):
        raise PlanError("safeterraform: not a Terraform plan: resource_changes is not a list")
    prior = data.get("prior_state") or {}
    root = prior.get("values", {}).get("root_module") if isinstance(prior, dict) else None
    return Plan(
        format_version=format_version,
        terraform_version=str(data.get("terraform_version", "unknown")),
        resource_changes=tuple(_change(entry, number) for number, entry in enumerate(changes)),
        prior_instances=tuple(_prior_instances(root)),
        applyable=bool(data.get("applyable", True)),
        errored=bool(data.get("errored", False)),
        variables=_variables(data.get("variables")),
        configuration=data.get("configuration") or {},
    )


def _variables(section: Any) -> dict[str, Any]:
    if not isinstance(section, dict):
        return {}
    return {
        name: entry.get("value")
        for name, entry in section.items()
        if isinstance(entry, dict) and "value" in entry
    }


def is_plan_file(path: Path) -> bool:
    """True for a saved plan (a zip archive), False for anything else (e.g. plan JSON)."""
    try:
        with path.open("rb") as handle:
            return handle.read(len(ZIP_MAGIC)) == ZIP_MAGIC
    except OSError as error:
        raise PlanError(f"safeterraform: cannot read {path}: {error.strerror}") from None


def load_json(path: Path) -> dict[str, Any]:
    """Read a `terraform show -json` file; not JSON or not a plan is a PlanError."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise PlanError(f"safeterraform: cannot read {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise PlanError(f"safeterraform: {path} is neither a plan file nor plan JSON") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise PlanError(
            f"safeterraform: {path} is neither a plan file nor JSON "
            f"(line {error.lineno}: {error.msg})"
        ) from None
    if not isinstance(data, dict):
        raise PlanError(f"safeterraform: {path} is JSON but not a Terraform plan")
    try:
        parse(data)
    except PlanError as error:
        raise PlanError(f"{error} ({path})") from None
    return data


def read_snapshot(plan_file: Path | str | IO[bytes]) -> dict[str, str]:
    """The configuration snapshot in a plan file: path inside tfconfig/ -> file text."""
    try:
        with zipfile.ZipFile(plan_file) as archive:
            names = archive.namelist()
            if "tfplan" not in names:
                raise PlanError(
                    f"safeterraform: {plan_file} is a zip archive but not a Terraform plan file"
                )
            return {
                name[len(SNAPSHOT_PREFIX) :]: archive.read(name).decode("utf-8", errors="replace")
                for name in names
                if name.startswith(SNAPSHOT_PREFIX) and not name.endswith("/")
            }
    except damaged_zip():
        raise PlanError(
            f"safeterraform: {plan_file} is not a Terraform plan file (corrupt or not a zip)"
        ) from None
    except OSError as error:
        raise PlanError(f"safeterraform: cannot read {plan_file}: {error.strerror}") from None


def snapshot_modules(snapshot: Mapping[str, str]) -> dict[str, str]:
    """Module key ("" for root, "a.b" nested) -> its directory in the snapshot ("m-a.b/").

    Keys come from tfconfig/modules.json; without a manifest, the `m-*` dirs present.
    https://github.com/hashicorp/terraform/blob/main/internal/plans/planfile/config_snapshot.go
    """
    keys: list[str] = []
    manifest = snapshot.get(MODULES_MANIFEST)
    if manifest is not None:
        try:
            records = json.loads(manifest)
        except json.JSONDecodeError:
            raise PlanError(
                "safeterraform: plan file has a corrupt tfconfig/modules.json"
            ) from None
        if not isinstance(records, list):
            raise PlanError("safeterraform: plan file has a corrupt tfconfig/modules.json")
        keys = [str(record.get("Key", "")) for record in records if isinstance(record, dict)]
    else:
        keys = sorted({path.split("/", 1)[0][2:] for path in snapshot if path.startswith("m-")})
    return {key: f"m-{key}/" for key in keys}


def snapshot_module_dirs(snapshot: Mapping[str, str]) -> dict[str, str]:
    """Module key -> its directory as the user knows it (`modules/node`), from modules.json;
    a module missing from the manifest keeps its key."""
    try:
        records = json.loads(snapshot.get(MODULES_MANIFEST) or "[]")
    except json.JSONDecodeError:
        return {}
    if not isinstance(records, list):
        return {}
    return {
        str(record.get("Key", "")): str(record.get("Dir", "."))
        for record in records
        if isinstance(record, dict)
    }
