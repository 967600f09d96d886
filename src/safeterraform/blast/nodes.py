"""What a resource instance's node is called (docs/design.md#node-names, README "Node
names"), and how a name is shown. Pure.

The one answer to "what is this node called?": the guarded apply, `check` and the state
commands all ask `node_name` (or `choose_node_name`, which also gives the node's network
address and says whether a sensitive value was passed over), and every listing of names
shows them with `display_name` / `display_label`.

The rule, in one place (README "Node names", with examples):
1. the first `[nodes] attributes` value found in the prior object (top level, then one
   level down in object attributes), never a sensitive one;
2. when that value is an address (an IP address, or a host name with dots) and the
   instance has a key of its own (its `for_each` key, else its module instance's key,
   else its plain module call's name when the resource itself has no index) that is not
   an address, the key is the name and the value its address: `powder (192.0.2.65)`;
3. nothing found: the key, else `name[index]`, else the address of the resource;
4. a node's address, when rule 2 did not give one: the first address among `ip`,
   `ip_address`, `ipv4_address`, `private_ip`, `public_ip` and `address` (looked up the
   same way). Either the name or the address may be typed (confirm.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from safeterraform.inert import changed, inert
from safeterraform.plan import ModuleStep

# Object attributes looked into first, one level down, before any other object attribute.
NESTED_FIRST = ("input", "triggers", "triggers_replace", "tags", "labels")
# Where a node's network address is looked for when its name is not one (rule 4 above).
ADDRESS_ATTRIBUTES = ("ip", "ip_address", "ipv4_address", "private_ip", "public_ip", "address")
# A host name with dots: letters, digits and hyphens in two or more labels, the last of
# which has a letter (so "v1.7.0" is a version, not a host).
_HOST = re.compile(
    r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*\.[A-Za-z0-9-]*[A-Za-z][A-Za-z0-9-]*\.?"
)
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_NEEDS_QUOTES = frozenset(" \t\n\r,'\"")

# A sensitivity mask has the shape of `before_sensitive` in the plan JSON: True marks a
# sensitive value, objects and lists mark their members. None or {}: nothing is sensitive.
SensitivityMask = Any


@dataclass(frozen=True)
class NodeName:
    """A node's name, its network address when one is known and differs, and whether a
    sensitive value that would have named it was skipped."""

    name: str
    sensitive_hidden: bool = False
    address: str | None = None


@lru_cache(maxsize=4096)
def looks_like_address(value: str) -> bool:
    """An IP address (v4 or v6) or a host name with dots: what people connect to, not
    what they call a node."""
    if _IPV4.fullmatch(value):
        return all(int(part) <= 255 for part in value.split("."))
    if ":" in value:
        import ipaddress

        try:
            ipaddress.ip_address(value)
        except ValueError:
            return False
        return True
    return _HOST.fullmatch(value) is not None


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
    *,
    with_address: bool = True,
) -> NodeName:
    """The node's name and address by the rule in this module's docstring: a configured
    attribute, unless it is an address and the instance has a key of its own; else the
    key, `name[index]` or the resource address. A sensitive value is never a name.
    `with_address=False`: the name alone (rule 4 is not looked up)."""
    secrets = _Secrets(values, sensitive)
    found = secrets.first(values, node_attributes)
    key = _instance_key(index, modules)
    if found is not None and not (
        looks_like_address(found) and key is not None and not looks_like_address(key)
    ):
        where = _address(values, found, secrets) if with_address else None
        return NodeName(found, secrets.hidden, where)
    chosen = key if key is not None else _fallback_name(index, name, modules, address)
    where = found or (_address(values, chosen, secrets) if with_address else None)
    return NodeName(chosen, secrets.hidden, where if where != chosen else None)


class _Secrets:
    """The sensitive values of one object, computed once and only when needed."""

    def __init__(self, values: Any, sensitive: SensitivityMask) -> None:
        self.values = values
        self.sensitive = sensitive
        self.hidden = False  # a sensitive value was passed over for the name
        self._scalars: set[str] | None = None

    def usable(self, steps: tuple[str | int, ...], found: str) -> bool:
        if self._scalars is None:
            marked = _marks_anything(self.sensitive)
            self._scalars = (
                set(_sensitive_scalars(self.values, self.sensitive)) if marked else set()
            )
        # A copy of a sensitive value elsewhere in the object is just as secret: the plan
        # JSON marks terraform_data's `input` member but not the same value in `output`
        # (seen with Terraform 1.15).
        return not is_sensitive(self.sensitive, steps) and found not in self._scalars

    def first(self, values: Any, paths: Sequence[str]) -> str | None:
        """The first usable scalar at one of `paths` (top level, then one level down)."""
        for path in paths:
            for steps in _candidates(values, path):
                found = scalar(_at(values, steps))
                if found is None:
                    continue
                if self.usable(steps, found):
                    return found
                self.hidden = True
        return None


def _address(values: Any, name: str, secrets: _Secrets) -> str | None:
    """The node's address (rule 4): None when there is none or it is the name itself."""
    if looks_like_address(name) or not isinstance(values, dict):
        return None
    # ADDRESS_ATTRIBUTES are single names: the places of _candidates, looked up directly
    # (thousands of instances per plan; bench/bench_check.py).
    places: list[tuple[tuple[str, ...], dict[str, Any]]] = [((), values)]
    places += [((key,), values[key]) for key in NESTED_FIRST if isinstance(values.get(key), dict)]
    places += [
        ((key,), values[key])
        for key in sorted(values)
        if key not in NESTED_FIRST and isinstance(values[key], dict)
    ]
    for attribute in ADDRESS_ATTRIBUTES:
        for prefix, place in places:
            found = scalar(place.get(attribute))
            if (
                found is not None
                and found != name
                and looks_like_address(found)
                and secrets.usable((*prefix, attribute), found)
            ):
                return found
    return None


def _instance_key(index: str | int | None, modules: tuple[ModuleStep, ...]) -> str | None:
    """What tells this instance apart by a name (rule 2): its for_each key, else its nearest
    keyed module instance's key, else (an unindexed resource) its plain module call's
    name. None for count indexes, which are not names people use."""
    if isinstance(index, str):
        return index
    if isinstance(index, int):
        return None
    for step in reversed(modules):
        if isinstance(step.key, str):
            return step.key
        if isinstance(step.key, int):
            return None
    return modules[-1].name if modules else None


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
    return choose_node_name(
        values, index, name, modules, address, node_attributes, sensitive, with_address=False
    ).name


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


def display_label(name: str, addresses: Sequence[str] = ()) -> str:
    """A node as listed to a person: its name, and its address(es) where known,
    `powder (192.0.2.65)`; either may be typed."""
    shown = display_name(name)
    return f"{shown} ({display_names(addresses)})" if addresses else shown


def usable_addresses(
    addresses: Mapping[str, Sequence[str]], names: Iterable[str]
) -> dict[str, tuple[str, ...]]:
    """The addresses that name one node each: an address shared by two nodes, or equal to
    another node's name, names neither (typing it could not say which node is meant)."""
    names = set(names)
    owners: dict[str, set[str]] = {}
    for name, found in addresses.items():
        for address in found:
            owners.setdefault(address, set()).add(name)
    return {
        name: kept
        for name in sorted(names)
        if (
            kept := tuple(
                address
                for address in dict.fromkeys(addresses.get(name, ()))
                if len(owners[address]) == 1 and (address not in names or address == name)
            )
        )
    }
