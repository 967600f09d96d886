"""What a state-changing command without a plan touches, and what must be typed (pure).

`state rm|mv|push|replace-provider`, `taint`, `untaint`, `import`, `refresh`,
`workspace delete`, `force-unlock`, `init -migrate-state|-force-copy`, `test`
(docs/design.md#command-classes): the node names of the addresses (§7) where there are any,
otherwise the workspace name. The flow that asks is flows/state.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from safeterraform.argv import positionals
from safeterraform.blast import node_name
from safeterraform.plan import parse_module_address

# Commands whose positional arguments are resource addresses, and how many of them.
ADDRESS_COMMANDS = {"state rm": None, "state mv": 1, "taint": 1, "untaint": 1, "import": 1}


@dataclass(frozen=True)
class Touched:
    """What a state-changing command touches and what the operator must type."""

    what: str  # one line for the operator
    addresses: tuple[str, ...]
    expected: tuple[str, ...]  # names to type


def instance_address(resource: Mapping[str, Any], instance: Mapping[str, Any]) -> str:
    """The address of one instance in a v4 state file."""
    parts = [resource["module"]] if resource.get("module") else []
    prefix = "data." if resource.get("mode") == "data" else ""
    parts.append(f"{prefix}{resource['type']}.{resource['name']}")
    address = ".".join(parts)
    key = instance.get("index_key")
    if isinstance(key, str):
        address += f"[{json.dumps(key)}]"
    elif isinstance(key, int):
        address += f"[{key}]"
    return address


def _is_cty_type(value: Any) -> bool:
    """A cty type in JSON: "string", ["object", {...}], ["list", "string"], ..."""
    return isinstance(value, str) or (
        isinstance(value, list) and bool(value) and isinstance(value[0], str)
    )


def plain_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """State attributes as plan JSON shows them: a dynamically typed attribute (such as
    terraform_data's `input`) is stored in state as {"value": ..., "type": ...}."""
    return {
        name: value["value"]
        if isinstance(value, dict)
        and set(value) == {"value", "type"}
        and _is_cty_type(value["type"])
        else value
        for name, value in attributes.items()
    }


def covers(given: str, address: str) -> bool:
    """`given` names `address` itself, or the resource or module that contains it."""
    return address == given or (
        len(address) > len(given) and address.startswith(given) and address[len(given)] in "[."
    )


def nodes_for(
    addresses: Iterable[str], state: Mapping[str, Any], attributes: Sequence[str]
) -> list[str]:
    """Node names (§7) of every state instance the addresses cover; unknown ones as given."""
    names: list[str] = []
    for given in addresses:
        found = False
        for resource in state.get("resources", []):
            for instance in resource.get("instances", []):
                address = instance_address(resource, instance)
                if covers(given, address):
                    found = True
                    names.append(
                        node_name(
                            plain_attributes(instance.get("attributes") or {}),
                            instance.get("index_key"),
                            resource["name"],
                            parse_module_address(resource.get("module", "")),
                            address,
                            attributes,
                        )
                    )
        if not found:
            # Not in the state (yet): name it from the address alone.
            names.append(node_name({}, _index_of(given), _name_of(given), (), given, attributes))
    return sorted(set(names))


def _index_of(address: str) -> str | int | None:
    """The instance key at the end of an address: `x.y["a"]` -> "a", `x.y[0]` -> 0."""
    if not address.endswith("]") or "[" not in address:
        return None
    raw = address[address.rindex("[") + 1 : -1]
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return raw
    return value if isinstance(value, str | int) and not isinstance(value, bool) else None


def _name_of(address: str) -> str:
    return address.split("[", 1)[0].rsplit(".", 1)[-1]


def touched(
    command: str,
    args: Sequence[str],
    workspace: str,
    state: Mapping[str, Any] | None,
    attributes: Sequence[str],
) -> Touched:
    """What `command args` touches (pure)."""
    rest = positionals(args)
    if command in ADDRESS_COMMANDS:
        count = ADDRESS_COMMANDS[command]
        addresses = tuple(rest if count is None else rest[:count])
        names = nodes_for(addresses, state or {}, attributes)
        what = f"{command} {' '.join(rest)} in workspace {workspace!r}"
        return Touched(what, addresses, tuple(names) or (workspace,))
    if command in ("workspace delete", "env delete"):
        target = rest[0] if rest else workspace
        return Touched(f"delete workspace {target!r} and its state", (), (target,))
    if command == "force-unlock":
        lock = rest[0] if rest else "?"
        return Touched(f"force-unlock lock {lock} of workspace {workspace!r}", (), (workspace,))
    if command == "state push":
        source = rest[0] if rest else "?"
        return Touched(
            f"replace the whole state of workspace {workspace!r} with {source}", (), (workspace,)
        )
    if command == "state replace-provider":
        return Touched(
            f"replace provider {' -> '.join(rest)} in every resource of workspace {workspace!r}",
            (),
            (workspace,),
        )
    if command == "refresh":
        return Touched(
            f"rewrite the whole state of workspace {workspace!r} from remote objects",
            (),
            (workspace,),
        )
    if command == "init":
        return Touched(
            f"migrate the state of workspace {workspace!r} to another backend", (), (workspace,)
        )
    return Touched(
        f"`{command}` may create and destroy real infrastructure from workspace {workspace!r}",
        (),
        (workspace,),
    )
