"""Write the `terraform` launcher that install.sh puts on PATH, and the install record.

The launcher runs the venv's Python with `-I -S` (no site, no user paths: about 7 ms
instead of 33 ms of start-up) and puts exactly the package's own import paths in front.
It carries the install record: the real binary install.sh found, and the system config
location (default /etc/safeterraform/config.toml; only install.sh can move it, never an
environment variable). With --record the same record is written into the venv, where the
`safeterraform` command reads it (check, doctor, approve resolve as the shim does).
Usage: python -m safeterraform.launcher --bin-dir DIR [--name terraform] [--real PATH]
       [--system-config PATH] [--record]
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import sys
import sysconfig
from pathlib import Path

import safeterraform
from safeterraform import realbin
from safeterraform.realbin import SHIM_MARKER

TEMPLATE = """#!{python} -IS
# {marker}: the safeterraform `{name}` shim, written by install.sh. Do not edit.
import sys
sys.path[:0] = {paths!r}
from safeterraform.shim import entry
entry(recorded_real={recorded!r}, system_config={system_config!r})
"""
RECORD_NAME = "safeterraform-record.json"


def import_paths() -> list[str]:
    """The package's parent dir and this interpreter's site-packages, without duplicates."""
    package_parent = str(Path(safeterraform.__file__).resolve().parent.parent)
    found = [package_parent, sysconfig.get_path("purelib"), sysconfig.get_path("platlib")]
    return list(dict.fromkeys(found))


def render(
    name: str,
    recorded_real: str | None,
    python: str = sys.executable,
    system_config: str | None = None,
) -> str:
    return TEMPLATE.format(
        python=python,
        marker=SHIM_MARKER.decode(),
        name=name,
        paths=import_paths(),
        recorded=recorded_real or None,
        system_config=system_config or None,
    )


def write(
    bin_dir: Path,
    name: str = "terraform",
    recorded_real: str | None = None,
    system_config: str | None = None,
) -> Path:
    """Write (or rewrite) the launcher atomically, mode 0755; return its path."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    target = bin_dir / name
    temporary = bin_dir / f".{name}.safeterraform-tmp"
    temporary.write_text(render(name, recorded_real, system_config=system_config))
    temporary.chmod(0o755)
    os.replace(temporary, target)
    return target


def write_record(
    prefix: Path, name: str, recorded_real: str | None, system_config: str | None
) -> Path:
    """The install record in the venv, for the `safeterraform` command."""
    path = prefix / RECORD_NAME
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        record = {}
    wanted = {"real": recorded_real or None, "system_config": system_config or None}
    if record.get(name) == wanted:
        return path  # idempotent: a second install changes nothing
    record[name] = wanted
    temporary = prefix / f".{RECORD_NAME}.tmp"
    temporary.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    os.replace(temporary, path)
    return path


def read_launcher(path: str) -> dict[str, str | None] | None:
    """The record baked into a launcher file ({"real": ..., "system_config": ...})."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read(4096)
    except (OSError, UnicodeDecodeError):
        return None
    if SHIM_MARKER.decode() not in text:
        return None
    for line in text.splitlines():
        if line.startswith("entry("):
            try:
                call = ast.parse(line, mode="eval").body
            except SyntaxError:
                return None
            if not isinstance(call, ast.Call):
                return None
            values = {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg}
            return {
                "real": values.get("recorded_real"),
                "system_config": values.get("system_config"),
            }
    return None


def install_record(program: str, env: dict[str, str]) -> dict[str, str | None]:
    """What the `safeterraform` command knows of the install: the venv's record, else the
    record baked into the first `PROGRAM` shim on PATH; empty when neither exists."""
    try:
        record = json.loads((Path(sys.prefix) / RECORD_NAME).read_text())
        if isinstance(record.get(program), dict):
            return dict(record[program])
    except (OSError, ValueError, AttributeError):
        pass
    for directory in env.get("PATH", "").split(os.pathsep):
        found = read_launcher(os.path.join(directory or ".", program))
        if found is not None:
            return found
    return {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m safeterraform.launcher")
    parser.add_argument("--bin-dir", required=True, type=Path)
    parser.add_argument("--name", default="terraform", choices=["terraform", "tofu"])
    parser.add_argument("--real", default=None, help="absolute path of the real binary")
    parser.add_argument("--system-config", default=None, help="the system layer's path")
    parser.add_argument("--record", action="store_true", help="also record into the venv")
    options = parser.parse_args(argv)
    print(write(options.bin_dir, options.name, options.real, options.system_config))
    if options.record:
        write_record(Path(sys.prefix), options.name, options.real, options.system_config)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


def resolve(
    program: str, env: dict[str, str], configured: tuple[str, str] | None
) -> realbin.RealBinary:
    """The real binary for the `safeterraform` command, exactly as the shim resolves it:
    env, config, then the install record, then PATH (docs/design.md#finding-the-real-binary)."""
    record = install_record(program, env)
    return realbin.find(program, env, None, configured, record.get("real"))


def system_config(env: dict[str, str]) -> str | None:
    """The system layer the install recorded (None: the default location)."""
    return install_record("terraform", env).get("system_config")
