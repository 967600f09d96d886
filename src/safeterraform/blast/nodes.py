"""What a resource instance's node is called (docs/design.md#node-names), and how a name is shown.
Pure.

The one answer to "what is this node called?": the guarded apply, `check` and the state
commands all ask `node_name` (or `choose_node_name`, which also says whether a sensitive
value was passed over), and every listing of names shows them with `display_name`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from safeterraform.inert import changed, inert
from safeterraform.plan import ModuleStep

# Object attributes looked into first, one level down, before any other object attribute.
NESTED_FIRST = ("input", "triggers", "triggers_replace", "tags", "labels")
_NEEDS_QUOTES = frozenset(" \t\n\r,'\"")

# A sensitivity mask has the shape of `before_sensitive` in the plan JSON: True marks a
# sensitive value, objects and lists mark their members. None or {}: nothing is sensitive.
SensitivityMask = Any


@dataclass(frozen=True)
class NodeName:
    """A node's name, and whether a sensitive value that would have named it was skipped."""

    name: str
    sensitive_hidden: bool = False


def attribute(values: Any, path: str) -> Any:
    """The value at a dotted path (`tags.Name`, `network.0.ip`) in an object, or None."""
    current = values
    for step in path.split("."):
        current = child(current, step)
        if current is None:
            return None
    return current


def child(value: Any, key: str | int) -> Any:
    """One step into an object (string key) or list (index, also written as digits)."""
    if isinstance(value, dict):
        return value.get(str(key))
    if isinstance(value, list):
        number = int(key) if isinstance(key, str) and key.isdigit() else key
        if isinstance(number, int) and 0 <= number < len(value):
            return value[number]
    return None


def is_sensitive(mask: SensitivityMask, path: Sequence[str | int]) -> bool:
    """True when the value at `path`, or anything that contains it, is marked sensitive."""
    current = mask
    for step in path:
        if current is True:
            return True
        current = child(current, step)
    return current is True


def scalar(value: Any) -> str | None:
    """A value usable as a name: a non-empty string or a number; else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        return value or None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return None


def _sensitive_scalars(values: Any, mask: SensitivityMask) -> Iterable[str]:
    """Every scalar in `values` that the mask marks sensitive, as a name would read."""
    if mask is True:
        if isinstance(values, dict):
            for item in values.values():
                yield from _sensitive_scalars(item, True)
        elif isinstance(values, list):
            for item in values:
                yield from _sensitive_scalars(item, True)
        else:
            found = scalar(values)
            if found is not None:
                yield found
    elif isinstance(mask, dict) and isinstance(values, dict):
        for key, item in mask.items():
            yield from _sensitive_scalars(values.get(key), item)
    elif isinstance(mask, list) and isinstance(values, list):
        for item, marks in zip(values, mask, strict=False):
            yield from _sensitive_scalars(item, marks)


@lru_cache(maxsize=256)
def _steps(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))


def _candidates(values: Any, path: str) -> Iterable[tuple[str | int, ...]]:
    """Where `path` may be found: at the top level, then one level down in object attributes
    (`input`, `triggers`, `triggers_replace`, `tags`, `labels` first, then the others)."""
    steps = _steps(path)
    yield steps
    if not isinstance(values, dict):
        return
    for key in NESTED_FIRST:
        if key != steps[0] and isinstance(values.get(key), dict):
            yield (key, *steps)
    for key in sorted(values):
        if key not in NESTED_FIRST and key != steps[0] and isinstance(values[key], dict):
            yield (key, *steps)


def _marks_anything(mask: SensitivityMask) -> bool:
    if mask is True:
        return True
    if isinstance(mask, dict):
        return any(_marks_anything(item) for item in mask.values())
    if isinstance(mask, list):
        return any(_marks_anything(item) for item in mask)
    return False


def _at(values: Any, steps: tuple[str | int, ...]) -> Any:
    for step in steps:
        values = child(values, step)
        if values is None:
            return None
    return values


def choose_node_name(
    values: Any,
    index: str | int | None,
    name: str,
    modules: tuple[ModuleStep, ...],
    address: str,
    node_attributes: Sequence[str],
    sensitive: SensitivityMask = None,
) -> NodeName:
    """docs/design.md#node-names: the first configured attribute found in the prior object (top
    level, then one level down in object attributes), else the for_each key, else name[index],
    else the nearest enclosing module instance (its key, or `name[index]`; a plain module
    call by its name), else the address. A sensitive value is never a name."""
    hidden = False
    secrets: set[str] | None = None
    for path in node_attributes:
        for steps in _candidates(values, path):
            found = scalar(_at(values, steps))
            if found is None:
                continue
            if secrets is None:
                marked = _marks_anything(sensitive)
                secrets = set(_sensitive_scalars(values, sensitive)) if marked else set()
            # A copy of a sensitive value elsewhere in the object is just as secret: the
            # plan JSON marks terraform_data's `input` member but not the same value in
            # `output` (seen with Terraform 1.15).
            if is_sensitive(sensitive, steps) or found in secrets:
                hidden = True
                continue
            return NodeName(found, hidden)
    return NodeName(_fallback_name(index, name, modules, address), hidden)


def _fallback_name(
    index: str | int | None, name: str, modules: tuple[ModuleStep, ...], address: str
) -> str:
    if isinstance(index, str):
        return index
    if isinstance(index, int):
        return f"{name}[{index}]"
    for step in reversed(modules):  # a keyed module instance tells instances apart
        if isinstance(step.key, str):
            return step.key
        if isinstance(step.key, int):
            return f"{step.name}[{step.key}]"
    if modules:
        return modules[-1].name  # plain module calls: the nearest one's name
    return address


def node_name(
    values: Any,
    index: str | int | None,
    name: str,
    modules: tuple[ModuleStep, ...],
    address: str,
    node_attributes: Sequence[str],
    sensitive: SensitivityMask = None,
) -> str:
    """The node name of a resource instance (see choose_node_name)."""
    return choose_node_name(values, index, name, modules, address, node_attributes, sensitive).name


def state_sensitivity_mask(sensitive_attributes: Any) -> SensitivityMask:
    """A v4 state instance's `sensitive_attributes` (a list of paths, each a list of
    `{"type": "get_attr"|"index", "value": ...}` steps) as a mask for `node_name`."""
    mask: dict[str, Any] = {}
    for path in sensitive_attributes if isinstance(sensitive_attributes, list) else ():
        steps = [_state_step(step) for step in path] if isinstance(path, list) else [None]
        if not steps or None in steps:
            continue
        current = mask
        for step in steps[:-1]:
            nested = current.get(str(step))
            if nested is True:
                break
            if not isinstance(nested, dict):
                nested = current[str(step)] = {}
            current = nested
        else:
            current[str(steps[-1])] = True
    return mask


_CTY_COLLECTIONS = frozenset({"object", "map", "list", "set", "tuple"})


def state_values(attributes: Any) -> Any:
    """A v4 state instance's `attributes` with dynamically typed values unwrapped: state
    stores them as `{"value": ..., "type": ...}` (terraform_data's `input`, `output`,
    `triggers_replace`), the plan JSON as the plain value. Names are looked up in this."""
    if not isinstance(attributes, dict):
        return attributes
    return {key: _unwrapped(value) for key, value in attributes.items()}


def _unwrapped(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"value", "type"}:
        kind = value["type"]
        if isinstance(kind, str) or (
            isinstance(kind, list) and kind and kind[0] in _CTY_COLLECTIONS
        ):
            return value["value"]
    return value


def _state_step(step: Any) -> str | int | None:
    if not isinstance(step, dict):
        return None
    value = step.get("value")
    if step.get("type") == "index" and isinstance(value, dict):
        value = value.get("value")  # {"value": "k", "type": "string"}
    if isinstance(value, bool):
        return None
    if isinstance(value, (str, int)):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def display_name(name: str) -> str:
    """A node name as listed to a person: shell-quoted when it holds a space, comma or
    quote (or is empty), so it can be typed back exactly (docs/design.md#node-names). Control
    characters are shown inert (`\\x1b`, quoted), as confirm.matches accepts them typed."""
    if changed(name):
        name = inert(name)
    elif name and not _NEEDS_QUOTES.intersection(name):
        return name
    return "'" + name.replace("'", "'\"'\"'") + "'"  # shlex.quote leaves commas bare


def display_names(names: Iterable[str], separator: str = ", ") -> str:
    """Names as listed to a person (see display_name)."""
    return separator.join(display_name(name) for name in names)
