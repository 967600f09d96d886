"""Find the real terraform (or tofu) binary behind the shim
(docs/design.md#finding-the-real-binary).

Runs on every pass-through, so it imports nothing beyond `os` at run time (no
dataclasses, no typing): see bench/bench_passthrough.py.
"""

import os

from safeterraform.errors import RealBinaryNotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

# Written into every launcher install.sh creates, so a copy of the shim found
# anywhere on PATH (another venv, another bin dir, a symlink) is never mistaken
# for the real binary.
SHIM_MARKER = b"safeterraform-shim"


class RealBinary:
    """The binary the shim runs, and where it was found."""

    __slots__ = ("path", "source")

    def __init__(self, path: str, source: str) -> None:
        self.path = path  # what is exec'ed (a version manager's shim or symlink stays itself)
        self.source = source  # "$SAFETERRAFORM_REAL_TERRAFORM", "PATH", ...

    def __repr__(self) -> str:
        return f"RealBinary({self.path!r}, {self.source!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RealBinary) and (self.path, self.source) == (
            other.path,
            other.source,
        )

    def __hash__(self) -> int:
        return hash((self.path, self.source))

    @property
    def target(self) -> str:
        """The file finally run, e.g. the version a tfswitch symlink points at."""
        return os.path.realpath(self.path)


def env_var_for(program: str) -> str:
    return f"SAFETERRAFORM_REAL_{program.upper()}"


def is_shim(path: str, shim_path: str | None) -> bool:
    """True when `path` is this shim or any safeterraform launcher."""
    try:
        real = os.path.realpath(path)
        if shim_path is not None and real == os.path.realpath(shim_path):
            return True
        with open(real, "rb") as handle:
            return SHIM_MARKER in handle.read(1024)
    except OSError:
        return False


def _executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def find(
    program: str,
    env: "Mapping[str, str]",
    shim_path: str | None,
    configured: tuple[str, str] | None = None,
    recorded: str | None = None,
) -> RealBinary:
    """Resolve the real binary: env var, then config, then install record, then PATH.

    `configured` is (path, config file it came from); `recorded` is what install.sh
    wrote into the launcher. Entries that are the shim itself are always skipped.
    """
    var = env_var_for(program)
    # An explicit choice (env, config) is authoritative: when it is unusable we say so
    # rather than silently run some other terraform. The install record may go stale
    # (a version manager replaced the binary), so it falls through to PATH.
    explicit = None
    if env.get(var):
        explicit = (env[var], f"${var}")
    elif configured is not None:
        explicit = (configured[0], f"real_{program} in {configured[1]}")
    if explicit is not None:
        path = os.path.expanduser(explicit[0])
        if _executable(path) and not is_shim(path, shim_path):
            return RealBinary(os.path.abspath(path), explicit[1])
        reason = "is the shim itself" if _executable(path) else "is not an executable file"
        raise RealBinaryNotFound(
            f"safeterraform: real {program} not found: {explicit[1]}={path} {reason}"
        )
    if recorded and _executable(recorded) and not is_shim(recorded, shim_path):
        return RealBinary(recorded, "the path install.sh recorded")
    for directory in env.get("PATH", "").split(os.pathsep):
        candidate = os.path.join(directory or ".", program)
        if _executable(candidate) and not is_shim(candidate, shim_path):
            return RealBinary(os.path.abspath(candidate), "PATH")
    searched = f"install record {recorded}, " if recorded else ""
    raise RealBinaryNotFound(
        f"safeterraform: real {program} not found; searched {searched}"
        f"PATH={env.get('PATH', '')} (skipping the shim). Set {var} to its path."
    )
