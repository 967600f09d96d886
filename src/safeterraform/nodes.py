"""How a resource instance names its node (PRODUCT.md §7), pure."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any


def dig(values: Any, dotted: str) -> Any:
    """`tags.Name` inside nested objects; None when any step is missing."""
    for part in dotted.split("."):
        if not isinstance(values, Mapping) or part not in values:
            return None
        values = values[part]
    return values


def node_name(
    address: str,
    values: Mapping[str, Any],
    index_key: str | int | None,
    name: str,
    attributes: Sequence[str],
) -> str:
    """First configured attribute found in the object (also inside `input`, as
    terraform_data wraps its values there), else the for_each key, else name[index],
    else the address."""
    for attribute in attributes:
        for candidate in (dig(values, attribute), dig(values, f"input.{attribute}")):
            if isinstance(candidate, str) and candidate:
                return candidate
    if isinstance(index_key, str):
        return index_key
    if isinstance(index_key, int):
        return f"{name}[{index_key}]"
    return address


def index_from_address(address: str) -> str | int | None:
    """The instance key at the end of an address: `x.y["a"]` -> "a", `x.y[0]` -> 0."""
    if not address.endswith("]") or "[" not in address:
        return None
    raw = address[address.rindex("[") + 1 : -1]
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return raw
    return value if isinstance(value, str | int) and not isinstance(value, bool) else None
