"""The audit log: one JSON line per guarded decision, appended under a lock
(docs/design.md#break-glass-and-audit).

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
import stat
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from safeterraform.errors import Refused
from safeterraform.redact import Redactor, redact_argv

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
    "approved",
    "applied",
    "failed",
    "alert-failed",
    "rollout",
    "outcome-unknown",
)
OUTCOME_UNKNOWN = "outcome unknown: check the state"
RECENT_BYTES = 256 * 1024  # how much of the log's end a guarded command reads (orphans)


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
    approved_by: str | None = None  # the approval a non-interactive apply used
    config_sha256: str | None = None  # the configuration an apply applied (promotion.py)
    partial: str | None = None  # why that apply was not in full (-target, -destroy, ...)
    pid: int | None = None  # the shim process it is about: its outcome record has the same
    agent: str | None = None  # what identified a coding agent running it (a marker variable)

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
    approved_by: str | None = None,
    config_sha256: str | None = None,
    partial: str | None = None,
    pid: int | None = None,
    agent: str | None = None,
    redactor: Redactor | None = None,
) -> Record:
    """Build a record from explicit inputs (pure: time, user and host are arguments).

    Every record passes here, so this is where command lines lose their `-var` values
    and the reason its known secrets (docs/design.md#secrets)."""
    argv = list(argv)
    redactor = redactor or Redactor.for_args(argv)
    return Record(
        time=format_time(now),
        user=user,
        host=host,
        cwd=cwd,
        workspace=workspace,
        argv=tuple(redact_argv(argv)),
        verdict=verdict,
        reason=redactor.scrub(reason),
        affected_nodes=tuple(affected_nodes),
        typed_nodes=_names(typed_nodes),
        expected_nodes=_names(expected_nodes),
        plan_sha256=plan_sha256,
        break_glass_reason=(
            None if break_glass_reason is None else redactor.scrub_typed(break_glass_reason)
        ),
        exit_code=exit_code,
        state_backup=state_backup,
        program=program,
        approved_by=approved_by,
        config_sha256=config_sha256,
        partial=partial,
        pid=pid,
        agent=agent,
    )


@dataclass
class Recorder:
    """Appends the records of one guarded command: its context is fixed, the verdict and
    fields vary. A record that cannot be written raises AuditError (a refusal)."""

    path: str
    syslog: bool
    user: str
    host: str
    cwd: str
    workspace: str
    argv: tuple[str, ...]
    program: str
    redactor: Redactor
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    break_glass_reason: str | None = None
    approved_by: str | None = None
    agent: str | None = None  # the coding agent's marker, when one runs this command

    def record(self, verdict: str, reason: str, **fields: Any) -> Record:
        fields.setdefault("pid", os.getpid())
        record = make_record(
            now=self.now(),
            user=self.user,
            host=self.host,
            cwd=self.cwd,
            workspace=self.workspace,
            argv=self.argv,
            verdict=verdict,
            reason=reason,
            break_glass_reason=self.break_glass_reason,
            program=self.program,
            approved_by=self.approved_by,
            agent=self.agent,
            redactor=self.redactor,
            **fields,
        )
        append(self.path, record, syslog=self.syslog)
        return record


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
    return user, os.uname().nodename  # gethostname(); socket costs ~5 ms to import


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
    """Append `record` as one JSON line, durably; any failure is an AuditError.

    With `syslog`, the record goes to the system log first: that copy is the one a user
    cannot erase, so when it cannot be delivered nothing else happens.
    """
    if syslog:
        _to_syslog(record.to_json())
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


# The local syslog socket. Deliberately not configurable from the environment: a user who
# could point it at a socket of their own could make the central trail disappear.
SYSLOG_SOCKET = "/dev/log"
SYSLOG_PRIORITY = 4 * 8 + 5  # facility auth (4), severity notice (5): RFC 5424 section 6.2.1
SYSLOG_TIMEOUT = 10.0  # seconds a full log socket may block the command before it is refused
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def syslog_frame(message: str, now: datetime, pid: int) -> bytes:
    """One RFC 3164 message as glibc's syslog() frames it for the local socket.

    `<37>Jan 31 09:15:02 safeterraform[1234]: {json}`: journald and rsyslog parse the
    priority, the local timestamp and the tag[pid] of this form.
    """
    local = now.astimezone()
    stamp = f"{_MONTHS[local.month - 1]} {local.day:2d} {local:%H:%M:%S}"
    return f"<{SYSLOG_PRIORITY}>{stamp} {SYSLOG_IDENT}[{pid}]: {message}".encode()


def _syslog_refusal(socket_path: str, error: OSError) -> AuditError:
    reason = error.strerror or str(error) or type(error).__name__
    return AuditError(
        f"safeterraform: cannot send the audit record to the system log {socket_path}: "
        f"{reason}; production commands are refused until syslog accepts records "
        "([audit] syslog = true)"
    )


def _to_syslog(message: str, socket_path: str | None = None) -> None:
    """Send one record to the local syslog socket; an AuditError when it is not delivered.

    The C syslog() call drops undeliverable messages silently, so the socket is written
    directly: a missing socket, a daemon that is not listening or a message it will not
    take is seen, and the guarded command is refused (fail closed).
    """
    path = socket_path or SYSLOG_SOCKET
    frame = syslog_frame(message, datetime.now(UTC), os.getpid())
    try:
        _send(path, frame)
    except OSError as error:
        raise _syslog_refusal(path, error) from None


def _send(path: str, frame: bytes) -> None:
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.settimeout(SYSLOG_TIMEOUT)
        try:
            sock.connect(path)
        except OSError as error:
            if error.errno != errno.EPROTOTYPE:
                raise
            # A stream socket (some syslog-ng set-ups): glibc ends each message with NUL.
            _send_stream(path, frame + b"\0")
            return
        sock.send(frame)


def _send_stream(path: str, frame: bytes) -> None:
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(SYSLOG_TIMEOUT)
        sock.connect(path)
        sock.sendall(frame)


def syslog_problem(socket_path: str | None = None) -> str | None:
    """Why records cannot be sent to the syslog socket now, or None; sends nothing."""
    import socket

    path = socket_path or SYSLOG_SOCKET
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_UNIX, kind) as sock:
            try:
                sock.connect(path)
            except OSError as error:
                if error.errno == errno.EPROTOTYPE:
                    continue
                return f"{path}: {error.strerror or error}"
            return None
    return f"{path}: not a socket syslog listens on"


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


# -- confirmed applies that never recorded an outcome (the shim was SIGKILLed) -------------


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists on this host (another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recent(path: str, size: int = RECENT_BYTES) -> list[dict[str, Any]]:
    """The records in the last `size` bytes of the log (the first, partial line dropped);
    [] when there is no log. Other OSErrors propagate."""
    try:
        with open(path, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                return []  # e.g. audit_log = "/dev/full": nothing to read back, endlessly
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH)
            end = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, end - size))
            data = handle.read(size)
    except FileNotFoundError:
        return []
    lines = data.split(b"\n")
    if end > size:
        lines = lines[1:]
    records = []
    for raw in lines:
        try:
            value = json.loads(raw.decode("utf-8")) if raw.strip() else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            continue
        if isinstance(value, dict):
            records.append(value)
    return records


def outcome(records: Sequence[dict[str, Any]], index: int) -> dict[str, Any] | None:
    """The later record that says how the command of `records[index]` ended: the same
    host and shim process, with an exit code (or an `outcome-unknown` verdict)."""
    first = records[index]
    pid = first.get("pid")
    if pid is None:
        return None
    return next(
        (
            later
            for later in records[index + 1 :]
            if later.get("pid") == pid
            and later.get("host") == first.get("host")
            and (later.get("exit_code") is not None or later.get("verdict") == "outcome-unknown")
        ),
        None,
    )


def orphans(
    records: Sequence[dict[str, Any]], host: str, alive: Callable[[int], bool] = process_alive
) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """`confirmed` records of this host whose shim is gone without recording how the apply
    ended, each with its `outcome-unknown` record once one was written (else None)."""
    found: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
    for index, record in enumerate(records):
        pid = record.get("pid")
        if record.get("verdict") != "confirmed" or record.get("host") != host:
            continue
        if not isinstance(pid, int):
            continue
        ended = outcome(records, index)
        if ended is None and not alive(pid):
            found.append((record, None))
        elif ended is not None and ended.get("verdict") == "outcome-unknown":
            found.append((record, ended))
    return found


def orphan_words(record: dict[str, Any]) -> str:
    """One line about a confirmed apply without an outcome."""
    nodes = ", ".join(str(name) for name in record.get("affected_nodes") or []) or "no node"
    return (
        f"the apply confirmed at {record.get('time')} in {record.get('cwd')} (workspace "
        f"{record.get('workspace')}, process {record.get('pid')}, affecting {nodes}) ended "
        f"without recording its outcome (the shim was killed): {OUTCOME_UNKNOWN}"
    )


def report_orphans(path: str, host: str, syslog: bool = False) -> list[str]:
    """Find the confirmed applies of this host that ended unrecorded, append an
    `outcome-unknown` record for each (so each is reported once here, and always by
    `safeterraform log`), and return what to tell the operator."""
    try:
        records = recent(path)
    except OSError:
        return []  # the command's own record will say what is wrong with the log
    told = []
    for record, reported in orphans(records, host):
        if reported is not None:
            continue
        words = orphan_words(record)
        marker = make_record(
            now=datetime.now(UTC),
            user=str(record.get("user", "")),
            host=host,
            cwd=str(record.get("cwd", "")),
            workspace=str(record.get("workspace", "")),
            argv=[str(word) for word in record.get("argv") or []],
            verdict="outcome-unknown",
            reason=f"{words}; reported by process {os.getpid()}",
            affected_nodes=[str(name) for name in record.get("affected_nodes") or []],
            plan_sha256=record.get("plan_sha256"),
            program=str(record.get("program", "terraform")),
            pid=int(record["pid"]),
        )
        append(path, marker, syslog=syslog)
        told.append(words)
    return told
