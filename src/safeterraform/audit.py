"""The audit log: one JSON line per guarded decision, appended under a lock (PRODUCT.md §8).

Standard library only: the shim imports this on the guarded path. Writers open the file
with O_APPEND, take an exclusive flock, write the whole line and fsync, so concurrent
invocations never interleave or lose lines. A record that cannot be written is an
AuditError (a refusal): in production, no record means no command.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import pwd
import socket
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from safeterraform.errors import Refused

LOG_NAME = os.path.join("safeterraform", "audit.jsonl")
SYSLOG_IDENT = "safeterraform"

# Every verdict a record can carry (`safeterraform log --verdict` accepts these).
VERDICTS = (
    "passed",
    "planned",
    "no-changes",
    "refused",
    "confirmed",
    "not-confirmed",
    "interrupted",
    "break-glass",
    "applied",
    "failed",
)


class AuditError(Refused):
    """The audit record could not be written; the command is refused (exit 3)."""


@dataclass(frozen=True)
class Record:
    """One guarded decision. `argv` is the command line after the program name."""

    time: str  # ISO 8601, UTC, e.g. 2025-01-31T09:15:02.123Z
    user: str
    host: str
    cwd: str
    workspace: str
    argv: tuple[str, ...]
    verdict: str
    reason: str = ""
    affected_nodes: tuple[str, ...] = ()
    typed_nodes: tuple[str, ...] | None = None
    expected_nodes: tuple[str, ...] | None = None
    plan_sha256: str | None = None
    break_glass_reason: str | None = None
    exit_code: int | None = None
    state_backup: str | None = None
    program: str = "terraform"

    @classmethod
    def now(cls, **fields: Any) -> Record:
        """A record stamped with the current UTC time, this user and this host."""
        user, host = identity(os.environ)
        return make_record(now=datetime.now(UTC), user=user, host=host, **fields)

    def to_json(self) -> str:
        """The record as one line of JSON (sorted keys, ASCII, no newline inside)."""
        return json.dumps(asdict(self), sort_keys=True, ensure_ascii=True)


def format_time(now: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a Z; a naive datetime is taken as UTC."""
    moment = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _names(values: Iterable[str] | None) -> tuple[str, ...] | None:
    return None if values is None else tuple(values)


def make_record(
    *,
    now: datetime,
    user: str,
    host: str,
    cwd: str,
    workspace: str,
    argv: Iterable[str],
    verdict: str,
    reason: str = "",
    affected_nodes: Iterable[str] = (),
    typed_nodes: Iterable[str] | None = None,
    expected_nodes: Iterable[str] | None = None,
    plan_sha256: str | None = None,
    break_glass_reason: str | None = None,
    exit_code: int | None = None,
    state_backup: str | None = None,
    program: str = "terraform",
) -> Record:
    """Build a record from explicit inputs (pure: time, user and host are arguments)."""
    return Record(
        time=format_time(now),
        user=user,
        host=host,
        cwd=cwd,
        workspace=workspace,
        argv=tuple(argv),
        verdict=verdict,
        reason=reason,
        affected_nodes=tuple(affected_nodes),
        typed_nodes=_names(typed_nodes),
        expected_nodes=_names(expected_nodes),
        plan_sha256=plan_sha256,
        break_glass_reason=break_glass_reason,
        exit_code=exit_code,
        state_backup=state_backup,
        program=program,
    )


def identity(env: Mapping[str, str]) -> tuple[str, str]:
    """(user, host) of this process.

    The user comes from the real uid, not from $USER (which anyone can set); under sudo
    the invoking user is added, since that is who the operator really is.
    """
    uid = os.getuid()
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = f"uid {uid}"
    sudo_user = env.get("SUDO_USER")
    if sudo_user and sudo_user != user:
        user = f"{user} (sudo from {sudo_user})"
    return user, socket.gethostname()


def _home(env: Mapping[str, str]) -> str:
    return env.get("HOME") or os.path.expanduser("~")


def default_path(env: Mapping[str, str], configured: str | None) -> str:
    """Where the log lives: `audit_log` from config, else $XDG_STATE_HOME/safeterraform/."""
    if configured:
        if configured == "~" or configured.startswith("~/"):
            return _home(env) + configured[1:]
        return os.path.expanduser(configured)
    state = env.get("XDG_STATE_HOME", "")
    # The XDG spec says a relative XDG_STATE_HOME is invalid and must be ignored.
    if not os.path.isabs(state):
        state = os.path.join(_home(env), ".local", "state")
    return os.path.join(state, LOG_NAME)


def _refusal(path: str, error: OSError) -> AuditError:
    reason = error.strerror or str(error)
    return AuditError(
        f"safeterraform: cannot write audit log {path}: {reason}; production commands are "
        "refused until it can be written (set audit_log in config)"
    )


def _open(path: str) -> int:
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
    try:
        return os.open(path, flags, 0o600)
    except FileNotFoundError:
        parent = os.path.dirname(path)
        if not parent:
            raise
        os.makedirs(parent, mode=0o700, exist_ok=True)
        return os.open(path, flags, 0o600)


def _write_all(fd: int, data: bytes) -> None:
    """Write every byte; O_APPEND plus the lock keeps a retried remainder contiguous."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        view = view[written:]


def append(path: str, record: Record, syslog: bool = False) -> None:
    """Append `record` as one JSON line, durably; any failure is an AuditError."""
    line = (record.to_json() + "\n").encode("ascii")
    try:
        fd = _open(path)
    except OSError as error:
        raise _refusal(path, error) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        try:
            _write_all(fd, line)
            os.fsync(fd)
        except OSError:
            # A half-written line would glue itself to the next record; take it back.
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
            raise
    except OSError as error:
        raise _refusal(path, error) from None
    finally:
        # Closing also releases the lock; the line is already fsynced, so a close error is moot.
        with contextlib.suppress(OSError):
            os.close(fd)
    if syslog:
        _to_syslog(record.to_json())


def _to_syslog(message: str) -> None:
    import syslog

    syslog.openlog(SYSLOG_IDENT, syslog.LOG_PID, syslog.LOG_AUTH)
    syslog.syslog(syslog.LOG_NOTICE, message)
    syslog.closelog()


def read(path: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Every readable record, and one problem per line that had to be skipped.

    A missing file raises FileNotFoundError; other OSErrors propagate too.
    """
    with open(path, "rb") as handle:
        # A shared lock: never look at a line a writer is halfway through.
        fcntl.flock(handle.fileno(), fcntl.LOCK_SH)
        data = handle.read()
    records: list[dict[str, Any]] = []
    problems: list[str] = []
    lines = data.split(b"\n")
    last = len(lines)
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            value = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            value = None
        if isinstance(value, dict):
            records.append(value)
        elif number == last:
            problems.append(f"line {number} is truncated (the last write did not finish); skipped")
        else:
            problems.append(f"line {number} is corrupt; skipped")
    return records, problems
