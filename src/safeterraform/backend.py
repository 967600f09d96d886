"""Which backend `terraform init` would migrate state into, read from the configuration.

Only `init` asks (docs/design.md#command-classes): a plain `init` whose configured backend differs
from the one recorded in DATA_DIR/terraform.tfstate offers to copy state over, so it is judged as
`init -migrate-state` against the states it would write. Backend blocks hold literal
values only, so the HCL parser reads them; a file it cannot read fails closed.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from safeterraform import argv, policy
from safeterraform.errors import Refused
from safeterraform.errors import block as message_block

State = tuple[str, str]
Backend = tuple[str, dict[str, Any]]
DEFAULT_LOCAL: Backend = ("local", {})


def _unquote(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    if isinstance(value, list):
        return [_unquote(item) for item in value]
    if isinstance(value, dict):
        return {_unquote(k): _unquote(v) for k, v in value.items() if k != "__is_block__"}
    return value


def _blocks_in(terraform_blocks: Any) -> Backend | None:
    found: Backend | None = None
    for block in terraform_blocks if isinstance(terraform_blocks, list) else [terraform_blocks]:
        if not isinstance(block, dict):
            continue
        for backend in block.get("backend", []) or []:
            for kind, settings in (backend or {}).items():
                found = (str(_unquote(kind)), dict(_unquote(settings) or {}))
        for cloud in block.get("cloud", []) or []:
            found = ("cloud", dict(_unquote(cloud) or {}))
    return found


def configured(workdir: str) -> Backend | None:
    """The backend block the configuration has (None: none, terraform's implicit local).

    Raises ValueError naming the file when a file with a backend cannot be read."""
    try:
        names = sorted(os.listdir(workdir))
    except OSError as error:
        raise ValueError(f"cannot list {workdir}: {error.strerror}") from None
    # Override files are merged last (terraform's override rules), so they win here too.
    names.sort(key=lambda n: n.endswith(("_override.tf", "_override.tf.json")))
    found: Backend | None = None
    for name in names:
        if not name.endswith((".tf", ".tf.json")):
            continue
        path = os.path.join(workdir, name)
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except (OSError, UnicodeDecodeError) as error:
            raise ValueError(f"cannot read {path}: {error}") from None
        if "backend" not in text and "cloud" not in text:
            continue
        try:
            if name.endswith(".json"):
                data = json.loads(text)
                blocks = data.get("terraform") if isinstance(data, dict) else None
                if isinstance(blocks, dict):
                    blocks = [
                        {
                            "backend": [blocks.get("backend", {})],
                            "cloud": [blocks["cloud"]] if "cloud" in blocks else [],
                        }
                    ]
            else:
                import hcl2

                blocks = hcl2.loads(text).get("terraform")
        except Exception as error:  # hcl2 raises lark's many error types
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error)
            raise ValueError(f"cannot parse {path}: {first}") from None
        backend = _blocks_in(blocks) if blocks else None
        if backend is not None:
            found = backend
    return found


def _backend_config_flags(workdir: str, values: Sequence[str]) -> dict[str, Any]:
    """-backend-config=KEY=VALUE and -backend-config=FILE, merged in order."""
    settings: dict[str, Any] = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if sep and "/" not in key and "." not in key:
            settings[key] = rest
            continue
        path = os.path.join(workdir, value)
        try:
            with open(path, encoding="utf-8") as handle:
                import hcl2

                settings.update(_unquote(hcl2.loads(handle.read())))
        except Exception as error:
            raise ValueError(f"cannot read -backend-config file {value}: {error}") from None
    return settings


def _workspaces(workdir: str, env: Mapping[str, str], recorded: Backend | None) -> list[str]:
    """The source's workspaces a migration copies (local state: terraform.tfstate.d)."""
    names = ["default"]
    if recorded is None or recorded[0] == "local":
        base = (recorded[1] if recorded else {}).get("workspace_dir") or "terraform.tfstate.d"
        with contextlib.suppress(OSError):
            names += sorted(os.listdir(os.path.join(workdir, base)))
    current, _ = policy.current_workspace(env, workdir)
    return list(dict.fromkeys([*names, current]))


def _local_state_exists(workdir: str) -> bool:
    """State in terraform's implicit local backend: terraform.tfstate or any workspace."""
    try:
        if os.path.getsize(os.path.join(workdir, "terraform.tfstate")) > 0:
            return True
    except OSError:
        pass
    try:
        return bool(os.listdir(os.path.join(workdir, "terraform.tfstate.d")))
    except OSError:
        return False


def _differs(configured_backend: Backend | None, recorded: Backend | None) -> bool:
    if configured_backend is None:
        return recorded is not None  # the block was removed: back to local state
    if recorded is None:  # terraform's implicit local backend, default settings
        return configured_backend[0] != "local" or any(configured_backend[1].values())
    if configured_backend[0] != recorded[0]:
        return True
    return any(recorded[1].get(key) != value for key, value in configured_backend[1].items())


def targets(backend: Backend, workspaces: Sequence[str], env: Mapping[str, str]) -> list[State]:
    """The states a migration into `backend` would write, as (kind, value) for the judge:
    one per workspace, where `policy.state_location` says that backend keeps it."""
    return list(dict.fromkeys(policy.state_of(backend, name, env) for name in workspaces))


def init_migration(
    env: Mapping[str, str], command_args: Sequence[str], workdir: str
) -> list[State] | None:
    """The states `init COMMAND_ARGS` would migrate into, or None when it migrates nothing."""
    if "-backend=false" in command_args or "--backend=false" in command_args:
        return None
    try:
        backend = configured(workdir)
        extra = _backend_config_flags(workdir, argv.flag_values(command_args, "backend-config"))
    except ValueError as error:
        return [("unknown", f"init may migrate state and safeterraform {error}")]
    if backend is not None or extra:
        backend = (backend or DEFAULT_LOCAL)[0], {**(backend or DEFAULT_LOCAL)[1], **extra}
    # -reconfigure forgets the recorded backend, but terraform still offers to copy what
    # its implicit local backend holds into the new one.
    reconfigure = argv.bool_flag(command_args, "reconfigure")
    recorded = None if reconfigure else policy.recorded_backend(env, workdir)
    if not _differs(backend, recorded):
        return None  # also with -migrate-state: there is nothing to migrate
    if recorded is None and not _local_state_exists(workdir):
        return None  # a first init: terraform's implicit local backend holds nothing
    return targets(backend or DEFAULT_LOCAL, _workspaces(workdir, env, recorded), env)


def plan_states(env: Mapping[str, str], plan_path: str) -> list[State]:
    """The states `apply PLANFILE` writes: the workspace and backend the plan was made
    with (a plan made in a production directory stays production wherever it is applied)."""
    from safeterraform import planfiles

    if not os.path.isfile(plan_path) or planfiles.cloud_plan(plan_path) is not None:
        return []  # terraform reports a missing file; a cloud plan is refused by the flow
    try:
        recorded = planfiles.recorded_backend(plan_path)
    except planfiles.MalformedPlan as error:
        raise Refused(
            message_block(
                f"refused to apply {plan_path}: the plan file is malformed; nothing ran",
                f"{error}: Terraform and safeterraform could read different backends from it",
                "make the plan again (`terraform plan -out=FILE`) and review that one.",
            )
        ) from None
    except ValueError as error:
        return [("unknown", f"the backend of plan {plan_path} cannot be read: {error}")]
    if recorded is None:
        return []
    kind, settings, workspace = recorded
    return [("workspace", workspace), *targets((kind, dict(settings)), [workspace], env)]
