"""Config layers and the production verdict, with the reason that decided it
(docs/design.md#production-detection).

Layers: system (/etc/safeterraform/config.toml, authoritative), user
($XDG_CONFIG_HOME/safeterraform/config.toml) and repository (nearest
.safeterraform.toml walking up from the working directory). Later layers may add
production patterns but never remove them, never turn `always` off and never
re-enable break-glass. The shim imports this on every call, so nothing but `os` is
imported at run time unless a config file exists (tomllib) or has globs (fnmatch).
"""

import os

from safeterraform.errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

SYSTEM_CONFIG = "/etc/safeterraform/config.toml"
REPOSITORY_CONFIG = ".safeterraform.toml"
PRODUCTION_TOKENS = frozenset({"prod", "production", "prd"})
DEFAULT_NODE_ATTRIBUTES = ("hostname", "node", "name", "tags.Name")
DEFAULT_STATE_BACKUPS_KEEP = 10
DEFAULT_APPROVAL_TTL = 3600
DEFAULT_PROMOTION_MAX_AGE = 7 * 24 * 3600
# `[promotion] max_age` units: "7d", "12h", "90m", "30s", "2w" (or an integer of seconds).
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
BUILTIN = "built-in default"
# Environment variables coding agents set in the shells they run their commands in
# (docs/agents.md cites where each agent documents or sets it). Layers may add names;
# none can remove these.
DEFAULT_AGENT_ENV = (
    "CLAUDECODE",  # Claude Code
    "GEMINI_CLI",  # Gemini CLI
    "CODEX_SANDBOX",  # OpenAI Codex CLI (macOS Seatbelt sandbox)
    "CODEX_SANDBOX_NETWORK_DISABLED",  # OpenAI Codex CLI (sandbox without network)
    "CLINE_ACTIVE",  # Cline (VS Code terminals)
    "OPENCODE",  # OpenCode
)
# Executables of coding agents, recognised among a guarded command's ancestor processes
# (safeterraform.agents; docs/agents.md cites each). Layers may add names; none can remove.
DEFAULT_AGENT_PROCESSES = (
    "claude",  # Claude Code
    "codex",  # OpenAI Codex CLI
    "gemini",  # Gemini CLI
    "opencode",  # OpenCode
    "cline",  # Cline CLI
    "aider",  # Aider
    "cursor-agent",  # Cursor CLI
    "goose",  # Goose
    "amp",  # Amp
    "copilot",  # GitHub Copilot CLI
    "qwen",  # Qwen Code
)
# Go's unicode.IsSpace, which bytes.TrimSpace uses on the environment file.
GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


class _Value:
    """A small value record (dataclasses would cost ~30 ms of start-up on this path)."""

    __slots__: tuple[str, ...] = ()

    def _fields(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({fields})"


class Pattern(_Value):
    __slots__ = ("glob", "source")

    def __init__(self, glob: str, source: str) -> None:
        self.glob = glob
        self.source = source  # the file it came from, or "built-in default"


# -- the configuration keys: one row each ----------------------------------------------
# Who may set a key (README "Configuration"): every layer; the system and user layers (a
# repository file is someone else's: what runs, where the trail goes, who may bypass);
# or the system layer alone (it binds every user of a bastion).
ALL: "tuple[str, ...]" = ("system", "user", "repository")
TRUSTED: "tuple[str, ...]" = ("system", "user")
SYSTEM: "tuple[str, ...]" = ("system",)
# How the layers combine (README "Decisions where the contract is silent", Authority):
ADD = "add"  # lists add up over the layers; nothing a layer named can be removed later
ADD_OR_REPLACE = "system replaces"  # as ADD; the system layer replaces the built-in start
STRICTEST = "min"  # limits, TTLs, ages: the smallest wins, a later layer never raises one
FIRST = "first"  # the first layer (system first) that sets a non-empty value wins
LAST = "last"  # the last layer that sets it wins
TURNED_ON = "on"  # true in any layer wins: the value is the first file that said so
TURNED_OFF = "off"  # false in any layer wins: the value is the first file that said so
ANY_TRUE = "any"  # true in any layer wins: a boolean


class Key(_Value):
    """One configuration key: where it is, its TOML type, who may set it, how layers
    merge it, the Config attribute it feeds and that attribute's default."""

    __slots__ = (
        "attribute",
        "default",
        "key",
        "kind",
        "layers",
        "merge",
        "minimum",
        "start",
        "table",
    )

    def __init__(
        self,
        table: str,
        key: str,
        kind: str,
        layers: "tuple[str, ...]",
        merge: str,
        attribute: str,
        default: object = None,
        minimum: int | None = None,
        start: "tuple[object, ...]" = (),
    ) -> None:
        self.table = table  # "" for the top level
        self.key = key
        # bool, int, number (int or float), str, strings (a list of them), patterns (a
        # list of globs, kept with their file), sourced (strings kept with their file),
        # duration (seconds, or "7d", "12h"...), file str (a string kept with its file)
        self.kind = kind
        self.layers = layers
        self.merge = merge
        self.attribute = attribute
        self.default = default
        self.minimum = minimum  # a smaller value is a config error naming file and key
        self.start = start  # what an ADD list holds before any layer


BUILTIN_WORKSPACES = Pattern("<prod|production|prd token>", BUILTIN)
BUILTIN_PATHS = Pattern("<prod|production|prd path component>", BUILTIN)
# The var-file rule: its own object, so that `builtin_var_files = false` removes only it.
BUILTIN_VAR_FILES = Pattern("<prod|production|prd path component>", BUILTIN)
BUILTIN_BACKENDS = Pattern("<prod|production|prd word in the state location>", BUILTIN)
# Tables, in the order they are checked; one only trusted layers may hold is refused as a
# whole in a repository file.
TABLES = (
    ("production", ALL),
    ("nodes", ALL),
    ("audit", ALL),
    ("limits", ALL),
    ("hooks", TRUSTED),
    ("state_backups", TRUSTED),
    ("confirm", ALL),
    ("lint", ALL),  # read by commands/lint.py
    ("rollout", ALL),  # read by flows/rollout.py
    ("promotion", ALL),  # read by promotion.py
)
# A misspelt key (`alway = true`) must not silently turn protection off: a key that is
# not here is a config error, so guarded commands fail closed.
# fmt: off
KEYS = (
    Key("production", "workspaces", "patterns", ALL, ADD_OR_REPLACE, "workspaces", (),
        start=(BUILTIN_WORKSPACES,)),
    Key("production", "paths", "patterns", ALL, ADD_OR_REPLACE, "paths", (),
        start=(BUILTIN_PATHS,)),
    Key("production", "var_files", "patterns", ALL, ADD, "var_files", (),
        start=(BUILTIN_VAR_FILES,)),
    Key("production", "backends", "patterns", ALL, ADD_OR_REPLACE, "backends", (),
        start=(BUILTIN_BACKENDS,)),
    # Only the system layer may turn the built-in var-file rule off (README "Where the
    # state lives"); _merge then drops BUILTIN_VAR_FILES from var_files.
    Key("production", "builtin_var_files", "bool", SYSTEM, TURNED_OFF,
        "builtin_var_files_disabled_by"),
    Key("production", "always", "bool", ALL, TURNED_ON, "always"),
    Key("production", "allow_break_glass", "bool", TRUSTED, TURNED_OFF, "break_glass_disabled_by"),
    Key("nodes", "attributes", "strings", ALL, LAST, "node_attributes", DEFAULT_NODE_ATTRIBUTES),
    Key("", "real_terraform", "file str", TRUSTED, FIRST, "real_terraform"),
    Key("", "real_tofu", "file str", TRUSTED, FIRST, "real_tofu"),
    Key("", "audit_log", "str", TRUSTED, FIRST, "audit_log"),  # wins over [audit] path
    Key("audit", "path", "str", TRUSTED, FIRST, "audit_log"),
    Key("audit", "syslog", "bool", TRUSTED, ANY_TRUE, "audit_syslog", False),
    Key("limits", "max_affected_nodes", "int", ALL, STRICTEST, "max_affected_nodes"),
    Key("limits", "max_affected_fraction", "number", ALL, STRICTEST, "max_affected_fraction"),
    Key("state_backups", "keep", "int", TRUSTED, LAST, "state_backups_keep",
        DEFAULT_STATE_BACKUPS_KEEP, minimum=1),
    Key("hooks", "before_destructive_apply", "str", TRUSTED, FIRST, "before_destructive_apply"),
    Key("hooks", "after_destructive_apply", "str", TRUSTED, FIRST, "after_destructive_apply"),
    Key("hooks", "after_node", "str", TRUSTED, FIRST, "after_node"),  # a rollout's check
    Key("confirm", "agent_env", "strings", ALL, ADD, "agent_env", DEFAULT_AGENT_ENV,
        start=DEFAULT_AGENT_ENV),
    Key("confirm", "agent_processes", "strings", ALL, ADD, "agent_processes",
        DEFAULT_AGENT_PROCESSES, start=DEFAULT_AGENT_PROCESSES),
    Key("confirm", "allow_env", "bool", ALL, TURNED_OFF, "allow_env_disabled_by"),
    Key("confirm", "two_person", "bool", SYSTEM, TURNED_ON, "two_person"),
    Key("confirm", "approval_ttl", "int", TRUSTED, STRICTEST, "approval_ttl",
        DEFAULT_APPROVAL_TTL, minimum=1),
    Key("confirm", "approvals_dir", "str", SYSTEM, FIRST, "approvals_dir"),
    Key("lint", "dangerous_commands", "sourced", ALL, ADD, "dangerous_commands", ()),
    Key("rollout", "last", "strings", ALL, ADD, "rollout_last", ()),
    Key("promotion", "after", "patterns", ALL, ADD, "promotion_after", ()),
    Key("promotion", "max_age", "duration", ALL, STRICTEST, "promotion_max_age",
        DEFAULT_PROMOTION_MAX_AGE),
)
# fmt: on
_DEFAULTS = {key.attribute: key.default for key in KEYS}


class Config(_Value):
    """Every layer merged under the rules of KEYS; `files` are the ones read, `error` the
    file that could not be read or parsed (fail closed). Attributes not in KEYS' rows:
    `files`, `error`."""

    __slots__ = ("error", "files", *sorted(_DEFAULTS))

    # Declared for mypy; set from KEYS' defaults and the merge (one row per key).
    error: str | None
    files: "tuple[tuple[str, str], ...]"  # (layer, path)
    after_destructive_apply: str | None
    after_node: str | None
    agent_env: "tuple[str, ...]"
    agent_processes: "tuple[str, ...]"
    allow_env_disabled_by: str | None
    always: str | None  # the file that set always = true
    approval_ttl: int
    approvals_dir: str | None
    audit_log: str | None
    audit_syslog: bool
    backends: "tuple[Pattern, ...]"
    before_destructive_apply: str | None
    builtin_var_files_disabled_by: str | None  # the system file that turned the rule off
    break_glass_disabled_by: str | None
    dangerous_commands: "tuple[tuple[str, str], ...]"  # (regex, file) added by layers
    max_affected_fraction: float | None
    max_affected_nodes: int | None
    node_attributes: "tuple[str, ...]"
    paths: "tuple[Pattern, ...]"
    promotion_after: "tuple[Pattern, ...]"  # lower environments, with their file
    promotion_max_age: int  # seconds
    real_terraform: "tuple[str, str] | None"  # (path, file)
    real_tofu: "tuple[str, str] | None"
    rollout_last: "tuple[str, ...]"  # nodes a rollout leaves to the end, in order
    state_backups_keep: int
    two_person: str | None  # the system file that requires it
    var_files: "tuple[Pattern, ...]"
    workspaces: "tuple[Pattern, ...]"

    def __init__(self, **values: object) -> None:
        unknown = set(values) - set(self.__slots__)
        if unknown:
            raise TypeError(f"Config has no attribute {sorted(unknown)[0]!r}")
        self.files = ()
        self.error = None
        for name, default in _DEFAULTS.items():
            setattr(self, name, default)
        for name, value in values.items():
            setattr(self, name, value)

    @property
    def allow_break_glass(self) -> bool:
        return self.break_glass_disabled_by is None

    @property
    def allow_env(self) -> bool:
        return self.allow_env_disabled_by is None

    @property
    def real_binaries(self) -> "dict[str, tuple[str, str]]":
        """`real_terraform` / `real_tofu`: program -> (path, the file that set it)."""
        found = {"terraform": self.real_terraform, "tofu": self.real_tofu}
        return {program: value for program, value in found.items() if value is not None}


class Verdict(_Value):
    """Production or not, why, and every state the command touches
    (docs/design.md#command-classes)."""

    __slots__ = ("production", "reason", "states", "workdir", "workspace", "workspace_source")

    def __init__(
        self,
        production: bool,
        reason: str,
        workspace: str,
        workspace_source: str,
        workdir: str,
        states: tuple[str, ...] = (),
    ) -> None:
        self.production = production
        self.reason = reason
        self.workspace = workspace
        self.workspace_source = workspace_source
        self.workdir = workdir
        self.states = states  # one phrase per state the command reads or writes


def config_paths(
    env: "Mapping[str, str]", workdir: str, system_config: str | None = None
) -> list[tuple[str, str]]:
    """(layer, path) of every config file that applies, whether or not it exists.

    The system layer is /etc/safeterraform/config.toml or the path install.sh recorded in
    the launcher (`system_config`); no environment variable can move it
    (docs/design.md#production-detection).
    """
    system = system_config or SYSTEM_CONFIG
    xdg = env.get("XDG_CONFIG_HOME") or os.path.join(env.get("HOME", "~"), ".config")
    layers = [("system", system), ("user", os.path.join(xdg, "safeterraform", "config.toml"))]
    directory = os.path.abspath(workdir)
    while True:
        candidate = os.path.join(directory, REPOSITORY_CONFIG)
        if os.path.isfile(candidate):
            layers.append(("repository", candidate))
            break
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    return layers


def _read(path: str) -> "dict[str, Any] | None":
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise ConfigError(f"safeterraform: cannot read config {path}: {error.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise ConfigError(
            f"safeterraform: cannot parse config {path}: not UTF-8 (at line {line})"
        ) from None
    import tomllib  # only when a config file exists: it costs a few ms at start-up

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        # tomllib names the line, except for an error at the very end of the file.
        message = str(error).replace(
            "(at end of document)", f"(at line {text.count(chr(10)) + 1}, end of file)"
        )
        raise ConfigError(f"safeterraform: cannot parse config {path}: {message}") from None


def _strings(path: str, table: "Mapping[str, Any]", key: str) -> list[str]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"safeterraform: config {path}: `{key}` must be a list of strings")
    return value


def _typed(path: str, table: "Mapping[str, Any]", key: str, kind: type | tuple[type, ...]) -> "Any":
    """The value of `key` if it has the right TOML type (a bool is not an int here)."""
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        expected = " or ".join(
            _TOML_TYPES[k] for k in (kind if isinstance(kind, tuple) else (kind,))
        )
        raise ConfigError(
            f"safeterraform: config {path}: `{key}` must be {expected}, not {_toml_type(value)}"
        )
    return value


# TOML's names for the Python types tomllib returns (bool before int: a bool is an int).
_TOML_TYPES: "dict[type, str]" = {
    bool: "a boolean (true or false)",
    int: "an integer",
    float: "a float",
    str: "a string",
    list: "an array",
    dict: "a table",
}


def _toml_type(value: object) -> str:
    """`a string`, `an integer`, ...: what the file wrote, in TOML's words."""
    for kind, name in _TOML_TYPES.items():
        if isinstance(value, kind):
            return name.removesuffix(" (true or false)")
    return "a date or time"


def configured_real(
    env: "Mapping[str, str]", workdir: str, program: str, system_config: str | None = None
) -> tuple[str, str] | None:
    """`real_<program>` and its file, parsing only files that mention it (pass-through path).

    Same precedence as `load` (the first layer that sets it, system first); never from a
    repository file, which is someone else's. A broken file is skipped here: read-only
    commands pass through a broken config.
    """
    key = f"real_{program}"
    for layer, path in config_paths(env, workdir, system_config):
        if layer == "repository":
            continue
        try:
            with open(path, "rb") as handle:
                if key.encode() not in handle.read():
                    continue
            data = _read(path)
        except (OSError, ConfigError):
            continue
        value = data.get(key) if data else None
        if isinstance(value, str) and value:
            return value, path
    return None


def load(env: "Mapping[str, str]", workdir: str, system_config: str | None = None) -> Config:
    """Read and merge the layers; a broken file yields Config(error=...), never raises."""
    try:
        return _merge(env, workdir, system_config)
    except ConfigError as error:
        return Config(error=str(error))


def _tables(path: str, data: "Mapping[str, Any]") -> "dict[str, Mapping[str, Any]]":
    """The file's tables by name ("" the top level); unknown keys and tables that are not
    tables are config errors."""
    tables: dict[str, Mapping[str, Any]] = {"": data}
    for name, _ in TABLES:
        table = data.get(name, {})
        if not isinstance(table, dict):
            raise ConfigError(f"safeterraform: config {path}: [{name}] must be a table")
        known = frozenset(key.key for key in KEYS if key.table == name)
        _known_keys(path, table, known, f"[{name}] ")
        tables[name] = table
    top = frozenset([*(name for name, _ in TABLES), *(k.key for k in KEYS if not k.table)])
    _known_keys(path, data, top, "")
    return tables


def _known_keys(path: str, table: "Mapping[str, Any]", known: frozenset[str], where: str) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(
            f"safeterraform: config {path}: unknown key {where}`{unknown[0]}` "
            f"(known: {', '.join(sorted(known))})"
        )


def _check_layer(layer: str, path: str, tables: "Mapping[str, Mapping[str, Any]]") -> None:
    """Keys (and tables) a layer may not set are a config error naming the file and key."""
    who = "a repository file" if layer == "repository" else f"the {layer} config"
    refused = [(name, "", layers) for name, layers in TABLES if name in tables[""]]
    refused += [(k.key, k.table, k.layers) for k in KEYS if k.key in tables[k.table]]
    for key, table, layers in refused:
        if layer not in layers:
            shown = key if table == "" else f"[{table}] {key}"
            where = "the system config" if layers == SYSTEM else "the system or user config"
            raise ConfigError(
                f"safeterraform: config {path}: `{shown}` cannot be set in {who}; set it in {where}"
            )


_TYPES: "dict[str, type | tuple[type, ...]]" = {
    "bool": bool,
    "int": int,
    "number": (int, float),
    "str": str,
    "file str": str,
}


def _value(path: str, table: "Mapping[str, Any]", key: Key) -> object:
    """The value of one key in one file, checked and converted for its merge."""
    value: Any
    if key.kind in ("strings", "patterns", "sourced"):
        value = _strings(path, table, key.key)
        if key.kind == "patterns":
            return [Pattern(glob, path) for glob in value]
        if key.kind == "sourced":
            return [(text, path) for text in value]
        return value
    if key.kind == "duration":
        value = _duration(path, table, key.key)
    else:
        value = _typed(path, table, key.key, _TYPES[key.kind])
    if key.minimum is not None and value < key.minimum:
        shown = key.key if key.table == "" else f"[{key.table}] {key.key}"
        raise ConfigError(f"safeterraform: config {path}: `{shown}` must be >= {key.minimum}")
    if key.kind == "file str":
        return (value, path) if value else None
    return value


def _combine(key: Key, merged: "dict[str, Any]", value: "Any", layer: str, path: str) -> None:
    """Fold one file's value of `key` into `merged` by the key's merge rule."""
    name = key.attribute
    if key.merge in (ADD, ADD_OR_REPLACE):
        if name not in merged:  # the first layer to set it (system layers come first)
            replaced = key.merge == ADD_OR_REPLACE and layer == "system"
            merged[name] = [] if replaced else list(key.start)
        merged[name].extend(value)
    elif key.merge == STRICTEST:
        merged[name] = value if merged.get(name) is None else min(merged[name], value)
    elif key.merge == LAST:
        merged[name] = value
    elif key.merge == FIRST:
        if merged.get(name) is None and value:
            merged[name] = value
    elif key.merge == TURNED_ON:
        if value is True and merged.get(name) is None:
            merged[name] = path
    elif key.merge == TURNED_OFF:
        if value is False and merged.get(name) is None:
            merged[name] = path
    elif key.merge == ANY_TRUE:
        merged[name] = bool(merged.get(name)) or bool(value)


def _final(key: Key, value: "Any") -> object:
    """A merged value as Config holds it; an empty list is the key's default."""
    if isinstance(value, list):
        items = dict.fromkeys(value) if key.kind == "strings" and key.merge == ADD else value
        return tuple(items) or key.default
    if key.kind == "number" and value is not None:
        return float(value)
    return key.default if value is None else value


def _merge(env: "Mapping[str, str]", workdir: str, system_config: str | None) -> Config:
    files: list[tuple[str, str]] = []
    merged: dict[str, Any] = {}
    for layer, path in config_paths(env, workdir, system_config):
        data = _read(path)
        if data is None:
            continue
        files.append((layer, path))
        tables = _tables(path, data)
        _check_layer(layer, path, tables)
        for key in KEYS:
            if key.key in tables[key.table]:
                _combine(key, merged, _value(path, tables[key.table], key), layer, path)
    values = {}
    for key in KEYS:
        if key.attribute in merged:
            values[key.attribute] = _final(key, merged[key.attribute])
        elif key.start:
            values[key.attribute] = key.start  # the built-in patterns, the agent variables
    if values.get("builtin_var_files_disabled_by"):
        kept = [glob for glob in merged.get("var_files", ()) if glob is not BUILTIN_VAR_FILES]
        values["var_files"] = tuple(kept)
    return Config(files=tuple(files), **values)


def agent_markers(config: Config, env: "Mapping[str, str]") -> list[str]:
    """The `[confirm] agent_env` variables set (non-empty) here: a coding agent runs this
    command, and no person is at the keyboard (docs/design.md#coding-agents-and-approvals)."""
    return [name for name in config.agent_env if env.get(name, "").strip()]


def _duration(path: str, table: "Mapping[str, Any]", key: str) -> int | None:
    """Seconds from an integer or a string such as "7d", "12h", "90m"; > 0."""
    value = _typed(path, table, key, (int, str))
    if value is None:
        return None
    seconds = value
    if isinstance(value, str):
        text = value.strip()
        number, unit = text[:-1].strip(), DURATION_UNITS.get(text[-1:].lower())
        seconds = int(number) * unit if unit and number.isdigit() else 0
        if not seconds:
            raise ConfigError(
                f"safeterraform: config {path}: `{key}` must be a number of seconds or a "
                f'duration such as "7d", "12h", "30m" (not {value!r})'
            )
    if seconds <= 0:
        raise ConfigError(f"safeterraform: config {path}: `{key}` must be > 0")
    return int(seconds)


def lower_environment(names: "Sequence[str]", workspace: str, workdir: str) -> str | None:
    """The `[promotion] after` name a workspace or working directory is (None: neither):
    the workspace's name, or the directory's (`envs/staging`)."""
    basename = os.path.basename(os.path.normpath(workdir))
    return next((name for name in names if name in (workspace, basename)), None)


def _fnmatch(name: str, glob: str) -> bool:
    import fnmatch  # only configured globs need it (it imports re)

    return fnmatch.fnmatchcase(name, glob)


def tokens(name: str) -> list[str]:
    """Words of a name: split on every non-alphanumeric character, lower-to-upper case
    changes (`euProd`), acronym ends (`EUProd`) and letter/digit boundaries (`prod1`)."""
    words: list[str] = []
    word = ""
    previous = ""
    for index, char in enumerate(name):
        if not char.isalnum():
            if word:
                words.append(word)
            word, previous = "", ""
            continue
        following = name[index + 1 : index + 2]
        if word and (
            previous.isdigit() != char.isdigit()
            or (previous.islower() and char.isupper())
            or (previous.isupper() and char.isupper() and following.islower())
        ):
            words.append(word)
            word = ""
        word += char
        previous = char
    if word:
        words.append(word)
    return words


def runs(name: str) -> list[str]:
    """Whole runs of letters and of digits, lower-cased: `PRoD1` -> `prod`, `1`."""
    words: list[str] = []
    word = ""
    for char in name:
        if not char.isalnum() or (word and word[-1].isdigit() != char.isdigit()):
            if word:
                words.append(word)
            word = char if char.isalnum() else ""
            continue
        word += char.lower()
    if word:
        words.append(word)
    return words


def production_token(name: str) -> str | None:
    """The production token in a name: a word (`eu-prod`, `prod_eu`, `prod1`, `euProd`,
    `EUProd`, `prod:eu`) or a whole run compared case-insensitively (`PRoD`, `PRODuction`:
    on a case-insensitive filesystem `PRoD` is the directory `prod`); not `preprod`,
    `nonprod`, `myprod`."""
    for word in (*tokens(name), *runs(name)):
        if word.lower() in PRODUCTION_TOKENS:
            return word
    return None


def has_production_token(name: str) -> bool:
    return production_token(name) is not None


def current_workspace(env: "Mapping[str, str]", workdir: str) -> tuple[str, str]:
    """The workspace as terraform computes it, and where it came from.

    TF_WORKSPACE, else DATA_DIR/environment (TF_DATA_DIR or .terraform, relative to
    the working directory) trimmed as bytes.TrimSpace trims (Unicode spaces too), else
    "default".
    https://github.com/hashicorp/terraform/blob/main/internal/command/meta.go (Workspace)
    """
    if env.get("TF_WORKSPACE"):
        return env["TF_WORKSPACE"], "TF_WORKSPACE"
    environment_file = os.path.join(data_dir(env, workdir), "environment")
    try:
        with open(environment_file, "rb") as handle:
            raw = handle.read()
    except OSError:
        return "default", "no environment file, terraform's default"
    name = raw.decode("utf-8", "surrogateescape").strip(GO_SPACE)
    if name:
        return name, environment_file
    return "default", f"{environment_file} is empty"


def logical_workdir(env: "Mapping[str, str]", cwd: str, chdir: str | None) -> str:
    """The working directory as the shell sees it ($PWD, Terraform's `path.cwd`), when
    $PWD names the current directory; else the resolved one."""
    logical = cwd
    pwd = env.get("PWD", "")
    if os.path.isabs(pwd) and pwd != cwd:
        try:
            if os.path.samefile(pwd, cwd):
                logical = pwd
        except OSError:
            pass
    return os.path.normpath(os.path.join(logical, chdir)) if chdir else logical


def _spellings(path: str) -> list[str]:
    """A path as given (absolute, normalised) and resolved through every symlink."""
    normal = os.path.normpath(path)
    resolved = os.path.realpath(normal)
    return [normal] if resolved == normal else [normal, resolved]


def _workspace_rule(config: Config, name: str) -> str | None:
    for pattern in config.workspaces:
        if pattern.source == BUILTIN:
            if has_production_token(name):
                return f"has a production token ({BUILTIN})"
        elif _fnmatch(name, pattern.glob):
            return f"matches {pattern.glob!r} in {pattern.source}"
    return None


def _path_rule(config: Config, path: str) -> str | None:
    for spelling in _spellings(path):
        shown = "" if spelling == os.path.normpath(path) else f" (resolved: {spelling})"
        for pattern in config.paths:
            if pattern.source == BUILTIN:
                for component in spelling.split(os.sep):
                    if component and has_production_token(component):
                        return f"has the production component {component!r}{shown} ({BUILTIN})"
            elif _fnmatch(spelling, pattern.glob):
                return f"matches {pattern.glob!r}{shown} in {pattern.source}"
    return None


def _state_file_workspace(path: str) -> str | None:
    """`.../terraform.tfstate.d/<workspace>/...` names that workspace's state."""
    parts = os.path.normpath(path).split(os.sep)
    for index, part in enumerate(parts[:-1]):
        if part == "terraform.tfstate.d":
            return parts[index + 1]
    return None


AUTO_VAR_FILES = ("terraform.tfvars", "terraform.tfvars.json")
AUTO_VAR_SUFFIXES = (".auto.tfvars", ".auto.tfvars.json")


def auto_var_files(workdir: str) -> list[str]:
    """The var files terraform loads by itself from the working directory."""
    try:
        names = sorted(os.listdir(workdir))
    except OSError:
        return []
    return [n for n in names if n in AUTO_VAR_FILES or n.endswith(AUTO_VAR_SUFFIXES)]


def judge(
    config: Config,
    env: "Mapping[str, str]",
    cwd: str,
    chdir: str | None = None,
    var_files: "Sequence[str]" = (),
    states: "Sequence[tuple[str, str]]" = (),
) -> Verdict:
    """THE production verdict (docs/design.md#production-detection, #command-classes): production
    when any state the command reads or writes is. `states` are (kind, value) pairs from the
    command line (`argv.Invocation.states`): "state file" paths, a "workspace" name, and the
    "backend path" / "backend workspace" / "backend" a migrating `init` would write into.
    Every caller (shim, doctor, flows, approve) asks this function and no other.
    """
    workdir = os.path.join(cwd, chdir) if chdir else cwd
    logical = logical_workdir(env, cwd, chdir)
    workspace, workspace_source = current_workspace(env, workdir)
    touched = [f"workspace {workspace!r} (current, from {workspace_source})"]
    # The backend `init` recorded (with -backend-config merged in): read only here, for a
    # guarded command, and only where init has recorded one (it is JSON).
    backend = recorded_backend(env, workdir)
    remote = None
    if backend is not None and backend[0] in ("remote", "cloud"):
        remote = remote_workspace_of(backend[0], backend[1], env, workspace)
        touched.append(f"remote workspace {remote[0]!r} ({remote[1]})")
    found: list[str] = []
    if config.error:
        found.append(f"the configuration cannot be read: {config.error}")
    if config.always:
        found.append(f"always = true in {config.always}")
    rule = _workspace_rule(config, workspace)
    if rule:
        found.append(f"workspace {workspace!r} {rule}")
    if remote is not None:
        rule = _workspace_rule(config, remote[0])
        if rule:
            found.append(f"remote workspace {remote[0]!r} ({remote[1]}) {rule}")
    for directory in dict.fromkeys((logical, os.path.abspath(workdir))):
        rule = _path_rule(config, directory)
        if rule:
            found.append(f"working directory {directory} {rule}")
            break
    for var_file in [*auto_var_files(workdir), *var_files]:
        how = "-var-file" if var_file in var_files else "auto-loaded var file"
        rule = _var_file_rule(config, logical, var_file)
        if rule:
            found.append(f"{how} {var_file!r} {rule}")
    if backend is None or backend[0] == "local":
        # Where terraform's local backend keeps this workspace: a backend `path` or
        # `workspace_dir` set in the configuration is judged as written and resolved; the
        # default place only through a symlink (its own name is the workspace's).
        settings = backend[1] if backend is not None else {}
        path = state_location("local", settings, workspace)
        custom = bool(settings.get("path" if workspace == "default" else "workspace_dir"))
        absolute = os.path.normpath(os.path.join(logical, path))
        resolved = os.path.realpath(absolute)
        if custom or resolved != absolute:
            touched.append(f"workspace state {resolved}")
            found.extend(_state_rules(config, logical, "workspace state", resolved))
    elif remote is None:
        location = state_location(backend[0], backend[1], workspace, env)
        touched.append(f"backend state {location}")
        found.extend(_state_rules(config, logical, "backend state", location))
    for kind, value in states:
        touched.append(f"{kind} {value}")
        found.extend(_state_rules(config, logical, kind, value))
    if found:
        reason = found[0]
    else:
        reason = f"workspace {workspace!r}, directory and states match no production rule"
    return Verdict(bool(found), reason, workspace, workspace_source, workdir, tuple(touched))


def _var_file_rule(config: Config, logical: str, var_file: str) -> str | None:
    """Why a var file makes the command production: a production token in its path as
    given, or resolved when that is through a symlink (built in, README "What is
    enforced"), or a `[production] var_files` glob on its name."""
    absolute = os.path.normpath(os.path.join(logical, var_file))
    resolved = os.path.realpath(absolute)
    spellings = [var_file] + ([resolved] if resolved != absolute else [])
    for pattern in config.var_files:
        if pattern.source == BUILTIN:
            for spelling in spellings:
                for component in spelling.split(os.sep):
                    if component and has_production_token(component):
                        shown = "" if spelling == var_file else f" (resolved: {spelling})"
                        return f"has the production component {component!r}{shown} ({BUILTIN})"
        elif _fnmatch(os.path.basename(var_file), pattern.glob):
            return f"matches {pattern.glob!r} in {pattern.source}"
    return None


def _state_rules(config: Config, logical: str, kind: str, value: str) -> list[str]:
    """Why one touched state is production (empty: it is not)."""
    found: list[str] = []
    if kind == "written file" and not is_state(os.path.join(logical, value)):
        return found  # a plan or a report, not a state
    if kind in ("state file", "backend path", "workspace state", "written file"):
        absolute = os.path.join(logical, value)
        for spelling in _spellings(absolute):
            owner = _state_file_workspace(spelling)
            rule = _workspace_rule(config, owner) if owner else None
            if rule:
                found.append(f"{kind} {value} is the state of workspace {owner!r}, which {rule}")
                break
        rule = _path_rule(config, absolute)
        if rule:
            found.append(f"{kind} {value} {rule}")
    elif kind in ("workspace", "backend workspace"):
        rule = _workspace_rule(config, value)
        if rule:
            found.append(f"{kind} {value!r} {rule}")
    elif kind in ("backend", "backend state"):
        rule = location_rule(config, value)
        if rule:
            found.append(f"{kind} {value} {rule}")
    elif kind == "unknown":
        found.append(value)
    return found


def current_state_file(
    env: "Mapping[str, str]", workdir: str, workspace: str
) -> tuple[str, bool] | None:
    """The state file the local backend uses for `workspace` (its recorded `path` and
    `workspace_dir`, else terraform's defaults) and whether the configuration chose it;
    None when another backend is in use."""
    settings: Mapping[str, Any] = {}
    if os.path.exists(os.path.join(data_dir(env, workdir), "terraform.tfstate")):
        backend = recorded_backend(env, workdir)
        if backend is None or backend[0] != "local":
            return None
        settings = backend[1]
    if workspace == "default":
        return str(settings.get("path") or "terraform.tfstate"), bool(settings.get("path"))
    base = str(settings.get("workspace_dir") or "terraform.tfstate.d")
    return os.path.join(base, workspace, "terraform.tfstate"), bool(settings.get("workspace_dir"))


# -- where a backend keeps a workspace's state (README "Where the state lives") ----------

# Query parameters and DSN keys that may carry a credential: never part of a location.
# A plain `key` stays: it names where (`?state_key=prod`), and its words are judged.
_SECRET_WORDS = (
    "password",
    "passwd",
    "secret",
    "token",
    "apikey",
    "api_key",
    "access_key",
    "sig",
    "auth",
    "credential",
)


def _setting(settings: "Mapping[str, Any]", name: str, default: str = "") -> str:
    value = settings.get(name)
    return value if isinstance(value, str) and value else default


def _without_secrets(url: str) -> str:
    """A URL without userinfo (`user:password@`) and without query parameters whose name
    looks like a credential (`?access_token=...`)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    head, slash, tail = rest.partition("/")
    if "@" in head:
        head = head.rsplit("@", 1)[1]
    path, _, query = (slash + tail).partition("?")
    kept = [
        pair
        for pair in query.split("&")
        if pair and not any(word in pair.split("=", 1)[0].lower() for word in _SECRET_WORDS)
    ]
    shown = f"{scheme}{sep}{head}{path}"
    return f"{shown}?{'&'.join(kept)}" if kept else shown


# libpq's connection settings that say where the state lives, and the environment variable
# lib/pq (Terraform's pg driver) takes each from when conn_str leaves it out.
_PG_WHERE = (("host", "PGHOST"), ("port", "PGPORT"), ("dbname", "PGDATABASE"))


def _pg_pairs(conn_str: str) -> list[tuple[str, str]]:
    """(key, value) settings of a conn_str: a URL's host, port, database (its path) and
    query parameters, or libpq's `key = value` words (spaces around `=`, quoted values)."""
    if "://" in conn_str:
        from urllib.parse import parse_qsl, unquote, urlsplit

        url = urlsplit(conn_str)
        host, _, port = url.netloc.rpartition("@")[2].rpartition(":")
        if not host or "]" in port:  # no port, or an IPv6 address without one
            host, port = url.netloc.rpartition("@")[2], ""
        found = [("host", unquote(host)), ("port", port), ("dbname", unquote(url.path[1:]))]
        return found + parse_qsl(url.query)
    import re

    pattern = r"(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|\S*)"
    return [
        (key, re.sub(r"\\(.)", r"\1", value[1:-1]) if value.startswith("'") else value)
        for key, value in re.findall(pattern, conn_str)
    ]


def _pg_location(
    conn_str: str, schema: str, workspace: str, env: "Mapping[str, str] | None" = None
) -> str:
    """pg://host:port/database?schema=...&workspace=... from a URL or key=value conn_str.

    What conn_str leaves out comes from PGHOST, PGPORT, PGDATABASE as lib/pq takes it;
    a setting conn_str gives twice (a URL's path and `?dbname=`) has every value judged:
    the others are added as `&dbname=...` (README "Where the state lives")."""
    pairs = _pg_pairs(conn_str)
    chosen: dict[str, str] = {}
    extra: list[str] = []
    for key, variable in _PG_WHERE:
        values = list(dict.fromkeys(v for k, v in pairs if k == key and v))
        chosen[key] = values[-1] if values else (env or {}).get(variable, "")
        extra += [f"{key}={value}" for value in values[:-1]]
    host = chosen["host"] + (f":{chosen['port']}" if chosen["port"] else "")
    where = f"pg://{host}/{chosen['dbname']}?schema={schema}&workspace={workspace}"
    return "&".join([where, *extra])


def state_location(
    kind: str,
    settings: "Mapping[str, Any]",
    workspace: str,
    env: "Mapping[str, str] | None" = None,
) -> str:
    """Where backend `kind` with these (recorded) settings keeps `workspace`'s state, as a
    URL-like string judged like a path (README "Where the state lives"): the one answer
    for the backend `init` recorded, a saved plan's backend and an `init` migration's
    target. Never a credential. The local backend's is a path (relative to the working
    directory unless absolute).
    """
    env = env or {}
    default = workspace == "default"
    if kind == "local":
        if default:
            return _setting(settings, "path", "terraform.tfstate")
        base = _setting(settings, "workspace_dir", "terraform.tfstate.d")
        return os.path.join(base, workspace, "terraform.tfstate")
    if kind in ("remote", "cloud"):
        name = remote_workspace_of(kind, settings, env, workspace)[0]
        host = _setting(settings, "hostname", "app.terraform.io")
        return f"{kind}://{host}/{_setting(settings, 'organization')}/{name}"
    if kind == "s3":  # default: `key`; else <workspace_key_prefix>/<workspace>/<key>
        key = _setting(settings, "key")
        prefix = _setting(settings, "workspace_key_prefix", "env:")
        where = key if default else f"{prefix}/{workspace}/{key}"
        # Another endpoint is another store (a self-hosted S3 per environment): the
        # backend's `endpoints.s3`, else the environment's, as the AWS SDK takes it.
        endpoints = settings.get("endpoints")
        endpoint = (
            (_setting(endpoints, "s3") if isinstance(endpoints, dict) else "")
            or _setting(settings, "endpoint")
            or env.get("AWS_ENDPOINT_URL_S3")
            or env.get("AWS_S3_ENDPOINT")
            or env.get("AWS_ENDPOINT_URL", "")
        )
        shown = f"?endpoint={_without_secrets(endpoint)}" if endpoint else ""
        return f"s3://{_setting(settings, 'bucket')}/{where}{shown}"
    if kind == "gcs":  # <prefix>/<workspace>.tfstate
        prefix = _setting(settings, "prefix").strip("/")
        where = f"{prefix}/{workspace}.tfstate" if prefix else f"{workspace}.tfstate"
        return f"gcs://{_setting(settings, 'bucket')}/{where}"
    if kind == "azurerm":  # default: `key`; else <key>env:<workspace>
        key = _setting(settings, "key")
        where = key if default else f"{key}env:{workspace}"
        account = _setting(settings, "storage_account_name")
        return f"azurerm://{account}/{_setting(settings, 'container_name')}/{where}"
    if kind == "pg":
        conn_str = _setting(settings, "conn_str") or env.get("PG_CONN_STR", "")
        schema = _setting(settings, "schema_name") or env.get("PG_SCHEMA_NAME", "")
        return _pg_location(conn_str, schema or "terraform_remote_state", workspace, env)
    if kind == "http":
        return _without_secrets(_setting(settings, "address") or env.get("TF_HTTP_ADDRESS", ""))
    if kind == "consul":  # default: `path`; else <path>-env:<workspace>
        address = _setting(settings, "address") or env.get("CONSUL_HTTP_ADDR", "")
        path = _setting(settings, "path")
        where = path if default else f"{path}-env:{workspace}"
        return f"consul://{_without_secrets(address).split('://')[-1]}/{where}"
    if kind == "kubernetes":  # the secret tfstate-<workspace>-<secret_suffix>
        namespace = _setting(settings, "namespace") or env.get("KUBE_NAMESPACE", "default")
        suffix = _setting(settings, "secret_suffix")
        return f"kubernetes://{namespace}/tfstate-{workspace}-{suffix}"
    if kind in ("oss", "cos"):  # <prefix>/<key>; else <prefix>/<workspace>/<key>
        prefix = _setting(settings, "prefix", "env:").strip("/")
        key = _setting(settings, "key", "terraform.tfstate")
        where = f"{prefix}/{key}" if default else f"{prefix}/{workspace}/{key}"
        return f"{kind}://{_setting(settings, 'bucket')}/{where}"
    # Another backend: the settings that say where (never credentials), and the workspace.
    words = "&".join(
        f"{key}={_without_secrets(value)}"
        for key, value in sorted(settings.items())
        if key in LOCATION_KEYS and isinstance(value, str) and value
    )
    return f"{kind}://?{words}&workspace={workspace}" if words else f"{kind}://{workspace}"


# Settings of another backend that say where its state lives (never credentials).
LOCATION_KEYS = frozenset(
    {
        "address",
        "bucket",
        "key",
        "prefix",
        "workspace_key_prefix",
        "path",
        "schema_name",
        "container_name",
        "storage_account_name",
        "organization",
        "hostname",
        "name",
        "namespace",
        "secret_suffix",
    }
)


def location_rule(config: Config, location: str) -> str | None:
    """Why a state location is production (None: it is not): a production token in any
    of its words (built in), or a `[production] backends` glob; as written and with its
    %-escapes decoded (a server reads `/state/%70rod` as `/state/prod`)."""
    spellings = [location]
    while "%" in spellings[-1] and len(spellings) < 4:
        from urllib.parse import unquote  # only for a location with %-escapes

        decoded = unquote(spellings[-1])
        if decoded == spellings[-1]:
            break
        spellings.append(decoded)
    for pattern in config.backends:
        for spelling in spellings:
            shown = "" if spelling == location else f" (decoded: {spelling})"
            if pattern.source == BUILTIN:
                for word in spelling.replace("?", "/").replace("&", "/").split("/"):
                    if word and has_production_token(word):
                        return f"has the production word {word!r}{shown} ({BUILTIN})"
            elif _fnmatch(spelling, pattern.glob):
                return f"matches backends {pattern.glob!r}{shown} in {pattern.source}"
    return None


def state_of(
    backend: "tuple[str, Mapping[str, Any]]", workspace: str, env: "Mapping[str, str]"
) -> tuple[str, str]:
    """(kind, value) for `judge` of the state `backend` keeps for `workspace`: a "backend
    path" (local), a "backend workspace" (remote, cloud) or a "backend" location."""
    kind, settings = backend
    if kind == "local":
        return "backend path", state_location(kind, settings, workspace, env)
    if kind in ("remote", "cloud"):
        return "backend workspace", remote_workspace_of(kind, settings, env, workspace)[0]
    return "backend", state_location(kind, settings, workspace, env)


def is_state(path: str) -> bool:
    """A Terraform state file: by its path (inside terraform.tfstate.d, or named
    *.tfstate), or an existing file whose content is one (JSON with "version",
    "terraform_version" and "lineage")."""
    if path.endswith(".tfstate") or state_file_workspace(path) is not None:
        return True
    try:
        with open(path, "rb") as handle:
            head = handle.read(1)
            if head != b"{":
                return False
            raw = head + handle.read()
    except OSError:
        return False
    import json  # only for an existing JSON file the command would write over

    try:
        data = json.loads(raw)
    except ValueError:
        return False
    return isinstance(data, dict) and {"version", "terraform_version", "lineage"} <= set(data)


def overwritten_state(
    command: str, written: "Sequence[tuple[str, str]]", read: "Sequence[str]", logical: str
) -> str | None:
    """Why the command would write over an existing Terraform state file it should not
    (None: it would not), in production or not (README "What is enforced"). `written`
    is (flag, path) from `argv.written_files`; `read` the `-state` files it reads.

    A plan, report or JSON output never goes over a state; a `-backup` only over a
    `.backup`; `-state-out` only over the state it read or, for `state mv`, the
    destination it merges into."""
    for flag, value in written:
        path = os.path.join(logical, value)
        if not os.path.lexists(path) or not is_state(path):
            continue
        if flag in ("backup", "backup-out") and path.endswith(".backup"):
            continue
        if flag == "state-out":
            if command == "state mv":
                continue
            sources = [os.path.join(logical, name) for name in read or ["terraform.tfstate"]]
            if any(_same_file(path, source) for source in sources):
                continue
        owner = state_file_workspace(path)
        whose = f" (the state of workspace {owner!r})" if owner else ""
        return f"-{flag}={value} would write over the existing Terraform state {path}{whose}"
    return None


def _same_file(one: str, other: str) -> bool:
    try:
        return os.path.samefile(one, other)
    except OSError:
        return False


def state_file_workspace(path: str) -> str | None:
    """The workspace a state file belongs to, by its `terraform.tfstate.d/<name>/` path."""
    for spelling in _spellings(path):
        owner = _state_file_workspace(spelling)
        if owner:
            return owner
    return None


REMOTE_BACKENDS = ("remote", "cloud")  # terraform plans and applies remotely with these


def data_dir(env: "Mapping[str, str]", workdir: str) -> str:
    """Terraform's data directory for `workdir` (after -chdir): TF_DATA_DIR, relative to
    the working directory unless absolute, else .terraform."""
    return os.path.join(workdir, env.get("TF_DATA_DIR") or ".terraform")


def remote_workspace_of(
    kind: str, settings: "Mapping[str, Any]", env: "Mapping[str, str]", workspace: str
) -> tuple[str, str]:
    blocks = settings.get("workspaces")
    block = blocks[0] if isinstance(blocks, list) and blocks else blocks
    if not isinstance(block, dict):
        block = {}
    name, prefix = block.get("name"), block.get("prefix")
    where = f"{kind} backend"
    if isinstance(name, str) and name:
        return name, f"{where} workspaces.name"
    if isinstance(prefix, str) and prefix:
        return prefix + workspace, f"{where} prefix {prefix!r} + {workspace!r}"
    if kind == "cloud" and env.get("TF_WORKSPACE"):
        return env["TF_WORKSPACE"], "cloud block, TF_WORKSPACE"
    return workspace, f"{where}, same name"


def recorded_backend(
    env: "Mapping[str, str]", workdir: str, kinds: "Sequence[bytes]" = ()
) -> "tuple[str, dict[str, Any]] | None":
    """(type, settings) of the backend `terraform init` recorded, if any. With `kinds`,
    only a file mentioning one of them is parsed (json costs start-up time)."""
    path = os.path.join(data_dir(env, workdir), "terraform.tfstate")
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError:
        return None
    if kinds and not any(kind in raw for kind in kinds):
        return None
    import json  # only where init has recorded a backend

    # Read as Terraform's Go reader does: invalid UTF-8 becomes U+FFFD, the file's
    # `backend`, `type` and `config` keys match in any case (`"Type"`), and a repeated
    # key is decoded into what the earlier ones set (last value per field wins).
    try:
        data = json.loads(raw.decode("utf-8", "replace"), object_pairs_hook=_Pairs)
    except ValueError:
        return None
    # `backend` is a pointer to a struct: each non-null value is decoded into it in turn.
    objects: list[object] = []
    for key, value in getattr(data, "pairs", ()):
        if key.casefold() == "backend":
            objects = [] if value is None else [*objects, value]
    fields = _go_fields(objects, ("type", "config"))
    kind, settings = fields.get("type"), fields.get("config")
    if not isinstance(kind, str):
        return None
    return kind, dict(settings) if isinstance(settings, dict) else {}


class _Pairs(dict):  # type: ignore[type-arg]
    """A JSON object that also keeps its (key, value) pairs in order, repeats included."""

    def __init__(self, pairs: "list[tuple[str, Any]]") -> None:
        super().__init__(pairs)
        self.pairs = pairs


def _go_fields(objects: "Sequence[object]", names: "Sequence[str]") -> "dict[str, Any]":
    """The fields `names` Go's encoding/json sets decoding `objects` in turn into one
    struct: a key matches a field equal under Unicode case folding, the last non-null
    value wins."""
    found: dict[str, Any] = {}
    for data in objects:
        for key, value in getattr(data, "pairs", ()):
            if key.casefold() in names and value is not None:
                found[key.casefold()] = value
    return found
