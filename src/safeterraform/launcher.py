"""Write the `terraform` launcher that install.sh puts on PATH.

The launcher runs the venv's Python with `-I -S` (no site, no user paths: about 7 ms
instead of 33 ms of start-up) and puts exactly the package's own import paths in front.
Usage: python -m safeterraform.launcher --bin-dir DIR [--name terraform] [--real PATH]
"""

from __future__ import annotations

import argparse
import os
import sys
import sysconfig
from pathlib import Path

import safeterraform
from safeterraform.realbin import SHIM_MARKER

TEMPLATE = """#!{python} -IS
# {marker}: the safeterraform `{name}` shim, written by install.sh. Do not edit.
import sys
sys.path[:0] = {paths!r}
from safeterraform.shim import entry
entry(recorded_real={recorded!r})
"""


def import_paths() -> list[str]:
    """The package's parent dir and this interpreter's site-packages, without duplicates."""
    package_parent = str(Path(safeterraform.__file__).resolve().parent.parent)
    found = [package_parent, sysconfig.get_path("purelib"), sysconfig.get_path("platlib")]
    return list(dict.fromkeys(found))


def render(name: str, recorded_real: str | None, python: str = sys.executable) -> str:
    return TEMPLATE.format(
        python=python,
        marker=SHIM_MARKER.decode(),
        name=name,
        paths=import_paths(),
        recorded=recorded_real or None,
    )


def write(bin_dir: Path, name: str = "terraform", recorded_real: str | None = None) -> Path:
    """Write (or rewrite) the launcher atomically, mode 0755; return its path."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    target = bin_dir / name
    temporary = bin_dir / f".{name}.safeterraform-tmp"
    temporary.write_text(render(name, recorded_real))
    temporary.chmod(0o755)
    os.replace(temporary, target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m safeterraform.launcher")
    parser.add_argument("--bin-dir", required=True, type=Path)
    parser.add_argument("--name", default="terraform", choices=["terraform", "tofu"])
    parser.add_argument("--real", default=None, help="absolute path of the real binary")
    options = parser.parse_args(argv)
    print(write(options.bin_dir, options.name, options.real))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
