"""Config layers and the production verdict, with the reason that decided it (PRODUCT.md §4).

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
BUILTIN = "built-in default"


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


class Config(_Value):
    """Every layer merged under the authority rules; `files` are the ones read."""

    __slots__ = (
        "always",
        "audit_log",
        "audit_syslog",
        "before_destructive_apply",
        "break_glass_disabled_by",
        "error",
        "files",
        "max_affected_fraction",
        "max_affected_nodes",
        "node_attributes",
        "paths",
        "real_binaries",
        "state_backups_keep",
        "var_files",
        "workspaces",
    )

    def __init__(
        self,
        *,
        files: tuple[tuple[str, str], ...] = (),  # (layer, path)
        workspaces: tuple[Pattern, ...] = (),
        paths: tuple[Pattern, ...] = (),
        var_files: tuple[Pattern, ...] = (),
        always: str | None = None,  # the file that set always = true
        break_glass_disabled_by: str | None = None,
        node_attributes: tuple[str, ...] = DEFAULT_NODE_ATTRIBUTES,
        real_binaries: "Mapping[str, tuple[str, str]] | None" = None,
        audit_log: str | None = None,
        audit_syslog: bool = False,
        max_affected_nodes: int | None = None,
        max_affected_fraction: float | None = None,
        state_backups_keep: int = DEFAULT_STATE_BACKUPS_KEEP,
        before_destructive_apply: str | None = None,
        error: str | None = None,  # a file that could not be read or parsed; fail closed
    ) -> None:
        self.files = files
        self.workspaces = workspaces
        self.paths = paths
        self.var_files = var_files
        self.always = always
        self.break_glass_disabled_by = break_glass_disabled_by
        self.node_attributes = node_attributes
        self.real_binaries: Mapping[str, tuple[str, str]] = real_binaries or {}
        self.audit_log = audit_log
        self.audit_syslog = audit_syslog
        self.max_affected_nodes = max_affected_nodes
        self.max_affected_fraction = max_affected_fraction
        self.state_backups_keep = state_backups_keep
        self.before_destructive_apply = before_destructive_apply
        self.error = error

    @property
    def allow_break_glass(self) -> bool:
        return self.break_glass_disabled_by is None


class Verdict(_Value):
    __slots__ = ("production", "reason", "workdir", "workspace", "workspace_source")

    def __init__(
        self, production: bool, reason: str, workspace: str, workspace_source: str, workdir: str
    ) -> None:
        self.production = production
        self.reason = reason
        self.workspace = workspace
        self.workspace_source = workspace_source
        self.workdir = workdir


def config_paths(env: "Mapping[str, str]", workdir: str) -> list[tuple[str, str]]:
    """(layer, path) of every config file that applies, whether or not it exists."""
    system = env.get("SAFETERRAFORM_SYSTEM_CONFIG", SYSTEM_CONFIG)
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


def configured_real(env: "Mapping[str, str]", workdir: str, program: str) -> tuple[str, str] | None:
    """`real_<program>` and its file, parsing only files that mention it (pass-through path).

    Same precedence as `load` (the first layer that sets it, system first). A broken
    file is skipped here: read-only commands pass through a broken config.
    """
    key = f"real_{program}"
    for _, path in config_paths(env, workdir):
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


def load(env: "Mapping[str, str]", workdir: str) -> Config:
    """Read and merge the layers; a broken file yields Config(error=...), never raises."""
    try:
        return _merge(env, workdir)
    except ConfigError as error:
        return Config(error=str(error))


# A misspelt key (`alway = true`) must not silently turn protection off: unknown keys
# are a config error, so guarded commands fail closed.
KNOWN_KEYS = {
    "": frozenset(
        {
            "production",
            "nodes",
            "audit",
            "limits",
            "hooks",
            "state_backups",
            "real_terraform",
            "real_tofu",
            "audit_log",
        }
    ),
    "production": frozenset({"workspaces", "paths", "var_files", "always", "allow_break_glass"}),
    "nodes": frozenset({"attributes"}),
    "audit": frozenset({"path", "syslog"}),
    "limits": frozenset({"max_affected_nodes", "max_affected_fraction"}),
    "hooks": frozenset({"before_destructive_apply"}),
    "state_backups": frozenset({"keep"}),
}


def _known_keys(path: str, table: "Mapping[str, Any]", known: frozenset[str], where: str) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(
            f"safeterraform: config {path}: unknown key {where}`{unknown[0]}` "
            f"(known: {', '.join(sorted(known))})"
        )


def _merge(env: "Mapping[str, str]", workdir: str) -> Config:
    files: list[tuple[str, str]] = []
    workspaces: list[Pattern] = []
    paths: list[Pattern] = []
    var_files: list[Pattern] = []
    always = None
    break_glass_disabled_by = None
    node_attributes: tuple[str, ...] | None = None
    real_binaries: dict[str, tuple[str, str]] = {}
    audit_log = None
    audit_syslog = False
    max_nodes: int | None = None
    max_fraction: float | None = None
    keep = DEFAULT_STATE_BACKUPS_KEEP
    hook = None
    system_replaces: set[str] = set()
    for layer, path in config_paths(env, workdir):
        data = _read(path)
        if data is None:
            continue
        files.append((layer, path))
        production = data.get("production", {})
        nodes = data.get("nodes", {})
        audit = data.get("audit", {})
        limits = data.get("limits", {})
        hooks = data.get("hooks", {})
        state_backups = data.get("state_backups", {})
        for name, table in (
            ("production", production),
            ("nodes", nodes),
            ("audit", audit),
            ("limits", limits),
            ("hooks", hooks),
            ("state_backups", state_backups),
        ):
            if not isinstance(table, dict):
                raise ConfigError(f"safeterraform: config {path}: [{name}] must be a table")
            _known_keys(path, table, KNOWN_KEYS[name], f"[{name}] ")
        _known_keys(path, data, KNOWN_KEYS[""], "")
        # Only the authoritative system layer may replace the built-in patterns.
        for key, target in (("workspaces", workspaces), ("paths", paths), ("var_files", var_files)):
            target.extend(Pattern(glob, path) for glob in _strings(path, production, key))
        if layer == "system":
            system_replaces = {key for key in ("workspaces", "paths") if key in production}
        if _typed(path, production, "always", bool) and always is None:
            always = path
        if _typed(path, production, "allow_break_glass", bool) is False:
            break_glass_disabled_by = break_glass_disabled_by or path
        if "attributes" in nodes:
            node_attributes = tuple(_strings(path, nodes, "attributes"))
        for program in ("terraform", "tofu"):
            value = _typed(path, data, f"real_{program}", str)
            if value and program not in real_binaries:
                real_binaries[program] = (value, path)
        log = _typed(path, data, "audit_log", str) or _typed(path, audit, "path", str)
        if log and audit_log is None:
            audit_log = log
        audit_syslog = audit_syslog or bool(_typed(path, audit, "syslog", bool))
        limit = _typed(path, limits, "max_affected_nodes", int)
        if limit is not None:
            max_nodes = limit if max_nodes is None else min(max_nodes, limit)
        fraction = _typed(path, limits, "max_affected_fraction", (int, float))
        if fraction is not None:
            max_fraction = fraction if max_fraction is None else min(max_fraction, fraction)
        keep = _typed(path, state_backups, "keep", int) or keep
        hook = hook or _typed(path, hooks, "before_destructive_apply", str)
    if "workspaces" not in system_replaces:
        workspaces.insert(0, Pattern("<prod|production|prd token>", BUILTIN))
    if "paths" not in system_replaces:
        paths.insert(0, Pattern("<prod|production|prd path component>", BUILTIN))
    return Config(
        files=tuple(files),
        workspaces=tuple(workspaces),
        paths=tuple(paths),
        var_files=tuple(var_files),
        always=always,
        break_glass_disabled_by=break_glass_disabled_by,
        node_attributes=node_attributes or DEFAULT_NODE_ATTRIBUTES,
        real_binaries=real_binaries,
        audit_log=audit_log,
        audit_syslog=audit_syslog,
        max_affected_nodes=max_nodes,
        max_affected_fraction=float(max_fraction) if max_fraction is not None else None,
        state_backups_keep=keep,
        before_destructive_apply=hook,
    )


def _fnmatch(name: str, glob: str) -> bool:
    import fnmatch  # only configured globs need it (it imports re)

    return fnmatch.fnmatchcase(name, glob)


def has_production_token(name: str) -> bool:
    """`prod`, `eu-prod`, `prod_eu`, `production`, `prd`; not `product` or `prodigy`."""
    for separator in "-_.":
        name = name.replace(separator, " ")
    return any(token.lower() in PRODUCTION_TOKENS for token in name.split())


def current_workspace(env: "Mapping[str, str]", workdir: str) -> tuple[str, str]:
    """The workspace as terraform computes it, and where it came from.

    TF_WORKSPACE, else DATA_DIR/environment (TF_DATA_DIR or .terraform, relative to
    the working directory), else "default".
    https://github.com/hashicorp/terraform/blob/main/internal/command/meta.go (Workspace)
    """
    if env.get("TF_WORKSPACE"):
        return env["TF_WORKSPACE"], "TF_WORKSPACE"
    data_dir = env.get("TF_DATA_DIR") or ".terraform"
    environment_file = os.path.join(workdir, data_dir, "environment")
    try:
        with open(environment_file, "rb") as handle:
            name = handle.read().strip().decode("utf-8", "surrogateescape")
    except OSError:
        return "default", "no environment file, terraform's default"
    if name:
        return name, environment_file
    return "default", f"{environment_file} is empty"


def decide(
    config: Config,
    workspace: str,
    workspace_source: str,
    workdir: str,
    var_files: "Sequence[str]" = (),
) -> Verdict:
    """Production or not, and the first rule that said so."""

    def verdict(production: bool, reason: str) -> Verdict:
        return Verdict(production, reason, workspace, workspace_source, workdir)

    if config.always:
        return verdict(True, f"always = true in {config.always}")
    for pattern in config.workspaces:
        if pattern.source == BUILTIN:
            if has_production_token(workspace):
                return verdict(True, f"workspace {workspace!r} has a production token ({BUILTIN})")
        elif _fnmatch(workspace, pattern.glob):
            return verdict(
                True, f"workspace {workspace!r} matches {pattern.glob!r} in {pattern.source}"
            )
    absolute = os.path.abspath(workdir)
    for pattern in config.paths:
        if pattern.source == BUILTIN:
            for component in absolute.split(os.sep):
                if component and has_production_token(component):
                    return verdict(
                        True, f"working directory component {component!r} is production ({BUILTIN})"
                    )
        elif _fnmatch(absolute, pattern.glob):
            return verdict(True, f"working directory matches {pattern.glob!r} in {pattern.source}")
    for var_file in var_files:
        base = os.path.basename(var_file)
        for pattern in config.var_files:
            if _fnmatch(base, pattern.glob):
                return verdict(
                    True, f"-var-file {base!r} matches {pattern.glob!r} in {pattern.source}"
                )
    return verdict(False, f"workspace {workspace!r} and directory match no production rule")
