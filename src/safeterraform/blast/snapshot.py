"""The configuration snapshot inside a plan file, indexed per module: destroy-time
provisioners and the expression text of resources, locals, module calls and outputs. Pure.

Each module's files are scanned once, on first use (or in a thread while `terraform show
-json` runs); a block's attributes are split only when a cause chain asks for them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from safeterraform.blast import hcl
from safeterraform.blast.interpolate import describe
from safeterraform.errors import PlanError
from safeterraform.plan import ResourceChange, module_key, snapshot_module_dirs, snapshot_modules


@dataclass(frozen=True)
class Provisioner:
    """A `when = destroy` provisioner as configured (not yet resolved for an instance)."""

    type: str
    settings: Mapping[str, Any]  # hcl2's rendering of the block's arguments
    source: str  # the file as the user knows it, e.g. "main.tf" or "modules/x/main.tf"
    removed_block: bool


@dataclass
class _Body:
    """A block's body, split into attributes on first use."""

    text: str
    start: int
    end: int
    parsed: dict[str, str] | None = None

    def attributes(self) -> dict[str, str]:
        if self.parsed is None:
            self.parsed = hcl.attributes(self.text, self.start, self.end)
        return self.parsed


@dataclass
class ModuleConfig:
    """One module of the snapshot: provisioners and where its expressions are."""

    resources: dict[tuple[str, str], list[Provisioner]] = field(default_factory=dict)
    removed: dict[str, list[Provisioner]] = field(default_factory=dict)  # `from` -> provisioners
    bodies: dict[str, _Body] = field(default_factory=dict)  # "type.name", "data.t.n", "module.x"
    lifecycles: dict[str, _Body] = field(default_factory=dict)  # "type.name" -> lifecycle body
    locals: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    local_bodies: list[_Body] = field(default_factory=list)
    output_bodies: dict[str, _Body] = field(default_factory=dict)

    def expression(self, block: str, attribute: str) -> str | None:
        """The expression text of `attribute` in a resource, data or module block."""
        body = self.bodies.get(block)
        return None if body is None else body.attributes().get(attribute)

    def replace_triggered_by(self, block: str) -> str | None:
        body = self.lifecycles.get(block)
        return None if body is None else body.attributes().get("replace_triggered_by")

    def local(self, name: str) -> str | None:
        while self.local_bodies:
            self.locals.update(self.local_bodies.pop().attributes())
        return self.locals.get(name)

    def output(self, name: str) -> str | None:
        body = self.output_bodies.get(name)
        return None if body is None else body.attributes().get("value")


class ConfigIndex:
    """The snapshot's modules, read on first use."""

    def __init__(self, snapshot: Mapping[str, str]) -> None:
        self.snapshot = snapshot
        self.warnings: list[str] = []
        self._dirs: dict[str, str] | None = None
        self._user_dirs: dict[str, str] = {}
        self._modules: dict[str, ModuleConfig | None] = {}

    def preload(self) -> ConfigIndex:
        """Read every module now, blocks split into attributes, e.g. while `terraform show
        -json` runs (review.analyze_shown), so this work is hidden behind terraform's."""
        self.module("")
        for key in list(self._dirs or {}):
            self.module(key)
        for module in self._modules.values():
            for body in module.bodies.values() if module else ():
                body.attributes()
        return self

    def module(self, key: str) -> ModuleConfig | None:
        """The module with this key ("" root, "a.b" nested); None when not in the snapshot."""
        if key not in self._modules:
            if self._dirs is None:
                try:
                    self._dirs = snapshot_modules(self.snapshot)
                    self._user_dirs = snapshot_module_dirs(self.snapshot)
                except PlanError as error:
                    self.warnings.append(f"{error}; destroy-time provisioners cannot be listed")
                    self._dirs = {}
            directory = self._dirs.get(key)
            self._modules[key] = None if directory is None else self._read(key, directory)
        return self._modules[key]

    def source(self, key: str, path: str) -> str:
        """A snapshot path (`m-x/main.tf`) as the user knows it (`modules/x/main.tf`)."""
        name = path.rsplit("/", 1)[-1]
        directory = self._user_dirs.get(key, ".").strip("/")
        return name if directory in ("", ".") else f"{directory.removeprefix('./')}/{name}"

    def _read(self, key: str, directory: str) -> ModuleConfig:
        module = ModuleConfig()
        for path in sorted(self.snapshot):
            if not path.startswith(directory) or "/" in path[len(directory) :]:
                continue
            text = self.snapshot[path]
            if path.endswith(".tf"):
                self._read_hcl(module, self.source(key, path), text)
            elif path.endswith(".tf.json"):
                self._read_json(module, self.source(key, path), text)
        return module

    def _read_hcl(self, module: ModuleConfig, path: str, text: str) -> None:
        for block in hcl.blocks(text):
            labels = block.labels
            if block.type in ("resource", "data") and len(labels) == 2:
                address = ("data." if block.type == "data" else "") + f"{labels[0]}.{labels[1]}"
                module.bodies[address] = _Body(block.text, block.body_start, block.body_end)
                if "lifecycle" in block.text:
                    for inner in hcl.blocks(block.text, block.body_start, block.body_end):
                        if inner.type == "lifecycle":
                            module.lifecycles[address] = _Body(
                                inner.text, inner.body_start, inner.body_end
                            )
            elif block.type == "module" and len(labels) == 1:
                module.bodies[f"module.{labels[0]}"] = _Body(
                    block.text, block.body_start, block.body_end
                )
            elif block.type == "locals":
                module.local_bodies.append(_Body(block.text, block.body_start, block.body_end))
            elif block.type == "output" and len(labels) == 1:
                module.output_bodies[labels[0]] = _Body(
                    block.text, block.body_start, block.body_end
                )
            # Every destroy-time provisioner has both words; most blocks have neither.
            if "destroy" not in block.text or "provisioner" not in block.text:
                continue
            if block.type == "resource" and len(labels) == 2:
                provisioners = self._provisioners(block, path, removed=False)
                if provisioners:
                    module.resources.setdefault((labels[0], labels[1]), []).extend(provisioners)
            elif block.type == "removed":
                provisioners = self._provisioners(block, path, removed=True)
                if not provisioners:
                    continue
                origin = self._removed_from(block, path)
                if origin:
                    module.removed.setdefault(origin, []).extend(provisioners)

    def _provisioners(self, block: hcl.Block, path: str, removed: bool) -> list[Provisioner]:
        found = []
        for inner in hcl.blocks(block.text, block.body_start, block.body_end):
            if inner.type != "provisioner" or "destroy" not in inner.text:
                continue
            fast = hcl.simple_settings(inner.text, inner.body_start, inner.body_end)
            if fast is not None and len(inner.labels) == 1:
                if hcl.unquote(str(fast.get("when", ""))) == "destroy":
                    found.append(Provisioner(inner.labels[0], fast, path, removed))
                continue
            try:
                parsed = hcl.parse_hcl(inner.text)
                (entry,) = parsed["provisioner"]
                ((label, settings),) = entry.items()
            except Exception as error:  # hcl2 raises lark errors of many kinds
                first = str(error).strip().splitlines()[0] if str(error).strip() else "error"
                self.warnings.append(
                    f"cannot parse a provisioner of {' '.join(block.labels)} in {path}: {first}"
                )
                continue
            if isinstance(settings, dict) and hcl.unquote(str(settings.get("when", ""))) == (
                "destroy"
            ):
                found.append(Provisioner(hcl.unquote(label), settings, path, removed))
        return found

    def _removed_from(self, block: hcl.Block, path: str) -> str | None:
        for match in re.finditer(r"(?m)^\s*from\s*=\s*([^\n#]+)", block.text[block.body_start :]):
            return hcl.traversal(match.group(1))
        self.warnings.append(f"a removed block in {path} has no readable `from`")
        return None

    def _read_json(self, module: ModuleConfig, path: str, text: str) -> None:
        """JSON configuration syntax: resource.TYPE.NAME.provisioner and removed[]."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            self.warnings.append(f"cannot parse {path}: {error.msg}")
            return
        if not isinstance(data, dict):
            return
        for type_, named in _objects(data.get("resource")):
            for name, bodies in _objects(named):
                for body in _listed(bodies):
                    text_body = "\n".join(
                        f"{key} = {json.dumps(value)}"
                        for key, value in body.items()
                        if key not in ("provisioner", "lifecycle", "connection")
                    )
                    module.bodies[f"{type_}.{name}"] = _Body(text_body, 0, len(text_body))
                    found = _json_provisioners(body, path, removed=False)
                    if found:
                        module.resources.setdefault((type_, name), []).extend(found)
        for body in _listed(data.get("removed")):
            found = _json_provisioners(body, path, removed=True)
            if found and isinstance(body.get("from"), str):
                module.removed.setdefault(hcl.traversal(body["from"]), []).extend(found)

    def _lookup(self, change: ResourceChange) -> list[Provisioner]:
        steps = change.modules
        own = self.module(module_key(steps))
        if own is not None and (change.type, change.name) in own.resources:
            return own.resources[(change.type, change.name)]
        # Terraform 1.15 runs the provisioners of root-module `removed` blocks only (seen
        # with the real binary; tests/test_blast.py checks it): a removed block inside a
        # child module still removes the resource, but its provisioners never run.
        root = self.module("")
        address = f"{change.config_address}"
        if root is not None and address in root.removed:
            return root.removed[address]
        for depth in range(len(steps), 0, -1):
            ancestor = self.module(module_key(steps[:depth]))
            relative = "".join(f"module.{step.name}." for step in steps[depth:])
            found = (
                ancestor.removed.get(f"{relative}{change.type}.{change.name}") if ancestor else None
            )
            if found:
                warning = (
                    f"the removed block for {address} in {found[0].source} declares a "
                    "destroy-time provisioner that Terraform does not run (removed blocks in "
                    "child modules do not run provisioners): move it to the root module"
                )
                if warning not in self.warnings:
                    self.warnings.append(warning)
        return []

    def destroy_provisioners(
        self, change: ResourceChange
    ) -> Iterator[tuple[Provisioner, str, tuple[str, ...]]]:
        """The destroy-time provisioners configured for this instance, each with its command
        resolved from the prior object and what stayed unresolved."""
        for provisioner in self._lookup(change):
            command, unresolved = describe(provisioner.type, provisioner.settings, change)
            yield provisioner, command, unresolved


def _objects(value: Any) -> Iterator[tuple[str, Any]]:
    for item in _listed(value):
        yield from item.items()


def _listed(value: Any) -> list[dict[str, Any]]:
    items = value if isinstance(value, list) else [value]
    return [item for item in items if isinstance(item, dict)]


def _json_provisioners(body: Any, path: str, removed: bool) -> list[Provisioner]:
    found = []
    for type_, settings in _objects(body.get("provisioner") if isinstance(body, dict) else None):
        if isinstance(settings, dict) and settings.get("when") == "destroy":
            # JSON strings are templates already; quote them the way hcl2 renders strings.
            rendered = {
                key: json.dumps(value) if isinstance(value, str) else value
                for key, value in settings.items()
            }
            found.append(Provisioner(type_, rendered, path, removed))
    return found
