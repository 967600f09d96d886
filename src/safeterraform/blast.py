"""The blast radius of a plan: destructive changes by node and the destroy-time provisioners
that will run, with their commands resolved from prior state (PRODUCT.md §6, §7). Pure.

The JSON plan does not say whether a provisioner runs at destroy time, so the configuration
snapshot inside the plan file is read: top-level blocks are located with a small scanner and
only the provisioner blocks that mention `destroy`, on resources this plan deletes, are parsed
with python-hcl2 (parsing whole large files with it is far too slow).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from safeterraform.errors import PlanError
from safeterraform.plan import (
    ModuleStep,
    ResourceChange,
    format_path,
    module_key,
    parse,
    parse_module_address,
    snapshot_modules,
)

SENSITIVE = "(sensitive value)"


@dataclass(frozen=True)
class DestructiveChange:
    """A change that destroys or forgets an object (PRODUCT.md §6)."""

    address: str
    node: str
    action: str  # destroy, replace, forget, replace-and-forget; "moved-and-..." when moved
    actions: tuple[str, ...]  # as in the plan, e.g. ("delete", "create")
    action_reason: str | None
    reason: str | None  # action_reason in words
    replace_paths: tuple[str, ...]  # attributes that force the replacement
    previous_address: str | None
    deposed: str | None
    create_before_destroy: bool
    provisioners_skipped: str | None = None  # why configured destroy provisioners do not run

    @property
    def kind(self) -> str:
        """destroy, replace or forget: what happens to the current object, for counting."""
        if "replace" in self.action:
            return "replace"
        return "forget" if "forget" in self.action else "destroy"


@dataclass(frozen=True)
class DestroyProvisioner:
    """A `when = destroy` provisioner that runs for an object this plan destroys."""

    address: str
    node: str
    type: str  # local-exec, remote-exec, ...
    command: str  # with self.*, count.index and each.key resolved from prior state
    unresolved: tuple[str, ...]  # interpolations left as written
    source: str  # file in the snapshot, e.g. "m-/main.tf"
    removed_block: bool  # declared in a `removed` block


@dataclass(frozen=True)
class Analysis:
    """What a plan destroys, on which nodes, and what runs while it does."""

    terraform_version: str
    changes: tuple[DestructiveChange, ...]
    destroy_provisioners: tuple[DestroyProvisioner, ...]
    affected_nodes: tuple[str, ...]  # sorted, distinct
    nodes_known: int
    creates: int
    updates: int
    imports: int
    warnings: tuple[str, ...] = field(default=())

    @property
    def destructive(self) -> bool:
        return bool(self.changes)

    def count(self, kind: str) -> int:
        """How many changes destroy, replace or forget (see DestructiveChange.kind)."""
        return sum(1 for change in self.changes if change.kind == kind)

    def by_node(self) -> tuple[tuple[str, tuple[DestructiveChange, ...]], ...]:
        groups: dict[str, list[DestructiveChange]] = {}
        for change in self.changes:
            groups.setdefault(change.node, []).append(change)
        return tuple((node, tuple(changes)) for node, changes in sorted(groups.items()))


def analyze(
    plan_json: dict[str, Any],
    snapshot: Mapping[str, str],
    node_attributes: Sequence[str],
    config: ConfigIndex | None = None,
) -> Analysis:
    """Analyse `terraform show -json` output against the plan's configuration snapshot.

    `nodes_known` counts the distinct nodes named by every prior-state instance of the
    resource blocks that have a destructive change (plus the affected nodes): the headline
    "3 of 3" means every node those resources manage is hit, which is what an operator must
    see; unrelated resources elsewhere in the state do not dilute it.
    """
    plan = parse(plan_json)
    config = config or ConfigIndex(snapshot)
    changes: list[DestructiveChange] = []
    provisioners: list[DestroyProvisioner] = []
    touched: set[str] = set()
    tainted = {
        instance.address
        for instance in plan.prior_instances
        if instance.tainted and instance.deposed is None
    }
    for change in plan.resource_changes:
        if change.mode != "managed" or not change.destructive:
            continue
        node = node_name(
            change.before,
            change.index,
            change.name,
            change.modules,
            change.address,
            node_attributes,
        )
        touched.add(change.config_address)
        skipped = None
        if change.deletes:
            found = list(config.destroy_provisioners(change, node))
            skipped = _skipped(change, change.address in tainted) if found else None
            if skipped is None:
                provisioners.extend(found)
        changes.append(_destructive(change, node, skipped))
    affected = {change.node for change in changes}
    known = set(affected)
    for instance in plan.prior_instances:
        if instance.mode == "managed" and instance.config_address in touched:
            steps = parse_module_address(instance.module_address)
            known.add(
                node_name(
                    instance.values,
                    instance.index,
                    instance.name,
                    steps,
                    instance.address,
                    node_attributes,
                )
            )
    if changes and not snapshot:
        config.warnings.append(
            "no configuration snapshot (plan JSON, not a plan file): "
            "destroy-time provisioners cannot be listed"
        )
    if plan.errored:
        config.warnings.append("terraform reported errors while planning: this plan is incomplete")
    changes.sort(key=lambda change: change.node)  # stable: plan order within a node
    provisioners.sort(key=lambda item: item.node)
    managed = [change for change in plan.resource_changes if change.mode == "managed"]
    return Analysis(
        terraform_version=plan.terraform_version,
        changes=tuple(changes),
        destroy_provisioners=tuple(provisioners),
        affected_nodes=tuple(sorted(affected)),
        nodes_known=len(known),
        creates=sum(1 for change in managed if change.actions == ("create",)),
        updates=sum(1 for change in managed if change.actions == ("update",)),
        imports=sum(1 for change in managed if change.importing),
        warnings=tuple(config.warnings),
    )


def attribute(values: Any, path: str) -> Any:
    """The value at a dotted path (`tags.Name`, `network.0.ip`) in an object, or None."""
    current = values
    for step in path.split("."):
        if isinstance(current, dict):
            current = current.get(step)
        elif isinstance(current, list) and step.isdigit() and int(step) < len(current):
            current = current[int(step)]
        else:
            return None
    return current


def _scalar(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        return value or None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return None


def node_name(
    values: Any,
    index: str | int | None,
    name: str,
    modules: tuple[ModuleStep, ...],
    address: str,
    node_attributes: Sequence[str],
) -> str:
    """PRODUCT.md §7: first configured attribute in the prior object, else the for_each key,
    else name[index], else the address. The instance key of the nearest enclosing module
    instance stands in for a resource without count or for_each of its own."""
    for path in node_attributes:
        found = _scalar(attribute(values, path))
        if found is not None:
            return found
    if isinstance(index, str):
        return index
    if isinstance(index, int):
        return f"{name}[{index}]"
    for step in reversed(modules):
        if isinstance(step.key, str):
            return step.key
        if isinstance(step.key, int):
            return f"{step.name}[{step.key}]"
    return address


def _skipped(change: ResourceChange, tainted: bool) -> str | None:
    """Why terraform will not run this object's destroy-time provisioners, if it will not.

    They run only for a current, untainted object: not for deposed objects, which is also
    what create_before_destroy replaces, nor for tainted ones.
    https://github.com/hashicorp/terraform/blob/main/internal/terraform/node_resource_destroy.go
    https://github.com/hashicorp/terraform/issues/13549
    """
    if change.deposed:
        return "the object is deposed"
    if change.create_before_destroy:
        return "create_before_destroy: the old object is destroyed as a deposed object"
    if tainted:
        return "the object is tainted"
    return None


def _destructive(change: ResourceChange, node: str, skipped: str | None) -> DestructiveChange:
    if change.replaces:
        action = "replace-and-forget" if change.forgets else "replace"
    else:
        action = "forget" if change.forgets else "destroy"
    if change.previous_address:
        action = (
            "moved-and-"
            + {
                "replace": "replaced",
                "replace-and-forget": "replaced-and-forgotten",
                "forget": "forgotten",
                "destroy": "destroyed",
            }[action]
        )
    return DestructiveChange(
        address=change.address,
        node=node,
        action=action,
        actions=change.actions,
        action_reason=change.action_reason,
        reason=change.reason_words,
        replace_paths=tuple(format_path(path) for path in change.replace_paths),
        previous_address=change.previous_address,
        deposed=change.deposed,
        create_before_destroy=change.create_before_destroy,
        provisioners_skipped=skipped,
    )


# --- the configuration snapshot --------------------------------------------------------

_CODE = re.compile(r'["{}\[\]()#/<]')
_TOP = re.compile(r'["{}\[\]()#/<\n]')
_IN_STRING = re.compile(r'[\\"$%]')
_HEREDOC = re.compile(r"<<-?([A-Za-z_][\w-]*)[ \t]*\r?\n")
_HEADER = re.compile(r'\s*([A-Za-z_][\w-]*)((?:\s+(?:"(?:[^"\\\n]|\\.)*"|[A-Za-z_][\w-]*))*)\s*\Z')
_LABEL = re.compile(r'"((?:[^"\\\n]|\\.)*)"|([A-Za-z_][\w-]*)')
_CLOSERS = {"{": "}", "[": "]", "(": ")"}


@dataclass(frozen=True)
class _Block:
    type: str
    labels: tuple[str, ...]
    text: str  # the whole block, header included
    body_start: int  # offsets of the body inside `text`
    body_end: int


def _end_of_string(text: str, position: int) -> int:
    """Index just past the closing quote of a string opened before `position`."""
    while True:
        match = _IN_STRING.search(text, position)
        if match is None:
            return len(text)
        at = match.start()
        char = text[at]
        if char == "\\":
            position = at + 2
        elif char == '"':
            return at + 1
        elif text.startswith(char * 2 + "{", at):  # $${ and %%{ are literal
            position = at + 3
        elif text.startswith("{", at + 1):
            position = _end_of_code(text, at + 2, "}")
        else:
            position = at + 1


def _skip_comment_or_heredoc(text: str, at: int) -> int | None:
    """Index past a comment or heredoc starting at `at`, or None when there is none."""
    if text[at] == "#" or text.startswith("//", at):
        end = text.find("\n", at)
        return len(text) if end < 0 else end
    if text.startswith("/*", at):
        end = text.find("*/", at + 2)
        return len(text) if end < 0 else end + 2
    if text.startswith("<<", at):
        match = _HEREDOC.match(text, at)
        if match is None:
            return None
        marker = re.compile(rf"^[ \t]*{re.escape(match.group(1))}[ \t]*\r?$", re.MULTILINE)
        closing = marker.search(text, match.end())
        return len(text) if closing is None else closing.end()
    return None


def _end_of_code(text: str, position: int, closer: str) -> int:
    """Index just past the `closer` that matches an opening bracket before `position`."""
    stack = [closer]
    while stack:
        match = _CODE.search(text, position)
        if match is None:
            return len(text)
        at = match.start()
        char = text[at]
        if char == '"':
            position = _end_of_string(text, at + 1)
        elif char in _CLOSERS:
            stack.append(_CLOSERS[char])
            position = at + 1
        elif char in "}])":
            if char == stack[-1]:
                stack.pop()
            position = at + 1
        else:
            skipped = _skip_comment_or_heredoc(text, at)
            position = at + 1 if skipped is None else skipped
    return position


def _blocks(text: str, start: int = 0, end: int | None = None) -> Iterator[_Block]:
    """The blocks directly inside text[start:end] (a file or a block body)."""
    end = len(text) if end is None else end
    position = statement = start
    while position < end:
        match = _TOP.search(text, position, end)
        if match is None:
            return
        at = match.start()
        char = text[at]
        if char == "\n":
            position = statement = at + 1
        elif char == '"':
            position = _end_of_string(text, at + 1)
        elif char == "{":
            close = _end_of_code(text, at + 1, "}")
            header = _HEADER.match(text, statement, at)
            if header is not None:
                labels = tuple(
                    quoted if quoted else bare for quoted, bare in _LABEL.findall(header.group(2))
                )
                block_start = header.start(1)
                yield _Block(
                    header.group(1),
                    labels,
                    text[block_start:close],
                    at + 1 - block_start,
                    close - 1 - block_start,
                )
            position = statement = close
        elif char in "[(":
            position = _end_of_code(text, at + 1, _CLOSERS[char])
        elif char in "}])":
            position = at + 1
        else:
            skipped = _skip_comment_or_heredoc(text, at)
            position = at + 1 if skipped is None else skipped


_ATTRIBUTE = re.compile(r"[ \t]*([A-Za-z_][\w-]*)[ \t]*=(?!=)[ \t]*")
_BARE_WORD = re.compile(r"[A-Za-z_][\w-]*")
_REST_OF_LINE = re.compile(r"[ \t]*(?:(?:#|//)[^\n]*)?(?:\n|\Z)")


def simple_settings(block_text: str, body_start: int, body_end: int) -> dict[str, Any] | None:
    """A provisioner body whose arguments are all strings, heredocs or bare words, read
    without the HCL parser and rendered as hcl2 renders them; None when anything else
    (a function call, a nested block, a list) needs the real parser.

    Loading hcl2's grammar costs ~0.1 s; nearly every destroy-time provisioner is
    `when = destroy` plus a quoted `command`.
    """
    settings: dict[str, Any] = {}
    position = body_start
    while position < body_end:
        char = block_text[position]
        if char in " \t\r\n":
            position += 1
            continue
        skipped = _skip_comment_or_heredoc(block_text, position)
        if skipped is not None and not block_text.startswith("<<", position):
            position = skipped
            continue
        match = _ATTRIBUTE.match(block_text, position, body_end)
        if match is None:
            return None  # a nested block or something unusual
        value_start = match.end()
        if block_text.startswith('"', value_start):
            value_end = _end_of_string(block_text, value_start + 1)
            value = block_text[value_start:value_end]
        elif block_text.startswith("<<", value_start):
            heredoc_end = _skip_comment_or_heredoc(block_text, value_start)
            if heredoc_end is None:
                return None
            value_end = heredoc_end
            value = f'"{block_text[value_start:value_end].rstrip()}"'
        else:
            word = _BARE_WORD.match(block_text, value_start, body_end)
            if word is None:
                return None
            value_end = word.end()
            value = word.group()
        rest = _REST_OF_LINE.match(block_text, value_end, body_end)
        if rest is None:
            return None  # `a = "x" + y`, a call, an index...
        settings[match.group(1)] = value
        position = rest.end()
    return settings


def warm_up() -> None:
    """Load the HCL parser ahead of need, e.g. in a thread while terraform show runs."""
    from hcl2.parser import parser

    parser()


@lru_cache(maxsize=4096)
def _parse_hcl(text: str) -> dict[str, Any]:
    import hcl2  # lark and its grammar cost ~0.1 s: only when a provisioner must be read

    parsed = hcl2.loads(text)
    if not isinstance(parsed, dict):
        raise ValueError("not a block")
    return parsed


def _unquote(label: str) -> str:
    return label[1:-1] if len(label) >= 2 and label[0] == label[-1] == '"' else label


def _traversal(expression: str) -> str:
    """`${terraform_data.x}` (hcl2's rendering of a bare reference) -> `terraform_data.x`."""
    text = expression.strip()
    if text.startswith("${") and text.endswith("}"):
        text = text[2:-1].strip()
    return _unquote(text)


@dataclass(frozen=True)
class _Provisioner:
    type: str
    settings: Mapping[str, Any]  # hcl2's rendering of the block's arguments
    source: str
    removed_block: bool


@dataclass
class _ModuleConfig:
    resources: dict[tuple[str, str], list[_Provisioner]]
    removed: dict[str, list[_Provisioner]]  # `from` (relative to the module) -> provisioners


class ConfigIndex:
    """Destroy-time provisioners per module of the snapshot, read on first use."""

    def __init__(self, snapshot: Mapping[str, str]) -> None:
        self.snapshot = snapshot
        self.warnings: list[str] = []
        self._dirs: dict[str, str] | None = None
        self._modules: dict[str, _ModuleConfig | None] = {}

    def preload(self) -> ConfigIndex:
        """Read every module now, e.g. in a thread while `terraform show -json` runs."""
        self._module("")
        for key in list(self._dirs or {}):
            self._module(key)
        return self

    def _module(self, key: str) -> _ModuleConfig | None:
        if key not in self._modules:
            if self._dirs is None:
                try:
                    self._dirs = snapshot_modules(self.snapshot)
                except PlanError as error:
                    self.warnings.append(f"{error}; destroy-time provisioners cannot be listed")
                    self._dirs = {}
            directory = self._dirs.get(key)
            self._modules[key] = None if directory is None else self._read(directory)
        return self._modules[key]

    def _read(self, directory: str) -> _ModuleConfig:
        module = _ModuleConfig({}, {})
        for path in sorted(self.snapshot):
            if not path.startswith(directory) or "/" in path[len(directory) :]:
                continue
            text = self.snapshot[path]
            # Every destroy-time provisioner has both words; most files have neither.
            if "provisioner" not in text or "destroy" not in text:
                continue
            if path.endswith(".tf"):
                self._read_hcl(module, path, text)
            elif path.endswith(".tf.json"):
                self._read_json(module, path, text)
        return module

    def _provisioners(self, block: _Block, path: str, removed: bool) -> list[_Provisioner]:
        found = []
        for inner in _blocks(block.text, block.body_start, block.body_end):
            if inner.type != "provisioner" or "destroy" not in inner.text:
                continue
            fast = simple_settings(inner.text, inner.body_start, inner.body_end)
            if fast is not None and len(inner.labels) == 1:
                if _unquote(str(fast.get("when", ""))) == "destroy":
                    found.append(_Provisioner(inner.labels[0], fast, path, removed))
                continue
            try:
                parsed = _parse_hcl(inner.text)
                (entry,) = parsed["provisioner"]
                ((label, settings),) = entry.items()
            except Exception as error:  # hcl2 raises lark errors of many kinds
                first = str(error).strip().splitlines()[0] if str(error).strip() else "error"
                self.warnings.append(
                    f"cannot parse a provisioner of {' '.join(block.labels)} in {path}: {first}"
                )
                continue
            if isinstance(settings, dict) and _unquote(str(settings.get("when", ""))) == "destroy":
                found.append(_Provisioner(_unquote(label), settings, path, removed))
        return found

    def _read_hcl(self, module: _ModuleConfig, path: str, text: str) -> None:
        for block in _blocks(text):
            if "destroy" not in block.text or "provisioner" not in block.text:
                continue
            if block.type == "resource" and len(block.labels) == 2:
                provisioners = self._provisioners(block, path, removed=False)
                if provisioners:
                    module.resources.setdefault((block.labels[0], block.labels[1]), []).extend(
                        provisioners
                    )
            elif block.type == "removed":
                provisioners = self._provisioners(block, path, removed=True)
                if not provisioners:
                    continue
                origin = self._removed_from(block, path)
                if origin:
                    module.removed.setdefault(origin, []).extend(provisioners)

    def _removed_from(self, block: _Block, path: str) -> str | None:
        for match in re.finditer(r"(?m)^\s*from\s*=\s*([^\n#]+)", block.text[block.body_start :]):
            return _traversal(match.group(1))
        self.warnings.append(f"a removed block in {path} has no readable `from`")
        return None

    def _read_json(self, module: _ModuleConfig, path: str, text: str) -> None:
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
                    found = _json_provisioners(body, path, removed=False)
                    if found:
                        module.resources.setdefault((type_, name), []).extend(found)
        for body in _listed(data.get("removed")):
            found = _json_provisioners(body, path, removed=True)
            if found and isinstance(body.get("from"), str):
                module.removed.setdefault(_traversal(body["from"]), []).extend(found)

    def _lookup(self, change: ResourceChange) -> list[_Provisioner]:
        steps = change.modules
        own = self._module(module_key(steps))
        if own is not None and (change.type, change.name) in own.resources:
            return own.resources[(change.type, change.name)]
        # Terraform 1.15 runs the provisioners of root-module `removed` blocks only (seen
        # with the real binary; tests/test_blast.py checks it): a removed block inside a
        # child module still removes the resource, but its provisioners never run.
        root = self._module("")
        address = f"{change.config_address}"
        if root is not None and address in root.removed:
            return root.removed[address]
        for depth in range(len(steps), 0, -1):
            ancestor = self._module(module_key(steps[:depth]))
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
        self, change: ResourceChange, node: str
    ) -> Iterator[DestroyProvisioner]:
        address = change.address + (f" (deposed {change.deposed})" if change.deposed else "")
        for provisioner in self._lookup(change):
            command, unresolved = _describe(provisioner, change)
            yield DestroyProvisioner(
                address=address,
                node=node,
                type=provisioner.type,
                command=command,
                unresolved=unresolved,
                source=provisioner.source,
                removed_block=provisioner.removed_block,
            )


def _objects(value: Any) -> Iterator[tuple[str, Any]]:
    for item in _listed(value):
        yield from item.items()


def _listed(value: Any) -> list[dict[str, Any]]:
    items = value if isinstance(value, list) else [value]
    return [item for item in items if isinstance(item, dict)]


def _json_provisioners(body: Any, path: str, removed: bool) -> list[_Provisioner]:
    found = []
    for type_, settings in _objects(body.get("provisioner") if isinstance(body, dict) else None):
        if isinstance(settings, dict) and settings.get("when") == "destroy":
            # JSON strings are templates already; quote them the way hcl2 renders strings.
            rendered = {
                key: json.dumps(value) if isinstance(value, str) else value
                for key, value in settings.items()
            }
            found.append(_Provisioner(type_, rendered, path, removed))
    return found


# --- commands ----------------------------------------------------------------------------

_SELF = re.compile(r'self((?:\s*(?:\.[A-Za-z_][\w-]*|\[\s*(?:"(?:[^"\\]|\\.)*"|\d+)\s*\]))+)\Z')
_STEP = re.compile(r'\.([A-Za-z_][\w-]*)|\[\s*(?:"((?:[^"\\]|\\.)*)"|(\d+))\s*\]')
_QUOTED_TOKENS = re.compile(r"\\.|\$\$\{|%%\{|\$\{|%\{")
_HEREDOC_TOKENS = re.compile(r"\$\$\{|%%\{|\$\{|%\{")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def _describe(provisioner: _Provisioner, change: ResourceChange) -> tuple[str, tuple[str, ...]]:
    """The provisioner's command as the operator should read it, and what stayed unresolved."""
    settings = provisioner.settings
    unresolved: list[str] = []

    def resolved(value: Any) -> str:
        text, left = resolve(value, change)
        unresolved.extend(left)
        return text

    if provisioner.type == "local-exec" and "command" in settings:
        return resolved(settings["command"]), tuple(unresolved)
    if provisioner.type == "remote-exec" and isinstance(settings.get("inline"), list):
        return "\n".join(resolved(line) for line in settings["inline"]), tuple(unresolved)
    parts = [
        f"{key} = {resolved(value)}"
        for key, value in settings.items()
        if key not in ("when", "__is_block__") and isinstance(value, str)
    ]
    return ", ".join(parts), tuple(unresolved)


def resolve(raw: Any, change: ResourceChange) -> tuple[str, tuple[str, ...]]:
    """Resolve `self.*`, `count.index` and `each.key` in an expression rendered by hcl2.

    Other interpolations, and references to values that are not in the prior object,
    are left exactly as written and returned as unresolved.
    """
    if not isinstance(raw, str):
        return json.dumps(raw), ()
    text = raw.strip()
    quoted = len(text) >= 2 and text[0] == text[-1] == '"'
    heredoc = False
    if quoted:
        text = text[1:-1]
        if text.startswith("<<"):
            heredoc = True
            text = _heredoc_body(text)
    tokens = _HEREDOC_TOKENS if heredoc or not quoted else _QUOTED_TOKENS
    out: list[str] = []
    unresolved: list[str] = []
    position = 0
    while True:
        match = tokens.search(text, position)
        if match is None:
            out.append(text[position:])
            break
        out.append(text[position : match.start()])
        token = match.group()
        if token.startswith("\\"):
            out.append(_ESCAPES.get(token[1], token))
            position = match.end()
        elif token in ("$${", "%%{"):
            out.append(token[1:])
            position = match.end()
        else:
            end = _end_of_code(text, match.end(), "}")
            original = text[match.start() : end]
            value = _evaluate(text[match.end() : end - 1].strip(" \t\r\n~"), change)
            if value is None:
                unresolved.append(original)
                out.append(original)
            else:
                out.append(value)
            position = end
    return "".join(out), tuple(unresolved)


def _heredoc_body(text: str) -> str:
    """hcl2 renders a heredoc as `<<-EOT\\n...\\n  EOT`: keep the lines between, dedented
    for `<<-` as terraform does."""
    lines = text.split("\n")
    body = lines[1:-1]
    if text.startswith("<<-"):
        indents = [len(line) - len(line.lstrip()) for line in body if line.strip()]
        cut = min(indents, default=0)
        body = [line[cut:] for line in body]
    return "\n".join(body)


def _evaluate(expression: str, change: ResourceChange) -> str | None:
    if expression == "count.index" and isinstance(change.index, int):
        return str(change.index)
    if expression == "each.key" and isinstance(change.index, str):
        return change.index
    match = _SELF.match(expression)
    if match is None:
        return None
    value: Any = change.before
    sensitive: Any = change.before_sensitive
    for step in _STEP.finditer(match.group(1)):
        key: str | int = step.group(1) or (
            json.loads(f'"{step.group(2)}"') if step.group(2) is not None else int(step.group(3))
        )
        if sensitive is True:
            return SENSITIVE
        value = _child(value, key)
        sensitive = _child(sensitive, key)
        if value is None:
            return None
    if sensitive is True:
        return SENSITIVE
    return _template_string(value)


def _child(value: Any, key: str | int) -> Any:
    if isinstance(value, dict):
        return value.get(str(key))
    if isinstance(value, list) and isinstance(key, int) and 0 <= key < len(value):
        return value[key]
    return None


def _template_string(value: Any) -> str | None:
    """A value as terraform interpolates it into a string; None when it would not."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return _scalar(value)
