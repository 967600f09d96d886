"""The audit log against the real filesystem: locking, modes, failures, tolerant reading."""

from __future__ import annotations

import fcntl
import json
import os
import re
import socket
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pytest_mock import MockerFixture

from safeterraform import audit
from safeterraform.errors import EXIT_REFUSED, Refused

NOW = datetime(2025, 1, 31, 9, 15, 2, 123456, tzinfo=UTC)


def sample(**fields: Any) -> audit.Record:
    values: dict[str, Any] = {
        "now": NOW,
        "user": "alice",
        "host": "bastion-1",
        "cwd": "/srv/infra/envs/prod",
        "workspace": "prod",
        "argv": ["apply", "-auto-approve"],
        "verdict": "refused",
        "reason": "-auto-approve is refused in production",
    }
    values.update(fields)
    return audit.make_record(**values)


def test_make_record_is_pure_and_stamps_utc() -> None:
    tokyo = timezone(timedelta(hours=9))
    record = sample(
        now=datetime(2025, 1, 31, 18, 15, 2, 5000, tzinfo=tokyo),
        affected_nodes=["powder", "poison"],
        typed_nodes=["poison", "powder"],
        expected_nodes=None,
        plan_sha256="ab" * 32,
        exit_code=4,
    )
    assert record.time == "2025-01-31T09:15:02.005Z"
    assert record.argv == ("apply", "-auto-approve")
    assert record.affected_nodes == ("powder", "poison")
    assert record.typed_nodes == ("poison", "powder")
    assert record.expected_nodes is None
    assert record.program == "terraform"
    assert sample() == sample()


def test_naive_time_is_taken_as_utc() -> None:
    assert sample(now=datetime(2025, 1, 31, 9, 15, 2)).time == "2025-01-31T09:15:02.000Z"


def test_record_now_reads_the_system(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USER", "someone-else")
    monkeypatch.delenv("SUDO_USER", raising=False)
    before = datetime.now(UTC)
    record = audit.Record.now(cwd="/w", workspace="prod", argv=["plan"], verdict="passed")
    stamped = datetime.fromisoformat(record.time.replace("Z", "+00:00"))
    assert before - timedelta(seconds=1) <= stamped <= datetime.now(UTC)
    # The uid decides who the user is, not $USER.
    import pwd
    import socket

    assert record.user == pwd.getpwuid(os.getuid()).pw_name
    assert record.host == socket.gethostname()


def test_sudo_user_is_named() -> None:
    import pwd

    me = pwd.getpwuid(os.getuid()).pw_name
    assert audit.identity({"SUDO_USER": "bob"})[0] == f"{me} (sudo from bob)"
    assert audit.identity({"SUDO_USER": me})[0] == me


def test_default_path() -> None:
    env = {"HOME": "/home/alice"}
    assert audit.default_path(env, None) == "/home/alice/.local/state/safeterraform/audit.jsonl"
    assert (
        audit.default_path({**env, "XDG_STATE_HOME": "/var/st"}, None)
        == "/var/st/safeterraform/audit.jsonl"
    )
    # A relative XDG_STATE_HOME is invalid per the XDG spec and ignored.
    assert audit.default_path({**env, "XDG_STATE_HOME": "rel"}, None).startswith("/home/alice/")
    assert audit.default_path(env, "~/logs/a.jsonl") == "/home/alice/logs/a.jsonl"
    assert audit.default_path(env, "/var/log/st.jsonl") == "/var/log/st.jsonl"


def test_append_writes_one_sorted_line_mode_0600_in_new_0700_dir(tmp_path: Path) -> None:
    path = tmp_path / "state" / "safeterraform" / "audit.jsonl"
    first = sample(argv=["apply", "-no-color", "line one\nline two"])
    second = sample(verdict="applied", exit_code=0, break_glass_reason="pager says so")
    audit.append(str(path), first)
    audit.append(str(path), second)
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b""
    assert len(lines) == 3
    decoded = json.loads(lines[0])
    assert list(decoded) == sorted(decoded)
    assert decoded["argv"] == ["apply", "-no-color", "line one\nline two"]
    assert set(decoded) == {
        "time", "user", "host", "cwd", "workspace", "argv", "verdict", "reason",
        "affected_nodes", "typed_nodes", "expected_nodes", "plan_sha256",
        "break_glass_reason", "exit_code", "state_backup", "program", "approved_by",
        "config_sha256", "partial", "pid", "agent",
    }  # fmt: skip
    assert json.loads(lines[1])["break_glass_reason"] == "pager says so"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_argv_that_is_not_utf8_is_still_one_ascii_line(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    # sys.argv carries undecodable bytes as lone surrogates.
    audit.append(str(path), sample(argv=["plan", os.fsdecode(b"-var-file=\xff.tfvars")]))
    records, problems = audit.read(str(path))
    assert problems == []
    assert records[0]["argv"] == ["plan", os.fsdecode(b"-var-file=\xff.tfvars")]


WRITER = textwrap.dedent(
    """
    import os, sys, time
    from datetime import UTC, datetime
    from safeterraform import audit
    path, gate, index = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if len(sys.argv) > 4:
        # Short writes, as POSIX allows (a signal, NFS, FUSE): every os.write takes at most
        # CHUNK bytes and yields the CPU, so only the lock keeps a record's pieces together.
        chunk, real_write = int(sys.argv[4]), os.write
        def short_write(fd, data):
            written = real_write(fd, bytes(data[:chunk]))
            os.sched_yield()
            return written
        os.write = short_write
    record = audit.make_record(
        now=datetime.now(UTC), user="u", host="h", cwd="/w", workspace="prod",
        argv=["apply", "x" * (1000 * (index % 7) + 70000)],
        verdict="refused" if index % 2 else "passed", reason=f"writer {index}",
    )
    while not os.path.exists(gate):
        time.sleep(0.001)
    audit.append(path, record)
    """
)


@pytest.mark.parametrize("chunk", [None, 4096], ids=["whole-writes", "short-writes"])
def test_fifty_concurrent_writer_processes_leave_fifty_whole_lines(
    tmp_path: Path, chunk: int | None
) -> None:
    """Mutation: drop the `fcntl.flock` in audit.append -> with short writes the records'
    pieces interleave (corrupt lines, fewer than 50 records). A single write() to a local
    file is atomic on Linux, so without short writes the lock is never exercised."""
    path = tmp_path / "state" / "audit.jsonl"
    gate = tmp_path / "go"
    extra = [] if chunk is None else [str(chunk)]
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(gate), str(index), *extra])
        for index in range(50)
    ]
    time.sleep(0.5)  # let the interpreters start, then release them together
    gate.touch()
    assert [writer.wait(timeout=120) for writer in writers] == [0] * 50
    raw = path.read_bytes()
    assert raw.endswith(b"\n")
    lines = raw.split(b"\n")[:-1]
    assert len(lines) == 50
    reasons = []
    for line in lines:
        record = json.loads(line)
        index = int(record["reason"].split()[1])
        assert record["argv"][1] == "x" * (1000 * (index % 7) + 70000)
        reasons.append(index)
    assert sorted(reasons) == list(range(50))
    records, problems = audit.read(str(path))
    assert (len(records), problems) == (50, [])


def test_a_writer_waits_for_the_lock_another_holds(tmp_path: Path) -> None:
    """The lock is the protocol every writer and reader of the log shares: while someone
    holds it, append writes nothing, and it writes its whole line once it is released.
    Mutation: drop the `fcntl.flock` in audit.append -> the line appears at once."""
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b"")
    gate = tmp_path / "go"
    gate.touch()
    with path.open("rb") as holder:
        fcntl.flock(holder.fileno(), fcntl.LOCK_EX)
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(gate), "3"])
        try:
            with pytest.raises(subprocess.TimeoutExpired):
                writer.wait(timeout=3)
            assert path.read_bytes() == b""
        finally:
            fcntl.flock(holder.fileno(), fcntl.LOCK_UN)
        assert writer.wait(timeout=60) == 0
    records, problems = audit.read(str(path))
    assert problems == []
    assert [record["reason"] for record in records] == ["writer 3"]


def test_unwritable_location_is_a_refusal_naming_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    path = blocker / "audit.jsonl"
    with pytest.raises(audit.AuditError) as caught:
        audit.append(str(path), sample())
    assert isinstance(caught.value, Refused)
    assert caught.value.exit_code == EXIT_REFUSED
    assert str(caught.value) == (
        f"safeterraform: cannot write audit log {path}: Not a directory; production commands "
        "are refused until it can be written (set audit_log in config)"
    )


def test_a_directory_root_cannot_write_is_a_refusal() -> None:
    # sysfs refuses new files even to root (EACCES, or EROFS where it is mounted read-only).
    path = "/sys/safeterraform-audit.jsonl"
    with pytest.raises(audit.AuditError, match=f"cannot write audit log {path}: "):
        audit.append(path, sample())
    assert not os.path.exists(path)


def test_missing_parent_under_a_file_is_a_refusal(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    path = blocker / "deeper" / "audit.jsonl"
    with pytest.raises(audit.AuditError, match="Not a directory"):
        audit.append(str(path), sample())


def test_full_disk_is_a_refusal() -> None:
    # /dev/full answers every write with ENOSPC: a real full disk.
    with pytest.raises(audit.AuditError, match="/dev/full: No space left on device"):
        audit.append("/dev/full", sample())


def test_a_partial_write_is_taken_back(tmp_path: Path, mocker: MockerFixture) -> None:
    """A disk that fills mid-line must not leave half a record for the next one to join."""
    path = tmp_path / "audit.jsonl"
    audit.append(str(path), sample(verdict="passed"))
    before = path.read_bytes()
    real_write = os.write
    calls: list[int] = []

    def filling_disk(fd: int, data: Any) -> int:
        if os.readlink(f"/proc/self/fd/{fd}") != str(path):
            return real_write(fd, data)
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(fd, bytes(data[:40]))
        raise OSError(28, os.strerror(28))

    mocker.patch.object(os, "write", side_effect=filling_disk)
    with pytest.raises(audit.AuditError, match="No space left on device"):
        audit.append(str(path), sample(verdict="refused"))
    assert len(calls) == 2
    assert path.read_bytes() == before


@pytest.fixture()
def log_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A datagram socket standing in for /dev/log (the syslog daemon's end)."""
    path = tmp_path / "log"
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(str(path))
    receiver.settimeout(5)
    monkeypatch.setattr(audit, "SYSLOG_SOCKET", str(path))
    with receiver:
        yield receiver


def test_syslog_gets_one_framed_record_per_decision(
    tmp_path: Path, log_socket: socket.socket
) -> None:
    record = sample()
    audit.append(str(tmp_path / "a.jsonl"), record, syslog=False)
    log_socket.setblocking(False)
    with pytest.raises(BlockingIOError):
        log_socket.recv(65536)
    audit.append(str(tmp_path / "a.jsonl"), record, syslog=True)
    frame = log_socket.recv(65536).decode()
    header, message = frame.split(": ", 1)
    assert re.fullmatch(
        rf"<37>[A-Z][a-z]{{2}} [ 1-3]\d \d\d:\d\d:\d\d safeterraform\[{os.getpid()}\]", header
    )
    assert message == record.to_json()


def test_syslog_frame_is_rfc3164_as_glibc_writes_it() -> None:
    moment = datetime(2025, 1, 5, 9, 15, 2, tzinfo=UTC).astimezone()
    expected = f"<37>{moment:%b} {moment.day:2d} {moment:%H:%M:%S} safeterraform[42]: {{}}"
    assert audit.syslog_frame("{}", moment, 42) == expected.encode()


@pytest.mark.parametrize("socket_state", ["missing", "nobody listening"])
def test_undelivered_syslog_record_refuses_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, socket_state: str
) -> None:
    """Fail closed: no central record, no command, and no local line either.

    Mutation: swallowing the send error (as the C syslog() call does) makes append succeed.
    """
    path = tmp_path / "log"
    if socket_state == "nobody listening":
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as gone:
            gone.bind(str(path))  # the file stays after the daemon's socket is closed
    monkeypatch.setattr(audit, "SYSLOG_SOCKET", str(path))
    local = tmp_path / "a.jsonl"
    with pytest.raises(audit.AuditError) as refused:
        audit.append(str(local), sample(), syslog=True)
    reason = "No such file or directory" if socket_state == "missing" else "Connection refused"
    assert str(refused.value) == (
        f"safeterraform: cannot send the audit record to the system log {path}: {reason}; "
        "production commands are refused until syslog accepts records ([audit] syslog = true)"
    )
    assert not local.exists()
    assert audit.syslog_problem() == f"{path}: {reason}"


def test_stream_log_socket_gets_nul_terminated_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "log"
    monkeypatch.setattr(audit, "SYSLOG_SOCKET", str(path))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(path))
        listener.listen(1)
        listener.settimeout(5)
        assert audit.syslog_problem() is None
        listener.accept()[0].close()  # syslog_problem's probe
        record = sample()
        audit.append(str(tmp_path / "a.jsonl"), record, syslog=True)
        connection, _ = listener.accept()
        with connection:
            data = connection.recv(65536)
    assert data.startswith(b"<37>")
    assert data.endswith(b": " + record.to_json().encode() + b"\0")


def test_read_skips_corrupt_and_truncated_lines(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    good = [sample(reason=f"r{index}").to_json() for index in range(3)]
    path.write_bytes(
        (f'{good[0]}\n{{not json\n\n{good[1]}\n["a list, not a record"]\n').encode()
        + b"\xff\xfe\n"
        + f"{good[2]}\n".encode()
        + good[0][:25].encode()
    )
    records, problems = audit.read(str(path))
    assert [record["reason"] for record in records] == ["r0", "r1", "r2"]
    assert problems == [
        "line 2 is corrupt; skipped",
        "line 5 is corrupt; skipped",
        "line 6 is corrupt; skipped",
        "line 8 is truncated (the last write did not finish); skipped",
    ]


def test_read_a_missing_log_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        audit.read(str(tmp_path / "none.jsonl"))
