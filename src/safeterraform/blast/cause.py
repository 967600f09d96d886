"""Why a destroy or replacement happens: the chain from the attribute that forces it back
through references, locals, variables and module boundaries to the origin (issue 19). Pure.

A dictionary walk over what the plan already holds: the resource changes (old and new
values), the root variables, the `configuration` section, and the expression text in the
configuration snapshot (for full references, locals, and earlier variable values). Nothing
is evaluated; an earlier value is only inferred where an expression passes it through
unchanged (`var.x`, `"prefix-${var.x}"`, an object member). What cannot be traced is said.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from safeterraform.blast import hcl
from safeterraform.blast.interpolate import SENSITIVE
from safeterraform.blast.nodes import child, is_sensitive
from safeterraform.blast.snapshot import ConfigIndex, ModuleConfig
from safeterraform.plan import (
    Index,
    ModuleStep,
    Plan,
    ResourceChange,
    format_path,
    module_key,
    parse_module_address,
)

UNKNOWN = "(known after apply)"
MAX_DEPTH = 12  # links; deeper chains end in "origin not found"
MAX_LEAVES = 3  # changed attributes shown per resource link
_VALUE_WIDTH = 60
_NOTE_WIDTH = 200
_NO_HINT: Any = object()  # "the earlier value is not known" (None is a value: null)
_ALL: Any = object()  # every instance of a resource or module call
_MARK = "\x00"  # stands for a masked or unknown member while a value is encoded

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Link:
    """One step of a cause chain, in words."""

    kind: str  # attribute, triggered_by, local, module_input, module_output, resource, variable
    subject: str  # what this link is about: an address, `local.x`, `var.x`
    text: str  # the link in one line, values included
    old: str | None = None  # rendered as Terraform renders values; None when not applicable
    new: str | None = None
    origin: bool = False
    path: str = ""  # the changed attribute, when the link is about one


@dataclass(frozen=True)
class Cause:
    """Why one destructive change happens."""

    kind: str  # chain, configuration, requested, tainted, deposed, removed, destroy, not_found
    summary: str  # the origin in one line
    links: tuple[Link, ...] = ()
    group: str = ""  # causes with the same group share an origin (instance keys left out)
    shape: str = ""  # the summary without instance keys and values, for a group's headline
    note: str = ""  # values the chain read that the plan records only as they are now
    detail: str = ""  # the difference alone, `"a" → "b"`, for a line under a group's shape

    @property
    def origin(self) -> Link | None:
        return next((link for link in self.links if link.origin), None)


def show(value: Any, sensitive: Any = None, unknown: Any = None, width: int | None = None) -> str:
    """A value as Terraform shows it in a plan: JSON-like, sensitive members masked, unknown
    members as "(known after apply)", values longer than `width` cut."""
    width = width or _VALUE_WIDTH
    if sensitive is True:
        return SENSITIVE
    if unknown is True:
        return UNKNOWN
    if isinstance(value, str) and len(value) < width:
        return json.dumps(value, ensure_ascii=False)
    marked = _marked(value, sensitive, unknown)
    text = json.dumps(marked, ensure_ascii=False, sort_keys=True, separators=(", ", ": "))
    text = text.replace(f'"{_MARK}S"', SENSITIVE).replace(f'"{_MARK}U"', UNKNOWN)
    return text if len(text) <= width else text[: width - 1] + "…"


def _marked(value: Any, sensitive: Any, unknown: Any) -> Any:
    if sensitive is True:
        return f"{_MARK}S"
    if unknown is True:
        return f"{_MARK}U"
    if isinstance(value, dict) or isinstance(unknown, dict):
        keys = set(value or {}) | {k for k, v in (unknown or {}).items() if v is True}
        return {
            key: _marked(child(value, key), child(sensitive, key), child(unknown, key))
            for key in keys
        }
    if isinstance(value, list):
        return [
            _marked(item, child(sensitive, number), child(unknown, number))
            for number, item in enumerate(value)
        ]
    return value


def _at(value: Any, path: Path) -> Any:
    for step in path:
        value = child(value, step)
    return value


@dataclass(frozen=True)
class _Scope:
    """Where an expression is evaluated: a module instance, and the block whose
    each/count apply (a resource `type.name` or a module call `module.x`)."""

    module_address: str
    steps: tuple[ModuleStep, ...]
    block: str | None = None
    index: Index = None

    @property
    def key(self) -> str:
        return module_key(self.steps)


_HEAD = re.compile(r"[A-Za-z_][\w-]*")
_STEP = re.compile(r'\.([A-Za-z_][\w-]*)|\.(\d+)|\[\s*("(?:[^"\\]|\\.)*"|[^\[\]]*?)\s*\]')


@lru_cache(maxsize=4096)
def _split(reference: str) -> tuple[str | tuple[str], ...]:
    """`a.b["k"].c` -> ["a", "b", ('"k"',), "c"]: names, and index expressions as 1-tuples."""
    head = _HEAD.match(reference)
    if head is None:
        return ()
    parts: list[str | tuple[str]] = [head.group()]
    for match in _STEP.finditer(reference, head.end()):
        if match.group(1) is not None:
            parts.append(match.group(1))
        elif match.group(2) is not None:
            parts.append((match.group(2),))
        else:
            parts.append((match.group(3),))
    return tuple(parts)


def _names(parts: Sequence[str | tuple[str]]) -> Path:
    """The attribute path after a resource: names, and literal indexes."""
    path: list[str | int] = []
    for part in parts:
        if isinstance(part, str):
            path.append(part)
            continue
        literal = _literal(part[0])
        if literal is _ALL:
            break
        path.append(literal)
    return tuple(path)


def _literal(text: str) -> Any:
    text = text.strip()
    if text.isdigit():
        return int(text)
    if len(text) >= 2 and text[0] == text[-1] == '"':
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return _ALL
    return _ALL


def invert(expression: str | None, value: Any, reference: str) -> Any:
    """The value `reference` had, given that `expression` evaluated to `value` — only where
    the expression passes it through: the reference itself, a one-interpolation template,
    or an object member that does. Otherwise _NO_HINT."""
    if expression is None or value is _NO_HINT:
        return _NO_HINT
    text = expression.strip()
    if text == reference:
        return value
    template = hcl.single_interpolation(text)
    if template is not None:
        prefix, inner, suffix = template
        if inner != reference or not isinstance(value, str):
            return _NO_HINT
        if (
            value.startswith(prefix)
            and value.endswith(suffix)
            and (len(value) >= len(prefix) + len(suffix))
        ):
            return value[len(prefix) : len(value) - len(suffix)]
        return _NO_HINT
    items = hcl.object_items(text) if reference in text else None
    if items is not None and isinstance(value, dict):
        for key, item in items.items():
            if reference in item and key in value:
                found = invert(item, value[key], reference)
                if found is not _NO_HINT:
                    return found
    return _NO_HINT


@dataclass(frozen=True)
class _Found:
    links: tuple[Link, ...]


class ConfigurationNeeded(Exception):
    """A cause chain needs the plan's `configuration` section, which a natively read plan
    does not carry: read the plan again with `terraform show -json`."""


class Explainer:
    """Cause chains for the destructive changes of one plan."""

    def __init__(self, plan: Plan, config: ConfigIndex) -> None:
        self.plan = plan
        self.config = config
        self._instances: dict[tuple[str, str], list[ResourceChange]] = {}
        self._children: dict[tuple[str, str], set[str]] = {}
        for change in plan.resource_changes:
            if change.deposed:
                continue
            block = ("data." if change.mode == "data" else "") + f"{change.type}.{change.name}"
            self._instances.setdefault((change.module_address, block), []).append(change)
            parent = ""
            for step in change.modules:
                key = "" if step.key is None else f"[{json.dumps(step.key)}]"
                address = f"{parent}{'.' if parent else ''}module.{step.name}{key}"
                self._children.setdefault((parent, step.name), set()).add(address)
                parent = address
        self._lost: str | None = None
        self._unrecorded: list[str] = []
        self._root_variables: dict[tuple[str, str], tuple[_Found | None, tuple[str, ...]]] = {}

    # --- entry ---------------------------------------------------------------------------

    def explain(self, change: ResourceChange, reason_words: str | None) -> Cause:
        """The cause of one destructive change."""
        reason = change.action_reason or ""
        if change.deposed:
            return _plain(
                "deposed", "a deposed object (left by an earlier replacement) is destroyed"
            )
        if reason == "replace_by_request":
            return _plain("requested", "replacement was requested with -replace")
        if reason == "replace_because_tainted":
            return _plain("tainted", "the object is tainted, so Terraform replaces it")
        if reason.startswith(("delete_because", "forgot_because")) or (
            change.forgets and not change.replaces
        ):
            return _plain("removed", reason_words or "the configuration no longer has it")
        if not change.replaces and not reason:
            return _plain("destroy", "the plan destroys it (terraform destroy, or plan -destroy)")
        self._lost = None
        self._unrecorded = []
        scope = _Scope(change.module_address, change.modules, _block(change), change.index)
        if reason == "replace_by_triggers":
            return self._triggered(change, scope)
        if not change.replace_paths:
            return _plain(
                "not_found",
                "origin not found in the plan: it names no attribute that forces the replacement",
            )
        first: Cause | None = None
        for path in change.replace_paths:
            cause = self._forced(change, scope, path)
            if cause.kind == "chain":
                return cause
            first = first or cause
        assert first is not None
        return first

    # --- the first link ------------------------------------------------------------------

    def _forced(self, change: ResourceChange, scope: _Scope, path: Path) -> Cause:
        written = format_path(path)
        old = show(_at(change.before, path), _at(change.before_sensitive, path))
        new = _new_value(change, path)
        attribute = path[0] if path and isinstance(path[0], str) else None
        text, references = self._expression(scope, scope.block, attribute)
        shown = f" (= {_cut(text)})" if text and references else ""
        what, how = _difference(change, path, old, new)
        words = f"{what} changes{how}{shown}"
        subject = f"{change.address}.{written}"
        first = Link("attribute", subject, words, old, new, path=written)
        if attribute is None or (text is None and not references):
            return _cause(
                "not_found",
                f"origin not found in the plan: {what} of {change.address} changes{how}, "
                "and the configuration does not set it (the provider forces the replacement)",
                (first,),
            )
        hint = _at(change.before, (attribute,))
        found = self._upstream(scope, text, references, hint, 1, frozenset())
        if found is not None:
            return self._chain((first, *found.links))
        if self._lost is not None:
            return _cause("not_found", f"origin not found in the plan: {self._lost}", (first,))
        origin = Link("attribute", subject, words, old, new, True, written)
        summary = f"{what} of {change.address} changed{how}"
        detail = _arrow(how)
        if self._unrecorded:
            return _cause("chain", summary, (origin,), self._note(), detail)
        return _cause(
            "configuration", summary + " in its own configuration", (origin,), detail=detail
        )

    def _triggered(self, change: ResourceChange, scope: _Scope) -> Cause:
        module = self.config.module(scope.key)
        text = module.replace_triggered_by(scope.block or "") if module else None
        first = Link(
            "triggered_by",
            change.address,
            f"lifecycle.replace_triggered_by = {_cut(text or '?')}",
        )
        if text is not None:
            found = self._upstream(
                scope, text, hcl.traversals(text), _NO_HINT, 1, frozenset(), changed_only=True
            )
            if found is not None:
                return self._chain((first, *found.links))
        why = self._lost or "no referenced object changes in the plan"
        return _cause("not_found", f"origin not found in the plan: {why}", (first,))

    def _chain(self, links: tuple[Link, ...]) -> Cause:
        origin = links[-1]
        note = self._note() if origin.kind != "variable" else ""
        detail = f"{origin.old} → {origin.new}" if origin.path and origin.old is not None else ""
        return _cause("chain", _summary(origin), links, note, detail)

    def _note(self) -> str:
        """What the chain read whose earlier value the plan does not hold: said once per
        cause group by the renderings, not on every line (issue 27)."""
        if not self._unrecorded:
            return ""
        values = ", ".join(dict.fromkeys(self._unrecorded))
        return f"{values}; the plan does not record its value before"

    # --- following references ------------------------------------------------------------

    def _upstream(
        self,
        scope: _Scope,
        text: str | None,
        references: Iterable[str],
        hint: Any,
        depth: int,
        seen: frozenset[tuple[str, str]],
        changed_only: bool = False,
    ) -> _Found | None:
        """The chain from the first reference that leads to a change in the plan."""
        for reference in references:
            found = self._follow(
                scope, reference, invert(text, hint, reference), depth, seen, changed_only
            )
            if found is not None:
                return found
        return None

    def _follow(
        self,
        scope: _Scope,
        reference: str,
        hint: Any,
        depth: int,
        seen: frozenset[tuple[str, str]],
        changed_only: bool = False,
    ) -> _Found | None:
        if depth > MAX_DEPTH:
            self._lost = f"the chain is longer than {MAX_DEPTH} links"
            return None
        visit = (f"{scope.module_address}|{scope.block}|{scope.index!r}", reference)
        if visit in seen:
            self._lost = f"the references form a cycle at {reference}"
            return None
        seen = seen | {visit}
        parts = _split(reference)
        if len(parts) < 2 or not isinstance(parts[1], str):
            return None
        head, name = parts[0], parts[1]
        if head == "var" and not scope.steps:
            # A root variable's link depends on nothing but the value seen downstream:
            # thousands of instances that read one variable share one answer.
            try:
                memo = (name, json.dumps(hint, sort_keys=True) if hint is not _NO_HINT else "")
            except (TypeError, ValueError):
                memo = None
            if memo is not None and memo in self._root_variables:
                found, unrecorded = self._root_variables[memo]
                self._unrecorded.extend(unrecorded)
                return found
            before = len(self._unrecorded)
            found = self._variable(scope, name, hint, depth, seen)
            if memo is not None:
                self._root_variables[memo] = (found, tuple(self._unrecorded[before:]))
            return found
        if head == "var":
            return self._variable(scope, name, hint, depth, seen)
        if head == "local":
            return self._local(scope, name, hint, depth, seen)
        if head == "module":
            rest = parts[2:]
            key: Any = None
            if rest and isinstance(rest[0], tuple):
                key = self._key(scope, rest[0][0])
                rest = rest[1:]
            output = rest[0] if rest and isinstance(rest[0], str) else None
            return self._module_output(scope, name, key, output, hint, depth, seen)
        if head == "each":
            return self._for_each(scope, depth, seen) if name == "value" else None
        if head in ("count", "path", "terraform", "self"):
            return None
        rest = parts[2:]
        if head == "data":
            if not rest or not isinstance(rest[0], str):
                return None
            block, rest = f"data.{name}.{rest[0]}", rest[1:]
        else:
            block = f"{head}.{name}"
        key = _ALL
        if rest and isinstance(rest[0], tuple):
            key = self._key(scope, rest[0][0])
            rest = rest[1:]
        return self._resource(scope, block, key, _names(rest), hint, depth, seen)

    def _key(self, scope: _Scope, text: str) -> Any:
        text = text.strip()
        if text == "each.key" and isinstance(scope.index, str):
            return scope.index
        if text == "count.index" and isinstance(scope.index, int):
            return scope.index
        return _literal(text)

    def _resource(
        self,
        scope: _Scope,
        block: str,
        key: Any,
        path: Path,
        hint: Any,
        depth: int,
        seen: frozenset[tuple[str, str]],
    ) -> _Found | None:
        instances = self._instances.get((scope.module_address, block), [])
        if key is _ALL and scope.index is not None:
            # A whole-resource reference (or the plan JSON's, which drops `[each.key]`):
            # an instance with the same key as the one being explained comes first.
            instances = sorted(instances, key=lambda change: change.index != scope.index)
        for target in instances:
            if key is not _ALL and target.index != key:
                continue
            if target.actions in (("no-op",), ()) or target.deposed:
                continue
            found = self._resource_change(target, path, depth, seen)
            if found is not None:
                return found
        return None

    def _resource_change(
        self, target: ResourceChange, path: Path, depth: int, seen: frozenset[tuple[str, str]]
    ) -> _Found | None:
        """The link for an upstream instance that changes, then what changed it; None when
        the part of it that is referenced does not change."""
        target_scope = _Scope(target.module_address, target.modules, _block(target), target.index)
        configured = self._configured(self.config.module(target_scope.key), target_scope)
        leaves: list[tuple[Path, str, str]] = []
        if target.before is not None:
            if path and path[0] in configured:
                leaves = _changed_leaves(target, path)
                if not leaves:
                    return None  # what is read does not change
            else:  # a computed attribute (id, output) or the whole object: show the inputs
                leaves = [
                    leaf for leaf in _changed_leaves(target, ()) if leaf[0][0] in configured
                ] or _changed_leaves(target, path)
        details = ", ".join(
            f"{format_path(p)} {old} → {new}" for p, old, new in leaves[:MAX_LEAVES]
        )
        if len(leaves) > MAX_LEAVES:
            details += f", and {len(leaves) - MAX_LEAVES} more"
        words = f"{target.address} {_verb(target)}" + (f": {details}" if details else "")
        old = new = None
        written = ""
        if len(leaves) == 1:
            written, old, new = format_path(leaves[0][0]), leaves[0][1], leaves[0][2]
        attributes = [a for a in dict.fromkeys(str(p[0]) for p, _, _ in leaves) if a in configured]
        if target.before is None:
            attributes = sorted(configured)
        for attribute in attributes:
            text, references = self._expression(target_scope, target_scope.block, attribute)
            hint = _at(target.before, (attribute,)) if target.before is not None else _NO_HINT
            found = self._upstream(target_scope, text, references, hint, depth + 1, seen)
            if found is not None:
                link = Link("resource", target.address, words, old, new, path=written)
                return _Found((link, *found.links))
        return _Found((Link("resource", target.address, words, old, new, True, written),))

    def _configured(self, module: ModuleConfig | None, scope: _Scope) -> set[str]:
        """The attributes a resource block sets in the configuration."""
        if module is not None and scope.block in module.bodies:
            body = module.bodies[scope.block].attributes()
            return {name for name in body if name not in ("count", "for_each", "provider")}
        resource = self._json_resource(scope.steps, scope.block or "")
        expressions = resource.get("expressions") if resource else None
        return set(expressions) if isinstance(expressions, dict) else set()

    def _variable(
        self, scope: _Scope, name: str, hint: Any, depth: int, seen: frozenset[tuple[str, str]]
    ) -> _Found | None:
        if not scope.steps:
            if name not in self.plan.variables:
                return None
            value = self.plan.variables[name]
            sensitive = self._variable_sensitive((), name)
            if hint is _NO_HINT:
                # Said once per cause group (render.notes): room for the whole value.
                shown = SENSITIVE if sensitive else show(value, width=_NOTE_WIDTH)
                self._unrecorded.append(f"var.{name} is {shown} now")
                return None
            if hint == value:
                return None  # unchanged: not a cause
            old = SENSITIVE if sensitive else show(hint)
            new = SENSITIVE if sensitive else show(value)
            words = f"var.{name} changed from {old} to {new}"
            return _Found((Link("variable", f"var.{name}", words, old, new, origin=True),))
        call = scope.steps[-1]
        parent_steps = scope.steps[:-1]
        parent_address = _module_address(parent_steps)
        parent = _Scope(parent_address, parent_steps, f"module.{call.name}", call.key)
        text, references = self._expression(parent, parent.block, name)
        found = self._upstream(parent, text, references, hint, depth + 1, seen)
        if found is None:
            return None
        shown = f" = {_cut(text)}" if text else ""
        words = f"var.{name} of {scope.module_address} is the module input {name}{shown}"
        link = Link("module_input", f"{scope.module_address}.var.{name}", words)
        return _Found((link, *found.links))

    def _local(
        self, scope: _Scope, name: str, hint: Any, depth: int, seen: frozenset[tuple[str, str]]
    ) -> _Found | None:
        module = self.config.module(scope.key)
        text = module.local(name) if module else None
        if text is None:
            self._lost = f"local.{name} is not in the configuration snapshot"
            return None
        plain = _Scope(scope.module_address, scope.steps)
        found = self._upstream(plain, text, hcl.traversals(text), hint, depth + 1, seen)
        if found is None:
            return None
        where = f" of {scope.module_address}" if scope.module_address else ""
        link = Link("local", f"local.{name}", f"local.{name}{where} = {_cut(text)}")
        return _Found((link, *found.links))

    def _module_output(
        self,
        scope: _Scope,
        call: str,
        key: Any,
        output: str | None,
        hint: Any,
        depth: int,
        seen: frozenset[tuple[str, str]],
    ) -> _Found | None:
        if output is None:
            return None
        for address in sorted(self._children.get((scope.module_address, call), ())):
            steps = parse_module_address(address)
            if key not in (None, _ALL) and steps[-1].key != key:
                continue
            inner = _Scope(address, steps)
            module = self.config.module(inner.key)
            text = module.output(output) if module else None
            references: Sequence[str] = hcl.traversals(text) if text is not None else ()
            if text is None:
                references = self._json_output_references(steps, output)
            found = self._upstream(inner, text, references, hint, depth + 1, seen)
            if found is not None:
                shown = f" = {_cut(text)}" if text else ""
                link = Link(
                    "module_output",
                    f"{address}.output.{output}",
                    f"output {output} of {address}{shown}",
                )
                return _Found((link, *found.links))
        return None

    def _for_each(
        self, scope: _Scope, depth: int, seen: frozenset[tuple[str, str]]
    ) -> _Found | None:
        if scope.block is None:
            return None
        # A resource's for_each is in its own module, a module call's in the calling module:
        # either way, the module of `scope`, without each/count.
        where = _Scope(scope.module_address, scope.steps)
        text, references = self._expression(scope, scope.block, "for_each")
        return self._upstream(where, text, references, _NO_HINT, depth + 1, seen)

    # --- configuration lookups -----------------------------------------------------------

    def _expression(
        self, scope: _Scope, block: str | None, attribute: str | None
    ) -> tuple[str | None, Sequence[str]]:
        """An attribute's expression text (from the snapshot) and its references (full
        traversals from the text; the plan JSON's `references` without a snapshot)."""
        if block is None or attribute is None:
            return None, ()
        module = self.config.module(scope.key)
        text = module.expression(block, attribute) if module else None
        if text is not None:
            return text, hcl.traversals(text)
        if block.startswith("module."):
            call = self._json_module(scope.steps).get("module_calls", {}).get(block[7:], {})
            expression = (call.get("expressions") or {}).get(attribute)
        else:
            resource = self._json_resource(scope.steps, block) or {}
            key = f"{attribute}_expression" if attribute in ("for_each", "count") else None
            expression = (
                resource.get(key) if key else (resource.get("expressions") or {}).get(attribute)
            )
        references = expression.get("references") if isinstance(expression, dict) else None
        return None, _most_specific(references or ())

    def _json_module(
        self, steps: tuple[ModuleStep, ...], *, variables_only: bool = False
    ) -> Mapping[str, Any]:
        if not (variables_only or self.plan.configuration_complete):
            raise ConfigurationNeeded
        module: Any = self.plan.configuration.get("root_module") or {}
        for step in steps:
            module = ((module.get("module_calls") or {}).get(step.name) or {}).get("module") or {}
        return module if isinstance(module, dict) else {}

    def _json_resource(self, steps: tuple[ModuleStep, ...], block: str) -> Mapping[str, Any] | None:
        for resource in self._json_module(steps).get("resources") or ():
            if isinstance(resource, dict) and resource.get("address") == block:
                return resource
        return None

    def _json_output_references(self, steps: tuple[ModuleStep, ...], output: str) -> list[str]:
        entry = (self._json_module(steps).get("outputs") or {}).get(output) or {}
        expression = entry.get("expression") if isinstance(entry, dict) else None
        references = expression.get("references") if isinstance(expression, dict) else None
        return _most_specific(references or ())

    def _variable_sensitive(self, steps: tuple[ModuleStep, ...], name: str) -> bool:
        module = self._json_module(steps, variables_only=not steps)
        variable = (module.get("variables") or {}).get(name) or {}
        return isinstance(variable, dict) and variable.get("sensitive") is True


def _block(change: ResourceChange) -> str:
    return ("data." if change.mode == "data" else "") + f"{change.type}.{change.name}"


def _module_address(steps: Sequence[ModuleStep]) -> str:
    parts = []
    for step in steps:
        key = "" if step.key is None else f"[{json.dumps(step.key)}]"
        parts.append(f"module.{step.name}{key}")
    return ".".join(parts)


def _most_specific(references: Iterable[Any]) -> list[str]:
    """Terraform lists `a.b.c`, `a.b` and `a`: keep the longest of each family."""
    texts = [text for text in references if isinstance(text, str)]
    return [
        text
        for text in texts
        if not any(other != text and other.startswith((f"{text}.", f"{text}[")) for other in texts)
    ]


def _new_value(change: ResourceChange, path: Path) -> str:
    if "create" not in change.actions and "update" not in change.actions:
        return "(none: destroyed)"
    return show(
        _at(change.after, path), _at(change.after_sensitive, path), _at(change.after_unknown, path)
    )


def _verb(change: ResourceChange) -> str:
    if change.replaces:
        return "is replaced"
    if "create" in change.actions:
        return "is created"
    if change.deletes:
        return "is destroyed"
    if "read" in change.actions:
        return "is read during apply"
    return "is updated"


def _changed_leaves(change: ResourceChange, path: Path) -> list[tuple[Path, str, str]]:
    """(path, old, new) for each changed value under `path`, as Terraform would show them."""
    found: list[tuple[Path, str, str]] = []

    def walk(at: Path) -> None:
        before, after = _at(change.before, at), _at(change.after, at)
        unknown = _at(change.after_unknown, at)
        if unknown is not True and isinstance(before, dict) and isinstance(after, dict):
            for key in sorted(set(before) | set(after) | set(unknown or {})):
                walk((*at, key))
            return
        if unknown is not True and before == after:
            return
        # A member of a sensitive object is as sensitive as the object (either side).
        old_sensitive = is_sensitive(change.before_sensitive, at)
        new_sensitive = is_sensitive(change.after_sensitive, at)
        if at and old_sensitive and new_sensitive:
            found.append((at, SENSITIVE, SENSITIVE))
            return
        plain = not (old_sensitive or new_sensitive or unknown is True)
        if plain and isinstance(before, str) and isinstance(after, str):
            found.append((at, *_string_difference(before, after)))
            return
        found.append(
            (
                at,
                SENSITIVE if old_sensitive else show(before, _at(change.before_sensitive, at)),
                SENSITIVE
                if new_sensitive
                else show(after, _at(change.after_sensitive, at), unknown),
            )
        )

    walk(path)
    return [leaf for leaf in found if leaf[0]]


def _summary(origin: Link) -> str:
    if origin.kind == "resource" and origin.path:
        return f"{origin.path} of {origin.subject} changed from {origin.old} to {origin.new}"
    return origin.text


def _plain(kind: str, summary: str) -> Cause:
    """A cause that is not a chain: Terraform's own reason says it all."""
    return Cause(kind, summary, (), f"{kind}|{summary}", summary)


def _cause(
    kind: str, summary: str, links: tuple[Link, ...], note: str = "", detail: str = ""
) -> Cause:
    """A cause, with its group (origins alike but for instance keys) and shape."""
    origin = next((link for link in links if link.origin), links[-1])
    group = f"{kind}|{origin.kind}|{_unkeyed(origin.subject)}|{origin.path}"
    if origin.kind == "variable":
        group += f"|{origin.old}|{origin.new}"
    head, changed = _CHANGED.split(summary, maxsplit=1)[0], _CHANGED.search(summary)
    shape = _unkeyed(head) + " changed" if changed else _unkeyed(summary)
    return Cause(kind, summary, links, group, shape, note, detail)


def _arrow(how: str) -> str:
    """` from "a" to "b"` -> `"a" → "b"`; `: x "a" → "b"` -> `x "a" → "b"`; ` to X` -> `→ X`."""
    if how.startswith(": "):
        return how[2:]
    if how.startswith(" to "):
        return "→ " + how[4:]
    old, _, new = how[len(" from ") :].rpartition(" to ")
    return f"{old} → {new}"


_CHANGED = re.compile(r" changed(?: from |: | to )")


def _difference(change: ResourceChange, path: Path, old: str, new: str) -> tuple[str, str]:
    """(what changes, how) for the attribute at `path`: the changed keys only when an
    object changes (`triggers_replace.node`, ` from "a" to "b"`), a long string around its
    first difference, never cut in the middle of the difference (issue 27)."""
    written = format_path(path)
    before = _at(change.before, path)
    after = _at(change.after, path)
    if new != UNKNOWN and ("create" in change.actions or "update" in change.actions):
        both = isinstance(before, dict) and isinstance(after, dict)
        leaves = _changed_leaves(change, path) if both else []
        deeper = [leaf for leaf in leaves if len(leaf[0]) > len(path)]
        if deeper and len(deeper) == len(leaves) and isinstance(after, dict):
            if len(deeper) == 1:
                (leaf, old, changed), *_ = deeper
                return format_path(leaf), f" from {old} to {changed}"
            shown = ", ".join(
                f"{format_path(leaf[len(path) :])} {old} → {changed}"
                for leaf, old, changed in deeper[:MAX_LEAVES]
            )
            more = f", and {len(deeper) - MAX_LEAVES} more" if len(deeper) > MAX_LEAVES else ""
            return written, f": {shown}{more}"
        sensitive = is_sensitive(change.before_sensitive, path) or is_sensitive(
            change.after_sensitive, path
        )
        unknown = _at(change.after_unknown, path) is True
        if isinstance(before, str) and isinstance(after, str) and not (sensitive or unknown):
            shown_old, changed = _string_difference(before, after)
            return written, f" from {shown_old} to {changed}"
    if old.endswith("…") and new == UNKNOWN:
        return written, f" to {new}"  # the new value is not known: its old one says little
    return written, f" from {old} to {new}"


def _string_difference(old: str, new: str, context: int = 24) -> tuple[str, str]:
    """Two strings as JSON, cut around their first difference when long, so that what
    differs is always shown."""
    if len(old) < _VALUE_WIDTH and len(new) < _VALUE_WIDTH:
        return json.dumps(old, ensure_ascii=False), json.dumps(new, ensure_ascii=False)
    start = 0
    while start < min(len(old), len(new)) and old[start] == new[start]:
        start += 1
    end = 0
    while end < min(len(old), len(new)) - start and old[-1 - end] == new[-1 - end]:
        end += 1
    begin = max(0, start - context)

    def cut(text: str) -> str:
        stop = len(text) - end
        tail = min(len(text), stop + context)
        middle = json.dumps(text[begin:tail], ensure_ascii=False)[1:-1]
        return f'"{"…" if begin else ""}{middle}{"…" if tail < len(text) else ""}"'

    return cut(old), cut(new)


_KEY = re.compile(r'\[(?:"(?:[^"\\]|\\.)*"|\d+)\]')


@lru_cache(maxsize=4096)
def unkeyed_text(text: str) -> str:
    """Text with the instance keys of its addresses left out: what instances of one block
    have in common."""
    return _KEY.sub("", text)


_unkeyed = unkeyed_text


def _cut(text: str, width: int = 70) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= width else one_line[: width - 1] + "…"
