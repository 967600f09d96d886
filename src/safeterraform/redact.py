"""What is a secret in a command line, and the one place outputs are scrubbed (pure).

`-var NAME=VALUE` (every spelling Go's flag package accepts, typed or injected through
TF_CLI_ARGS*) keeps its NAME and loses its VALUE; so does `-backend-config KEY=VALUE`
(credentials live there). `-var-file` and `-backend-config FILE` paths are kept: the path
is not the secret, the file's contents are, and the shim never prints those. Free text
(a reason, a message) is scrubbed of those values and of strings that look like tokens.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

REDACTED = "<redacted>"
SECRET_FLAGS = frozenset({"var", "backend-config"})
# Values shorter than this are not scrubbed from free text: replacing every "1" or "on"
# would garble messages, and the command line itself is redacted by structure anyway.
MIN_SCRUBBED = 3
# What people paste into a break-glass reason that is a credential whatever it is called:
# provider token prefixes, JWTs, AWS access key ids, and 40+ character runs of base64 with
# upper case, lower case and digits (a hex digest or a path is not one).
TOKEN = re.compile(
    r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{16,}"
    r"|xox[abposr]-[A-Za-z0-9-]{10,}|AKIA[0-9A-Z]{16}|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"
    r"\.[A-Za-z0-9_-]{8,}|(?=[A-Za-z0-9+=_-]*[0-9])(?=[A-Za-z0-9+=_-]*[a-z])"
    r"(?=[A-Za-z0-9+=_-]*[A-Z])[A-Za-z0-9+=_-]{40,})"
)


def _secret_flag(arg: str) -> tuple[str, str | None] | None:
    """(flag, inline value) when `arg` is -var/-backend-config in any Go spelling."""
    if not arg.startswith("-") or arg in ("-", "--"):
        return None
    body = arg[2:] if arg.startswith("--") else arg[1:]
    name, sep, value = body.partition("=")
    if name not in SECRET_FLAGS:
        return None
    return name, (value if sep else None)


def _redact_value(flag: str, value: str) -> str:
    """NAME=VALUE -> NAME=<redacted>; a -backend-config FILE stays; a bare -var value goes."""
    name, sep, _ = value.partition("=")
    if sep:
        return f"{name}={REDACTED}"
    return value if flag == "backend-config" else REDACTED


def redact_argv(args: Sequence[str]) -> list[str]:
    """The command line with every secret value replaced, names kept."""
    shown: list[str] = []
    pending: str | None = None
    for arg in args:
        if pending is not None:
            shown.append(_redact_value(pending, arg))
            pending = None
            continue
        parsed = _secret_flag(arg)
        if parsed is None:
            shown.append(arg)
        elif parsed[1] is None:
            shown.append(arg)
            pending = parsed[0]
        else:
            prefix = arg[: len(arg) - len(parsed[1])]
            shown.append(prefix + _redact_value(parsed[0], parsed[1]))
    return shown


def secret_values(args: Sequence[str]) -> list[str]:
    """The values `redact_argv` hides, for scrubbing free text."""
    values: list[str] = []
    pending: str | None = None
    for arg in args:
        if pending is not None:
            _, sep, value = arg.partition("=")
            values.append(value if sep else ("" if pending == "backend-config" else arg))
            pending = None
            continue
        parsed = _secret_flag(arg)
        if parsed is None:
            continue
        if parsed[1] is None:
            pending = parsed[0]
        else:
            _, sep, value = parsed[1].partition("=")
            if sep or parsed[0] == "var":
                values.append(value if sep else parsed[1])
    return [value for value in values if len(value) >= MIN_SCRUBBED]


def has_secrets(args: Sequence[str]) -> bool:
    """True when the command line carries a value `redact_argv` would hide."""
    return redact_argv(args) != list(args)


@dataclass(frozen=True)
class Redactor:
    """Scrubs known secret values (longest first) and token-like strings from text."""

    secrets: tuple[str, ...] = field(default=())

    @classmethod
    def for_args(cls, *arg_lists: Iterable[str]) -> Redactor:
        values = {value for args in arg_lists for value in secret_values(list(args))}
        return cls(tuple(sorted(values, key=len, reverse=True)))

    def scrub(self, text: str) -> str:
        """Text the shim composed: the known secret values go."""
        for value in self.secrets:
            text = text.replace(value, REDACTED)
        return text

    def scrub_typed(self, text: str) -> str:
        """Text a person typed (a break-glass reason): token-like strings go too."""
        return TOKEN.sub(REDACTED, self.scrub(text))
