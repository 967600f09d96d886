"""The one exception hierarchy; `exit_code` is what the process returns for it.

Standard library only: the shim imports this on the pass-through path.
"""

EXIT_REFUSED = 3
EXIT_NOT_CONFIRMED = 4
EXIT_NOT_FOUND = 127
EXIT_INTERRUPTED = 130


class SafeTerraformError(Exception):
    """An expected failure: one line for the operator, one exit code."""

    exit_code = 1


class RealBinaryNotFound(SafeTerraformError):
    exit_code = EXIT_NOT_FOUND


class ConfigError(SafeTerraformError):
    """A config file that cannot be read or parsed (names the file and line)."""

    exit_code = EXIT_REFUSED


class Refused(SafeTerraformError):
    """Production policy refuses the command; nothing ran."""

    exit_code = EXIT_REFUSED


class NotConfirmed(SafeTerraformError):
    exit_code = EXIT_NOT_CONFIRMED


class Interrupted(SafeTerraformError):
    exit_code = EXIT_INTERRUPTED


class PlanError(SafeTerraformError):
    """A plan file or plan JSON that cannot be read as a Terraform plan."""

    exit_code = 1


def damaged_zip(*also: type[Exception]) -> tuple[type[Exception], ...]:
    """What Python's zipfile raises for a damaged archive besides OSError (not a zip, a
    member of a zip version or compression method it does not read, a truncated or corrupt
    compressed stream, LZMA options it cannot decode), and `also`. A plan file that raises
    any of them is unreadable: one line, never a traceback (tests/test_exit_codes.py)."""
    import lzma
    import zipfile
    import zlib

    return (zipfile.BadZipFile, NotImplementedError, EOFError, zlib.error, lzma.LZMAError, *also)


def block(what: str, why: str = "", then: str = "") -> str:
    """A message for 3 a.m. (docs/design.md#messages): the first line says what happened,
    the second why, the third what to do next. Each part stays one line."""
    lines = [f"safeterraform: {what}"]
    if why:
        lines.append(f"  why: {why}")
    if then:
        lines.append(f"  next: {then}")
    return "\n".join(lines)
