"""A saved plan read without terraform: the plan zip's `tfplan` (protobuf) and `tfstate`
(JSON) turned into the parts of `terraform show -json` the review reads (docs/perf.md,
"Reading the plan file natively").

Only what can be read exactly is read here: the built-in `terraform_data` resource (its
schema is Terraform's own, so its dynamic attributes and its lack of sensitive ones are
known), a plan file of format 3 written by Terraform 1.x, every field in its canonical
encoding. Anything else (another provider's resources, whose schemas only the provider
knows; deferred changes; an errored plan; a field this reader does not know; a duplicate
field; a value it cannot decode) is `Unsupported`, and the caller runs `terraform show
-json` as before. A reader that guessed could show one plan and let terraform apply
another; one that declines costs a terraform start.

The decoders are written from the formats' public descriptions (protobuf wire format,
MessagePack, go-cty's msgpack and JSON encodings, Terraform's planfile.proto and JSON
output format), not from Terraform's code.
"""

from __future__ import annotations

import json
import re
import struct
import threading
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from typing import IO, Any

PLAN_FORMAT = 3
JSON_FORMAT_VERSION = "1.2"
BUILTIN = "terraform.io/builtin/terraform"
BUILTIN_CONFIG = re.compile(r'(?:module\.[^"]*?\.)?provider\["terraform\.io/builtin/terraform"\]\Z')

# terraform_data (Terraform's builtin provider): id is a string, the rest dynamic.
DATA_TYPE = "terraform_data"
DATA_ATTRIBUTES: Mapping[str, Any] = {
    "id": "string",
    "input": "dynamic",
    "output": "dynamic",
    "triggers_replace": "dynamic",
}

ACTIONS: Mapping[int, list[str]] = {
    0: ["no-op"],
    1: ["create"],
    2: ["read"],
    3: ["update"],
    5: ["delete"],
    6: ["delete", "create"],
    7: ["create", "delete"],
    8: ["forget"],
    9: ["create", "forget"],
}
NOOP, CREATE, DELETE, FORGET = 0, 1, 5, 8

ACTION_REASONS: Mapping[int, str] = {
    1: "replace_because_tainted",
    2: "replace_by_request",
    3: "replace_because_cannot_update",
    4: "delete_because_no_resource_config",
    5: "delete_because_wrong_repetition",
    6: "delete_because_count_index",
    7: "delete_because_each_key",
    8: "delete_because_no_module",
    9: "replace_by_triggers",
    10: "read_because_config_unknown",
    11: "read_because_dependency_pending",
    12: "delete_because_no_move_target",
    13: "read_because_check_nested",
}


class Unsupported(Exception):
    """This plan is read by `terraform show -json` instead."""


# --- protobuf wire format ----------------------------------------------------------------

VARINT, BYTES = 0, 2


def _varint(data: bytes, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if position >= len(data) or shift > 63:
            raise Unsupported("truncated varint")
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            if shift == 63 and byte > 1:  # beyond 64 bits: terraform refuses the plan
                raise Unsupported("an overlong varint")
            return result, position
        shift += 7


def _fields(data: bytes) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, int or bytes) of a message, in order."""
    position = 0
    while position < len(data):
        key, position = _varint(data, position)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == VARINT:
            value, position = _varint(data, position)
        elif wire == BYTES:
            length, position = _varint(data, position)
            if position + length > len(data):
                raise Unsupported("truncated field")
            value = data[position : position + length]
            position += length
        else:
            raise Unsupported(f"wire type {wire}")
        yield number, wire, value


# Per message: field number -> (name, wire type, repeated). Fields named "" are known and
# deliberately left unread (they do not change what the review shows); any other number is
# Unsupported, as is a singular field given twice.
Schema = Mapping[int, tuple[str, int, bool]]

PLAN: Schema = {
    1: ("version", VARINT, False),
    2: ("variables", BYTES, True),
    3: ("resource_changes", BYTES, True),
    4: ("", BYTES, True),  # output_changes
    5: ("", BYTES, True),  # target_addrs
    13: ("backend", BYTES, False),
    14: ("terraform_version", BYTES, False),
    15: ("", BYTES, True),  # relevant_attributes
    16: ("", BYTES, True),  # force_replace_addrs
    17: ("ui_mode", VARINT, False),
    18: ("", BYTES, True),  # resource_drift
    19: ("", BYTES, True),  # check_results
    20: ("errored", VARINT, False),
    21: ("", BYTES, False),  # timestamp
    22: ("", BYTES, True),  # function_results
    25: ("applyable", VARINT, False),
    26: ("complete", VARINT, False),
    27: ("deferred_changes", BYTES, True),
    28: ("", BYTES, True),  # apply_time_variables
    29: ("state_store", BYTES, False),
}
VARIABLE_ENTRY: Schema = {1: ("key", BYTES, False), 2: ("value", BYTES, False)}
RESOURCE_CHANGE: Schema = {
    13: ("addr", BYTES, False),
    14: ("prev_run_addr", BYTES, False),
    7: ("deposed_key", BYTES, False),
    8: ("provider", BYTES, False),
    9: ("change", BYTES, False),
    10: ("", BYTES, False),  # private
    11: ("required_replace", BYTES, True),
    12: ("action_reason", VARINT, False),
}
CHANGE: Schema = {
    1: ("action", VARINT, False),
    2: ("values", BYTES, True),
    3: ("before_sensitive_paths", BYTES, True),
    4: ("after_sensitive_paths", BYTES, True),
    5: ("importing", BYTES, False),
    6: ("generated_config", BYTES, False),
}
IMPORTING: Schema = {1: ("id", BYTES, False)}
DYNAMIC_VALUE: Schema = {1: ("msgpack", BYTES, False)}
PATH: Schema = {1: ("steps", BYTES, True)}
STEP: Schema = {1: ("attribute_name", BYTES, False), 2: ("element_key", BYTES, False)}


def _message(data: bytes, schema: Schema) -> dict[str, Any]:
    message: dict[str, Any] = {}
    for number, wire, value in _fields(data):
        known = schema.get(number)
        if known is None:
            raise Unsupported(f"field {number}")
        name, expected, repeated = known
        if wire != expected:
            raise Unsupported(f"field {number} has wire type {wire}")
        if not name:
            continue
        if repeated:
            message.setdefault(name, []).append(value)
        elif name in message:
            raise Unsupported(f"field {number} given twice")
        else:
            message[name] = value
    return message


def _text(value: Any) -> str:
    try:
        return bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        raise Unsupported("a string is not UTF-8") from None


# --- MessagePack, as go-cty writes it ----------------------------------------------------


class Unknown:
    """A value known only after apply (go-cty's msgpack extension 0, refined or not)."""

    __slots__ = ("type",)

    def __init__(self, type_: Any) -> None:
        self.type = type_


def _unpack(data: bytes) -> Any:
    """One msgpack value with go-cty's conventions: bin only for a dynamic value's type
    (returned as _Binary), ext only for unknowns (Unknown(None)); plain Python otherwise."""
    try:
        value, position = _unpack_at(data, 0)
    except (IndexError, UnicodeDecodeError, struct.error):
        raise Unsupported("a truncated or malformed value") from None
    if position != len(data):
        raise Unsupported("trailing bytes after a value")
    return value


_INTEGERS = {0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8, 0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8}
_LENGTHS = {0xD9: 1, 0xDA: 2, 0xDB: 4, 0xC4: 1, 0xC5: 2, 0xC6: 4, 0xDC: 2, 0xDD: 4}
_LENGTHS.update({0xDE: 2, 0xDF: 4, 0xC7: 1, 0xC8: 2, 0xC9: 4})
_FIXEXT = {0xD4: 1, 0xD5: 2, 0xD6: 4, 0xD7: 8, 0xD8: 16}
_CONSTANTS = {0xC0: None, 0xC2: False, 0xC3: True}


def _unpack_at(data: bytes, position: int) -> tuple[Any, int]:
    """The value at `position` and the position after it; IndexError when truncated
    (a slice past the end is caught by its length check)."""
    code = data[position]
    position += 1
    if 0xA0 <= code <= 0xBF:  # the most frequent first: short strings, maps, arrays
        return _string(data, position, code & 0x1F)
    if 0x80 <= code <= 0x8F:
        return _map(data, position, code & 0x0F)
    if 0x90 <= code <= 0x9F:
        return _array(data, position, code & 0x0F)
    if code <= 0x7F:
        return code, position
    if code >= 0xE0:
        return code - 0x100, position
    if code in _CONSTANTS:
        return _CONSTANTS[code], position
    if code in _INTEGERS:
        size = _INTEGERS[code]
        raw = _take(data, position, size)
        return int.from_bytes(raw, "big", signed=code >= 0xD0), position + size
    if code == 0xCA:
        return float(struct.unpack(">f", _take(data, position, 4))[0]), position + 4
    if code == 0xCB:
        return float(struct.unpack(">d", _take(data, position, 8))[0]), position + 8
    if code in _LENGTHS:
        size = _LENGTHS[code]
        length = int.from_bytes(_take(data, position, size), "big")
        position += size
        if code in (0xD9, 0xDA, 0xDB):
            return _string(data, position, length)
        if code in (0xC4, 0xC5, 0xC6):
            return _Binary(_take(data, position, length)), position + length
        if code in (0xDC, 0xDD):
            return _array(data, position, length)
        if code in (0xDE, 0xDF):
            return _map(data, position, length)
        _take(data, position, length + 1)
        return _extension(data[position]), position + 1 + length
    if code in _FIXEXT:
        _take(data, position, _FIXEXT[code] + 1)
        return _extension(data[position]), position + 1 + _FIXEXT[code]
    raise Unsupported(f"msgpack code {code:#x}")


class _Binary(bytes):
    """msgpack bin: go-cty writes only a dynamic value's type JSON as bin."""


def _take(data: bytes, position: int, size: int) -> bytes:
    end = position + size
    if end > len(data):
        raise Unsupported("truncated value")
    return data[position:end]


def _string(data: bytes, position: int, length: int) -> tuple[str, int]:
    end = position + length
    if end > len(data):
        raise Unsupported("truncated value")
    text = data[position:end].decode("utf-8")
    if not text.isascii() and not unicodedata.is_normalized("NFC", text):
        raise Unsupported("a string terraform would read normalised")  # go-cty: NFC
    return text, end


def _array(data: bytes, position: int, length: int) -> tuple[list[Any], int]:
    items = []
    for _ in range(length):
        item, position = _unpack_at(data, position)
        items.append(item)
    return items, position


def _map(data: bytes, position: int, length: int) -> tuple[dict[str, Any], int]:
    items: dict[str, Any] = {}
    for _ in range(length):
        key, position = _unpack_at(data, position)
        if key.__class__ is not str or key in items:
            raise Unsupported("a map key is not a unique string")
        items[key], position = _unpack_at(data, position)
    return items, position


def _extension(kind: int) -> Unknown:
    if kind not in (0x00, 0x0C):  # unknown; unknown with refinements
        raise Unsupported(f"msgpack extension {kind}")
    return Unknown(None)


# --- cty values --------------------------------------------------------------------------


def _typed(raw: Any, type_: Any) -> Any:
    """A decoded msgpack value read as cty type `type_` (JSON type syntax): dynamic pairs
    resolved, numbers written as strings parsed, unknowns given their type."""
    if isinstance(raw, Unknown):
        return Unknown(type_)
    if raw is None:
        return None
    if type_ == "dynamic":
        if not (isinstance(raw, list) and len(raw) == 2 and isinstance(raw[0], _Binary)):
            raise Unsupported("a dynamic value without its type")
        concrete = _type_of(bytes(raw[0]))
        if concrete == "dynamic":
            raise Unsupported("a dynamic value of dynamic type")
        return _typed(raw[1], concrete)
    if type_ == "string":
        if not isinstance(raw, str):
            raise Unsupported("not a string")
        return raw
    if type_ == "bool":
        if not isinstance(raw, bool):
            raise Unsupported("not a bool")
        return raw
    if type_ == "number":
        return _number(raw)
    if isinstance(type_, list) and len(type_) >= 2:
        kind, inner = type_[0], type_[1]
        if kind in ("list", "set") and isinstance(raw, list):
            if kind == "set" and len(raw) > 1:  # terraform orders and deduplicates sets
                raise Unsupported("a set of more than one element")
            return [_typed(item, inner) for item in raw]
        if kind == "map" and isinstance(raw, dict):
            return {key: _typed(item, inner) for key, item in raw.items()}
        if kind == "tuple" and isinstance(raw, list) and isinstance(inner, list):
            if len(inner) != len(raw):
                raise Unsupported("a tuple of the wrong length")
            return [_typed(item, kind_) for item, kind_ in zip(raw, inner, strict=True)]
        if kind == "object" and isinstance(raw, dict) and isinstance(inner, dict):
            if set(raw) != set(inner):
                raise Unsupported("an object with other attributes than its type")
            return {key: _typed(item, inner[key]) for key, item in raw.items()}
    raise Unsupported(f"a value of type {json.dumps(type_)}")


_TYPES: dict[bytes, Any] = {}


def _type_of(text: bytes) -> Any:
    """A dynamic value's type, parsed once per distinct text (most values share a few)."""
    if text not in _TYPES:
        try:
            _TYPES[text] = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise Unsupported("a dynamic value's type is not JSON") from None
    return _TYPES[text]


def _number(raw: Any) -> int | float:
    if isinstance(raw, bool):
        raise Unsupported("not a number")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float):
        if raw != raw or raw in (float("inf"), float("-inf")):
            raise Unsupported("not a finite number")
        return int(raw) if raw.is_integer() and abs(raw) < 2**53 else raw
    if isinstance(raw, str):  # go-cty writes a number without an exact float64 as text
        raise Unsupported("a number beyond float64")
    raise Unsupported("not a number")


def _object(raw: Any, attributes: Mapping[str, Any]) -> Any:
    return _typed(raw, ["object", dict(attributes)])


def _known(value: Any) -> bool:
    if isinstance(value, Unknown):
        return False
    if isinstance(value, dict):
        return all(_known(item) for item in value.values())
    if isinstance(value, list):
        return all(_known(item) for item in value)
    return True


def _omit_unknowns(value: Any) -> Any:
    """The planned value as show -json prints it: unknown attributes left out, unknown
    sequence elements as null (their positions carry meaning)."""
    if isinstance(value, dict):
        return {
            key: _omit_unknowns(item)
            for key, item in value.items()
            if not isinstance(item, Unknown)
        }
    if isinstance(value, list):
        return [None if isinstance(item, Unknown) else _omit_unknowns(item) for item in value]
    return value


def _unknown_as_bool(value: Any) -> Any:
    if isinstance(value, Unknown):
        return True
    if isinstance(value, dict):
        found = {key: _unknown_as_bool(item) for key, item in value.items()}
        return {key: item for key, item in found.items() if item is not False}
    if isinstance(value, list):
        return [_unknown_as_bool(item) for item in value]
    return False


def _sensitive_as_bool(
    value: Any, marked: frozenset[tuple[Any, ...]], path: tuple[Any, ...]
) -> Any:
    if not marked:
        return _unmarked(value)
    if path in marked:
        return True
    if value is None:
        return False
    if isinstance(value, Unknown):
        return _unknown_shape(value)
    if isinstance(value, dict):
        found = {key: _sensitive_as_bool(item, marked, (*path, key)) for key, item in value.items()}
        return {key: item for key, item in found.items() if item is not False}
    if isinstance(value, list):
        return [
            _sensitive_as_bool(item, marked, (*path, number)) for number, item in enumerate(value)
        ]
    return False


def _unmarked(value: Any) -> Any:
    """_sensitive_as_bool of a value with no sensitive paths (most of them): its shape
    alone, without a path built for every element."""
    if isinstance(value, dict):
        found = {}
        for key, item in value.items():
            shape = _unmarked(item)
            if shape is not False:
                found[key] = shape
        return found
    if isinstance(value, list):
        return [_unmarked(item) for item in value]
    if isinstance(value, Unknown):
        return _unknown_shape(value)
    return False


def _unknown_shape(value: Unknown) -> Any:
    """An unknown value's sensitivity shape, as show -json prints it: empty for a
    collection or structure, false otherwise."""
    kind = value.type[0] if isinstance(value.type, list) else value.type
    if kind in ("list", "set", "tuple"):
        return []
    if kind in ("map", "object"):
        return {}
    return False


def _paths(entries: list[bytes]) -> frozenset[tuple[Any, ...]]:
    paths = []
    for entry in entries:
        steps: list[Any] = []
        for raw_step in _message(entry, PATH).get("steps", []):
            step = _message(raw_step, STEP)
            if "attribute_name" in step and "element_key" not in step:
                steps.append(_text(step["attribute_name"]))
            elif "element_key" in step and "attribute_name" not in step:
                key = _typed(_unpack(_dynamic_bytes(step["element_key"])), "dynamic")
                steps.append(_step_key(key))
            else:
                raise Unsupported("a path step with neither or both forms")
        paths.append(tuple(steps))
    return frozenset(paths)


def _step_key(key: Any) -> str | int:
    """A path step's key: a map key or a list index; anything else is Unsupported."""
    if isinstance(key, bool) or not isinstance(key, (str, int)):
        raise Unsupported("a path step that is not a string or an integer")
    return key


def _dynamic_bytes(data: bytes) -> bytes:
    value = _message(data, DYNAMIC_VALUE).get("msgpack")
    if value is None:
        raise Unsupported("a value without msgpack")
    return bytes(value)


# --- addresses ---------------------------------------------------------------------------

_KEY = r'(?:0|[1-9][0-9]*|"[^"\\$%\x00-\x1f\x7f]*")'  # as terraform prints keys
_INSTANCE = re.compile(
    rf"(?P<module>(?:module\.[A-Za-z_][A-Za-z0-9_-]*(?:\[{_KEY}\])?\.)*)"
    r"(?P<data>data\.)?(?P<type>[A-Za-z_][A-Za-z0-9_-]*)\.(?P<name>[A-Za-z_][A-Za-z0-9_-]*)"
    rf"(?:\[(?P<index>{_KEY[3:-1]})\])?\Z",
    re.ASCII,
)


def _address(address: str) -> dict[str, Any]:
    """The address's parts as show -json names them; keys needing escapes are Unsupported."""
    match = _INSTANCE.match(address)
    if match is None:
        raise Unsupported(f"address {address!r}")
    parts: dict[str, Any] = {"address": address}
    if match["module"]:
        parts["module_address"] = match["module"][:-1]
    parts.update(
        mode="data" if match["data"] else "managed", type=match["type"], name=match["name"]
    )
    if match["index"] is not None:
        raw = match["index"]
        parts["index"] = raw[1:-1] if raw.startswith('"') else int(raw)
    return parts


# --- the plan ----------------------------------------------------------------------------


_MODULE_STEPS = re.compile(r'module\.([A-Za-z_][\w-]*)(?:\[(\d+|"[^"]*")\])?')


def _key_order(key: Any) -> tuple[int, Any]:
    """Instance keys as Terraform orders them: none, then numbers, then strings."""
    if key is None:
        return (0, 0)
    return (1, key) if isinstance(key, int) else (2, key)


def _order(change: Mapping[str, Any]) -> tuple[Any, ...]:
    """resource_changes order in show -json: shallower modules first, then module steps,
    type, name and key, each key in Terraform's order; the current object before deposed."""
    steps = re.findall(
        r'module\.([A-Za-z_][\w-]*)(?:\[(\d+|"[^"]*")\])?', change.get("module_address", "")
    )
    path = [
        (name, _key_order(None if not key else key[1:-1] if key[0] == '"' else int(key)))
        for name, key in steps
    ]
    return (
        len(path),
        path,
        change["type"],
        change["name"],
        _key_order(change.get("index")),
        change.get("deposed", ""),
    )


def read(tfplan: bytes, tfstate: bytes | None, snapshot: Mapping[str, str]) -> dict[str, Any]:
    """The plan as `terraform show -json` prints the keys the review reads (format_version,
    terraform_version, variables, resource_changes, prior_state, applyable, complete,
    errored, and of `configuration` only the root module's variables' `sensitive`);
    Unsupported otherwise."""
    plan = _message(tfplan, PLAN)
    if plan.get("version") != PLAN_FORMAT:
        raise Unsupported(f"plan format {plan.get('version')}")
    version = _text(plan.get("terraform_version", b""))
    if not re.fullmatch(r"1\.15\.[0-9]+", version):  # the version the golden tests cover
        raise Unsupported(f"terraform {version}")
    if plan.get("ui_mode", 0) not in (0, 1, 2):  # normal, destroy, refresh-only
        raise Unsupported("a planning mode terraform does not know")
    if ("backend" in plan) == ("state_store" in plan):  # terraform refuses such a plan
        raise Unsupported("neither or both of a backend and a state store")
    if plan.get("errored") or plan.get("deferred_changes"):
        raise Unsupported("an errored or deferred plan")
    changes = [_resource_change(entry) for entry in plan.get("resource_changes", [])]
    changes.sort(key=_order)
    declared = root_variables(snapshot)
    variables = {}
    for entry in plan.get("variables", []):
        pair = _message(entry, VARIABLE_ENTRY)
        name = _text(pair.get("key", b""))
        raw = _unpack(_dynamic_bytes(pair.get("value", b"")))
        value = _typed(raw, "dynamic")
        if not _known(value):
            raise Unsupported("an unknown variable value")
        variables[name] = {"value": value}
    for name, (default, _) in declared.items():
        if name not in variables and default is not _NO_DEFAULT:
            variables[name] = {"value": default}
    shown: dict[str, Any] = {
        "format_version": JSON_FORMAT_VERSION,
        "terraform_version": version,
        "resource_changes": changes,
        "applyable": bool(plan.get("applyable", 0)),
        "complete": bool(plan.get("complete", 0)),
        "errored": False,
        "configuration": {
            "root_module": {
                "variables": {
                    name: {"sensitive": True} for name, (_, secret) in declared.items() if secret
                }
            }
        },
    }
    if variables:
        shown["variables"] = variables
    prior = _primed_state(tfstate, version) if tfstate else None
    if prior is not None:
        shown["prior_state"] = prior
    return shown


def _resource_change(data: bytes) -> dict[str, Any]:
    entry = _message(data, RESOURCE_CHANGE)
    address = _text(entry.get("addr", b""))
    parts = _address(address)
    if parts["mode"] != "managed" or parts["type"] != DATA_TYPE:
        raise Unsupported(f"{address}: only terraform_data is read natively")
    if not BUILTIN_CONFIG.match(_text(entry.get("provider", b""))):
        raise Unsupported(f"{address}: not the builtin provider")
    change = _message(entry.get("change", b""), CHANGE)
    action = change.get("action", 0)
    if action not in ACTIONS or "generated_config" in change:
        raise Unsupported(f"{address}: action {action}")
    values = [
        _object(_unpack(_dynamic_bytes(raw)), DATA_ATTRIBUTES) for raw in change.get("values", [])
    ]
    if action == NOOP and len(values) == 1:
        before = after = values[0]
    elif action == CREATE and len(values) == 1:
        before, after = None, values[0]
    elif action in (DELETE, FORGET) and len(values) == 1:
        before, after = values[0], None
    elif len(values) == 2 and action not in (NOOP, CREATE, DELETE, FORGET):
        before, after = values
    else:
        raise Unsupported(f"{address}: {len(values)} values for action {action}")
    if not _known(before):
        raise Unsupported(f"{address}: an unknown prior value")
    before_marks = _paths(change.get("before_sensitive_paths", []))
    after_marks = _paths(change.get("after_sensitive_paths", []))
    shown: dict[str, Any] = {
        "actions": list(ACTIONS[action]),
        "before": before,
        "after": after if after is before else _omit_unknowns(after),  # a no-op: known
        # A no-op's planned object is its prior one, known (checked just above).
        "after_unknown": {} if after is before or _known(after) else _unknown_as_bool(after),
        "before_sensitive": _sensitive_as_bool(before, before_marks, ()),
        "after_sensitive": None,
    }
    same = after is before and after_marks == before_marks  # a no-op: computed once
    shown["after_sensitive"] = (
        shown["before_sensitive"] if same else _sensitive_as_bool(after, after_marks, ())
    )
    replace = [list(path) for path in _paths(entry.get("required_replace", []))]
    if len(replace) > 1:  # show -json orders them by a hash of each path: terraform's to say
        raise Unsupported(f"{address}: more than one replace path")
    if replace:
        shown["replace_paths"] = replace
    if "importing" in change:
        importing = _message(change["importing"], IMPORTING)
        if "id" not in importing:
            raise Unsupported(f"{address}: an import without an id")
        shown["importing"] = {"id": _text(importing["id"])}
    result = {**parts, "provider_name": BUILTIN, "change": shown}
    reason = entry.get("action_reason", 0)
    if reason:
        if reason not in ACTION_REASONS:
            raise Unsupported(f"{address}: action reason {reason}")
        result["action_reason"] = ACTION_REASONS[reason]
    if "deposed_key" in entry:
        result["deposed"] = _text(entry["deposed_key"])
    previous = _text(entry.get("prev_run_addr", b"")) or address
    if previous != address:
        result["previous_address"] = previous
    return result


# --- the root module's variables ----------------------------------------------------------

_NO_DEFAULT = object()
# Block comments, heredocs, a BOM, vertical tab and form feed: HCL reads them in ways this
# project's lexer does not follow exactly, so a `sensitive = true` could be missed.
_UNREAD_SYNTAX = ("/*", "<<", "\ufeff", "\v", "\f")
_LABEL = re.compile(r'"?[A-Za-z_][A-Za-z0-9_-]*"?\Z', re.ASCII)
_NUMBER = re.compile(r"-?\d+(\.\d+)?\Z")
_PLAIN_STRING = re.compile(r'"[^"\\$%]*"\Z')


def root_variables(snapshot: Mapping[str, str]) -> dict[str, tuple[Any, bool]]:
    """name -> (default or _NO_DEFAULT, sensitive) of the root module's variable blocks:
    show -json lists an unset variable with its default, and the review hides a sensitive
    one. Only literal defaults of a matching primitive type are read; JSON or override
    files in the root module are Unsupported (their merging is Terraform's)."""
    from safeterraform.blast import hcl
    from safeterraform.plan import snapshot_modules

    root = snapshot_modules(snapshot).get("")
    if root is None:
        raise Unsupported("no root module in the snapshot")
    found: dict[str, tuple[Any, bool]] = {}
    for path in sorted(snapshot):
        name = path[len(root) :]
        if not path.startswith(root) or "/" in name:
            continue
        if name.endswith(".tf.json") or name.removesuffix(".tf").endswith("override"):
            raise Unsupported(f"{name} in the root module")
        if not name.endswith(".tf"):
            continue
        text = snapshot[path]
        if any(mark in text for mark in _UNREAD_SYNTAX):
            raise Unsupported(f"{name}: comments, heredocs or odd whitespace")
        blocks = [block for block in hcl.blocks(text) if block.type == "variable"]
        if len(blocks) != len(re.findall(r"\bvariable\b", text)):
            raise Unsupported(f"{name}: a variable block this reader may not see")
        for block in blocks:
            if len(block.labels) != 1 or not _LABEL.match(block.labels[0]):
                raise Unsupported(f"{name}: a variable label that is not a plain name")
            attributes = hcl.attributes(block.text, block.body_start, block.body_end)
            if "ephemeral" in attributes:
                raise Unsupported("an ephemeral variable")
            label = hcl.unquote(block.labels[0])
            if label in found:
                raise Unsupported(f"variable {label} declared twice")
            found[label] = (
                _default(attributes.get("default"), attributes.get("type")),
                _literal_bool(attributes.get("sensitive", "false")),
            )
    return found


def _literal_bool(text: str) -> bool:
    if text.strip() not in ("true", "false"):
        raise Unsupported("a variable's sensitive is not a literal")
    return text.strip() == "true"


def _default(text: str | None, type_: str | None) -> Any:
    if text is None:
        return _NO_DEFAULT
    text = text.strip()
    constraint = (type_ or "any").strip()
    if text in ("true", "false") and constraint in ("any", "bool"):
        return text == "true"
    if _NUMBER.match(text) and constraint in ("any", "number"):
        return _number(float(text)) if "." in text else int(text)
    if _PLAIN_STRING.match(text) and constraint in ("any", "string"):
        if not unicodedata.is_normalized("NFC", text):
            raise Unsupported("a default terraform would read normalised")
        return text[1:-1]
    raise Unsupported("a variable default that is not a plain literal")


# --- the prior state ---------------------------------------------------------------------


# A state read while terraform planned (prime_prior_state): the plan's prior state is
# usually those very bytes (a refresh that changed nothing), and then its reading is taken
# as it is: the same bytes give the same reading (docs/perf.md). The next read of a plan
# with a prior state takes it, whether or not it matches; a priming that fails leaves it.
_PRIMED: dict[str, Any] = {}
_PRIMED_LOCK = threading.Lock()


_NO_VERSION: Any = object()  # the plan's version, filled in when the state has none


def prime_prior_state(data: bytes) -> None:
    """Read `data` (the state as the plan began) ahead; any failure is left to `read`."""
    try:
        parsed = _prior_state(data, _NO_VERSION)
    except Exception:
        return
    with _PRIMED_LOCK:
        _PRIMED.clear()
        _PRIMED.update(data=data, parsed=parsed)


def _primed_state(data: bytes, version: str) -> dict[str, Any] | None:
    with _PRIMED_LOCK:
        primed = dict(_PRIMED)
        _PRIMED.clear()
    primed_data = primed.get("data")
    # The same JSON text but for the whitespace around it (`state pull` of a remote backend
    # ends with a newline the plan's copy has not) gives the same reading.
    if primed_data is None or primed_data.strip(b" \t\n\r") != data.strip(b" \t\n\r"):
        return _prior_state(data, version)
    parsed: dict[str, Any] | None = primed["parsed"]
    if parsed is not None and parsed["terraform_version"] is _NO_VERSION:
        parsed["terraform_version"] = version
    return parsed


def _prior_state(data: bytes, version: str) -> dict[str, Any] | None:
    try:
        state = json.loads(
            data.decode("utf-8"), object_pairs_hook=_unique_keys, parse_constant=_no_constant
        )
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise Unsupported("the prior state is not JSON") from None
    if not isinstance(state, dict) or state.get("version") != 4:
        raise Unsupported("prior state version")
    _known_keys(state, _STATE_KEYS)
    modules: dict[str, list[dict[str, Any]]] = {}
    if not state.get("resources"):
        return None
    for resource in _list(state.get("resources")):
        for instance in _resource_instances(resource):
            modules.setdefault(instance.pop("module_address", ""), []).append(instance)
    root: dict[str, Any] = {}
    children: dict[str, dict[str, Any]] = {}
    for module_address, resources in modules.items():
        resources.sort(key=lambda item: (item["address"], item.get("deposed_key", "")))
        if module_address:
            children[module_address] = {"resources": resources, "address": module_address}
        else:
            root["resources"] = resources
    if children:
        root["child_modules"] = _nest(children)
    return {
        "format_version": "1.0",
        "terraform_version": state.get("terraform_version", version),
        "values": {"root_module": root},
    }


# The keys terraform's state reader takes (state v4): any other key, or one in another
# case (Go's JSON reader matches field names without case), is Unsupported.
_STATE_KEYS = frozenset(
    ("version", "terraform_version", "serial", "lineage", "outputs", "resources", "check_results")
)
_RESOURCE_KEYS = frozenset(("module", "mode", "type", "name", "each", "provider", "instances"))
_INSTANCE_KEYS = frozenset(
    (
        "index_key",
        "status",
        "deposed",
        "schema_version",
        "attributes",
        "sensitive_attributes",
        "identity_schema_version",
        "identity",
        "private",
        "dependencies",
        "create_before_destroy",
    )
)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        raise Unsupported("a key given twice in the prior state")
    return found


def _no_constant(name: str) -> Any:
    raise Unsupported(f"{name} in the prior state")


def _known_keys(value: Any, known: frozenset[str]) -> None:
    if not isinstance(value, dict) or not set(value) <= known:
        raise Unsupported("a prior state key terraform would read otherwise")


def _nest(modules: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Module entries placed under their parents, as show -json nests them (a parent with
    no resources of its own still appears)."""
    everything = dict(modules)
    for address in list(modules):
        steps = re.findall(r'module\.[A-Za-z_][\w-]*(?:\[(?:\d+|"[^"]*")\])?', address)
        for cut in range(1, len(steps)):
            parent = ".".join(steps[:cut])
            everything.setdefault(parent, {"address": parent})
    top = []
    for address in sorted(everything):
        parent = address.rsplit(".module.", 1)[0] if ".module." in address else ""
        if parent and parent in everything:
            everything[parent].setdefault("child_modules", []).append(everything[address])
        else:
            top.append(everything[address])
    return top


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise Unsupported("a state list is not a list")
    return value


def _resource_instances(resource: Any) -> Iterator[dict[str, Any]]:
    _known_keys(resource, _RESOURCE_KEYS)
    mode, type_, name = resource.get("mode"), resource.get("type"), resource.get("name")
    if mode != "managed" or type_ != DATA_TYPE or not isinstance(name, str):
        raise Unsupported(f"state resource {type_}.{name}: only terraform_data is read natively")
    if not BUILTIN_CONFIG.match(str(resource.get("provider", ""))):
        raise Unsupported(f"state resource {type_}.{name}: not the builtin provider")
    module = resource.get("module") or ""
    for instance in _list(resource.get("instances")):
        _known_keys(instance, _INSTANCE_KEYS)
        key = instance.get("index_key")
        if key is None:
            suffix = ""
        elif isinstance(key, int) and not isinstance(key, bool):
            suffix = f"[{key}]"
        elif isinstance(key, str):
            suffix = f'["{key}"]'
        else:
            raise Unsupported("an index key")
        address = f"{module}.{type_}.{name}{suffix}" if module else f"{type_}.{name}{suffix}"
        parts = _address(address)
        values = _state_values(instance.get("attributes"))
        marks = _state_paths(instance.get("sensitive_attributes"))
        entry: dict[str, Any] = {
            **parts,
            "provider_name": BUILTIN,
            "schema_version": instance.get("schema_version", 0),
            "values": values,
            "sensitive_values": _sensitive_as_bool(values, marks, ()),
        }
        if instance.get("dependencies"):
            entry["depends_on"] = instance["dependencies"]
        if instance.get("status") == "tainted":
            entry["tainted"] = True
        elif instance.get("status"):
            raise Unsupported("an instance status")
        if instance.get("deposed"):
            entry["deposed_key"] = instance["deposed"]
        yield entry


def _state_values(attributes: Any) -> dict[str, Any]:
    """terraform_data's attributes as stored (dynamic ones as {"value", "type"}) -> plain."""
    if not isinstance(attributes, dict) or set(attributes) - set(DATA_ATTRIBUTES):
        raise Unsupported("terraform_data attributes")
    values: dict[str, Any] = {}
    for name, type_ in DATA_ATTRIBUTES.items():
        stored = attributes.get(name)
        if type_ == "dynamic" and stored is not None:
            if not isinstance(stored, dict) or set(stored) != {"value", "type"}:
                raise Unsupported("a dynamic attribute without its type")
            _conforms(stored["value"], stored["type"])
            stored = stored["value"]
        elif stored is not None:
            _conforms(stored, type_)
        values[name] = stored
    return values


def _conforms(value: Any, type_: Any) -> None:
    """A stored value exactly of its declared type (terraform would convert it: "5" for 5
    stored as a string); strings NFC, as go-cty reads them. Unsupported otherwise."""
    if value is None:
        return
    kind = type_[0] if isinstance(type_, list) and type_ else type_
    if kind == "string" and isinstance(value, str):
        if not value.isascii() and not unicodedata.is_normalized("NFC", value):
            raise Unsupported("a string terraform would read normalised")
        return
    if kind == "bool" and isinstance(value, bool):
        return
    if kind == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return
    if kind in ("list", "set") and isinstance(value, list) and len(type_) == 2:
        if kind == "set" and len(value) > 1:
            raise Unsupported("a stored set (terraform orders and deduplicates it)")
        for item in value:
            _conforms(item, type_[1])
        return
    if kind == "map" and isinstance(value, dict) and len(type_) == 2:
        for item in value.values():
            _conforms(item, type_[1])
        return
    if kind == "tuple" and isinstance(value, list) and len(type_) == 2:
        if not isinstance(type_[1], list) or len(type_[1]) != len(value):
            raise Unsupported("a tuple of another length than its type")
        for item, inner in zip(value, type_[1], strict=True):
            _conforms(item, inner)
        return
    if kind == "object" and isinstance(value, dict) and len(type_) == 2:
        if not isinstance(type_[1], dict) or set(type_[1]) != set(value):
            raise Unsupported("an object with other attributes than its type")
        for key, item in value.items():
            _conforms(item, type_[1][key])
        return
    raise Unsupported(f"a stored value that is not a {json.dumps(type_)}")


def _state_paths(entries: Any) -> frozenset[tuple[Any, ...]]:
    if entries is None:
        return frozenset()
    paths = []
    for entry in _list(entries):
        steps: list[Any] = []
        for step in _list(entry):
            kind = step.get("type") if isinstance(step, dict) else None
            value = step.get("value") if isinstance(step, dict) else None
            if kind == "get_attr" and isinstance(value, str):
                steps.append(value)
            elif kind == "index" and isinstance(value, dict) and set(value) == {"value", "type"}:
                steps.append(_step_key(value["value"]))
            else:
                raise Unsupported("a sensitive path step")
        paths.append(tuple(steps))
    return frozenset(paths)


# What Go's archive/zip reads (stored, deflated): a plan file with a member compressed
# otherwise (bzip2, LZMA: Python reads them) is refused by terraform, so it is left to
# `show -json`, which refuses it too.
GO_ZIP_METHODS = (0, 8)


def read_file(
    path: str | IO[bytes],
    snapshot: Mapping[str, str],
    same_terraform: Callable[[str], bool] | None = None,
) -> dict[str, Any] | None:
    """The plan file at `path` read natively (its snapshot already read), or None: then
    `terraform show -json` reads it. Any failure here is a None, never an answer: the
    fallback is the reader terraform itself ships. `same_terraform(version)`: whether the
    terraform that would apply it is the plan's version; a plan from another version is left
    to terraform, which refuses it."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if any(m.compress_type not in GO_ZIP_METHODS for m in archive.infolist()):
                raise Unsupported("a zip member compressed in a way terraform does not read")
            tfplan = archive.read("tfplan")
            tfstate = archive.read("tfstate") if "tfstate" in names else None
        shown = read(tfplan, tfstate, snapshot)
    except Exception:  # Unsupported, or a file this reader cannot take apart
        return None
    if same_terraform is not None and not same_terraform(shown["terraform_version"]):
        return None
    return shown
