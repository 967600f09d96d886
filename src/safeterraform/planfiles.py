"""The shim's own plan files: hidden plans, and the private copy that is reviewed and applied.

Hidden plans (under DATA_DIR/safeterraform/plans, 0600) hold variable values, so they are
removed on every way out: normal exit, Ctrl-C, SIGTERM and SIGHUP (the terminal closed).
The reviewed plan is copied into an anonymous file that only this process holds open;
terraform reads it as /dev/fd/N, so no other process can swap what was reviewed for
something else between the review and the apply (docs/design.md#confirmation).
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import Generic, TypeVar

from safeterraform.audit import process_alive
from safeterraform.errors import Interrupted, PlanError, damaged_zip

CLOUD_PLAN_KEY = "remote_plan_format"
KEPT = ".kept"  # beside a hidden plan kept on purpose (for `approve`, or `apply PLANFILE`)
JSON_SPACE = b" \t\n\r"  # the whitespace JSON allows around a value


@dataclass(frozen=True)
class PrivatePlan:
    """A reviewed plan's bytes, held by an open descriptor of an unlinked file."""

    fd: int
    sha256: str
    origin: str  # the plan file it was copied from, as given

    @property
    def path(self) -> str:
        """What terraform (a child given this descriptor) and this process open."""
        return f"/dev/fd/{self.fd}"


@dataclass
class PlanFiles:
    """The plan files one guarded command made, and their removal on every way out."""

    directory: str  # DATA_DIR/safeterraform/plans of the working directory
    workspace: str
    now: Callable[[], datetime.datetime]
    hidden: list[str] = field(default_factory=list)
    private: list[PrivatePlan] = field(default_factory=list)
    # (device, inode) of each hidden plan this process created: terraform writes into that
    # very file; a file renamed over it, or a link put in its place, is not our plan.
    created: dict[str, tuple[int, int]] = field(default_factory=dict)

    def new_hidden(self) -> str:
        """A new, empty mode-0600 plan file named for the workspace and time, created
        here (never an existing file or a link someone put at the name)."""
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        stamp = self.now().strftime("%Y%m%dT%H%M%SZ")
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in self.workspace)
        for attempt in range(100):  # a rollout plans several times a second
            suffix = f".{attempt}" if attempt else ""
            path = os.path.join(self.directory, f"{safe}-{stamp}{suffix}-{os.getpid()}.tfplan")
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            except FileExistsError:
                continue
            break
        else:
            raise PlanError(f"safeterraform: cannot create a new plan file in {self.directory}")
        try:
            info = os.fstat(fd)
        finally:
            os.close(fd)
        self.created[path] = (info.st_dev, info.st_ino)
        self.hidden.append(path)
        return path

    def keep(self, path: str) -> None:
        """Leave this hidden plan on disk on the way out (kept for `safeterraform approve`),
        marked as kept so that `sweep` leaves it too."""
        if path in self.hidden:
            self.hidden.remove(path)
            with contextlib.suppress(OSError):
                os.close(os.open(path + KEPT, os.O_WRONLY | os.O_CREAT, 0o600))

    def sweep(self, spare: str | None = None) -> list[str]:
        """Remove the hidden plans (they hold variable values) of shims that are gone
        without cleaning up (SIGKILL, a crash): named for a process that no longer exists
        and not kept; never `spare` (the plan this command was given). The names of the
        files removed."""
        try:
            names = os.listdir(self.directory)
        except OSError:
            return []
        removed = []
        for name in names:
            path = os.path.join(self.directory, name)
            owner = plan_owner(name)
            if owner is None or owner == os.getpid() or name + KEPT in names:
                continue
            if spare is not None and os.path.abspath(spare) == os.path.abspath(path):
                continue
            if process_alive(owner):
                continue
            with contextlib.suppress(OSError):
                os.unlink(path)
                removed.append(name)
        return removed

    def private_copy(self, path: str) -> PrivatePlan:
        """Copy `path` into an anonymous file and hash the bytes copied. Only a regular
        file (a link to a terminal or a device would be read without end); a hidden plan
        of ours only as the very file created for it, not through a link."""
        import stat

        ours = self.created.get(path)
        flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
        flags |= os.O_NOFOLLOW if ours else 0
        try:
            fd = os.open(path, flags)
        except OSError as error:
            raise PlanError(f"safeterraform: cannot read plan {path}: {error.strerror}") from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise PlanError(f"safeterraform: plan {path} is not a regular file")
            if ours is not None and ours != (info.st_dev, info.st_ino):
                raise PlanError(
                    f"safeterraform: plan {path} was replaced by another file after terraform "
                    "wrote it"
                )
            with os.fdopen(os.dup(fd), "rb") as source:
                data = source.read()
        except OSError as error:
            raise PlanError(f"safeterraform: cannot read plan {path}: {error.strerror}") from None
        finally:
            os.close(fd)
        fd = _anonymous_file(self.directory if os.path.isdir(self.directory) else None)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.lseek(fd, 0, os.SEEK_SET)
        plan = PrivatePlan(fd, hashlib.sha256(data).hexdigest(), path)
        self.private.append(plan)
        return plan

    def cleanup(self) -> None:
        for path in self.hidden:
            for name in (path, path + KEPT):
                with contextlib.suppress(OSError):
                    os.unlink(name)
        self.hidden.clear()
        for plan in self.private:
            with contextlib.suppress(OSError):
                os.close(plan.fd)
        self.private.clear()
        # Directories this command may have made, only when empty: kept plans stay.
        with contextlib.suppress(OSError):
            os.rmdir(self.directory)
            os.rmdir(os.path.dirname(self.directory))
            os.rmdir(os.path.dirname(os.path.dirname(self.directory)))

    @contextlib.contextmanager
    def removed_on_exit(self, given: str | None = None) -> Iterator[PlanFiles]:
        """Sweep plans of dead shims (but the `given` plan), then remove this command's
        however it ends; SIGTERM and SIGHUP become Interrupted so that the flow records
        the interruption on its way out."""

        def on_signal(signum: int, frame: FrameType | None) -> None:
            name = signal.Signals(signum).name
            raise Interrupted(f"safeterraform: {name} received; nothing was applied")

        previous = {
            signum: signal.signal(signum, on_signal) for signum in (signal.SIGTERM, signal.SIGHUP)
        }
        self.sweep(given)
        try:
            yield self
        finally:
            self.cleanup()
            for signum, handler in previous.items():
                signal.signal(signum, handler)


T = TypeVar("T")


class ReadAhead(Generic[T]):
    """A plan file read as soon as terraform has written it whole, while terraform is still
    printing the plan and exiting (~0.2 s for 2,000 resources: docs/perf.md, "The plan
    read ahead"). `watch` runs in a thread; `take` comes after terraform has exited and the
    private copy is made, and gives the reading only for those very bytes (their SHA-256):
    a file read while still being written, or changed afterwards, costs a second reading,
    never a wrong one."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._ended = False
        self._claimed: str | None = None  # the SHA-256 of the bytes being read
        self._result: T | None = None
        self._done = threading.Event()

    def watch(self, read: Callable[[bytes], T | None], interval: float = 0.02) -> None:
        """Wait (polling) until the file is a whole zip archive, then `read` its bytes;
        give up once terraform has exited (`end`). Any failure leaves the reading to the
        flow."""
        while (data := _whole_zip(self.path)) is None:
            with self._lock:
                if self._ended:
                    return
            time.sleep(interval)
        with self._lock:
            if self._ended:
                return
            self._claimed = hashlib.sha256(data).hexdigest()
        try:
            self._result = read(data)
        except Exception:  # the flow's own reading says what is wrong
            self._result = None
        finally:
            self._done.set()

    def end(self) -> None:
        """terraform has exited: a reading not begun is not begun now."""
        with self._lock:
            self._ended = True

    def read_other(self, sha256: str) -> bool:
        """Whether the file was read whole with other bytes than these: it changed after
        terraform wrote it, so what terraform printed is not the plan these bytes hold."""
        self.end()
        return self._claimed is not None and self._claimed != sha256

    def take(self, sha256: str) -> T | None:
        """The reading of the bytes whose SHA-256 is `sha256` (waiting for it when it is
        under way), once; None when those bytes were not read ahead."""
        self.end()
        if self._claimed != sha256:
            return None
        self._done.wait()
        result, self._result, self._claimed = self._result, None, None
        return result


# The largest plan file read ahead; a larger one is left to the flow (a 2,000-resource plan
# is 0.3 MB).
AHEAD_LIMIT = 64 << 20


def _whole_zip(path: str) -> bytes | None:
    """The file's bytes when they are a whole zip archive (its central directory, written
    last, read), else None. Only a regular file, not through a symbolic link, and at most
    AHEAD_LIMIT bytes: whatever another process puts at the path (a link to a terminal or
    to /dev/zero, a FIFO, a huge file) is not read here, where nothing would stop the
    reading; the flow's own reading after terraform exits says what is wrong with it."""
    import io
    import stat
    import zipfile

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > AHEAD_LIMIT:
            return None
        data = os.read(fd, info.st_size + 1)  # a regular file: one read, to its end
        if len(data) > info.st_size:
            return None  # still growing
        zipfile.ZipFile(io.BytesIO(data)).close()
    except Exception:  # OSError, BadZipFile, NotImplementedError...: not (yet) a plan
        return None
    finally:
        os.close(fd)
    return data


def plan_owner(name: str) -> int | None:
    """The process a hidden plan's name says made it (`prod-20260131T020000Z-4242.tfplan`)."""
    if not name.endswith(".tfplan"):
        return None
    tail = name[: -len(".tfplan")].rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else None


def _anonymous_file(directory: str | None) -> int:
    """A read-write descriptor of a file with no name (O_TMPFILE, else created and unlinked)."""
    flags = os.O_RDWR | getattr(os, "O_CLOEXEC", 0)
    if hasattr(os, "O_TMPFILE") and directory is not None:
        with contextlib.suppress(OSError):
            return os.open(directory, flags | os.O_TMPFILE, 0o600)
    fd, name = tempfile.mkstemp(prefix="safeterraform-plan-", dir=directory)
    os.unlink(name)
    return fd


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cloud_plan(path: str) -> dict[str, str] | None:
    """A saved cloud plan (HCP Terraform/TFE bookmark JSON), or None for anything else."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError:
        return None
    if not head.lstrip().startswith(b"{") or CLOUD_PLAN_KEY.encode() not in head:
        return None
    try:
        data = json.loads(head)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    return {key: str(value) for key, value in data.items()}


def describe_cloud_plan(path: str, shown: str) -> str | None:
    """`<shown> is a saved cloud plan (run ID on HOST)` when `path` is one, else None:
    the one wording of `check`, `apply` and `approve`."""
    saved = cloud_plan(path)
    if saved is None:
        return None
    return (
        f"{shown} is a saved cloud plan (run {saved.get('run_id', '?')} on "
        f"{saved.get('hostname', '?')})"
    )


def prior_state_meta(path: str) -> tuple[str, int] | None:
    """(lineage, serial) of the state a plan file was made against (its `tfstate`)."""
    import zipfile  # ~15 ms: imported while terraform plans, not before (docs/perf.md)

    try:
        with zipfile.ZipFile(path) as archive:
            data = json.loads(archive.read("tfstate"))
    except damaged_zip(OSError, KeyError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    return str(data.get("lineage", "")), int(data.get("serial", 0))


def state_meta(state: bytes) -> tuple[str, int] | None:
    """(lineage, serial) of `terraform state pull` output; None for no state at all."""
    if not state.strip():
        return None
    try:
        data = json.loads(state)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    return str(data.get("lineage", "")), int(data.get("serial", 0))


def staleness_of(path: str, current: bytes, prior_state: bytes | None = None) -> str | None:
    """`staleness` of the plan file at `path` against the state `current` (its bytes).
    `prior_state`: the plan's own `tfstate`, when already read (the plan read ahead): the
    same JSON text as the state now (but for the whitespace around it: `state pull` of a
    remote backend ends with a newline the plan's copy has not) is not stale, and then
    neither is parsed (~0.02 s for a 2 MB state)."""
    if prior_state is not None and prior_state.strip(JSON_SPACE) == current.strip(JSON_SPACE):
        return None
    return staleness(prior_state_meta(path), state_meta(current))


def staleness(plan_meta: tuple[str, int] | None, current: tuple[str, int] | None) -> str | None:
    """Terraform's reason for refusing a saved plan against the current state, or None.

    As internal/backend/local/backend_local.go (localRunForPlanFile): a different lineage
    means the plan is for another state; a different serial, that the state changed.
    """
    if plan_meta is None or current is None:
        return None
    if plan_meta[0] and current[0] and plan_meta[0] != current[0]:
        return (
            "Saved plan does not match the given state: the given plan file cannot be "
            "applied because it was created from a different state lineage"
        )
    if plan_meta[1] != current[1]:
        return (
            "Saved plan is stale: the given plan file can no longer be applied because the "
            "state was changed by another operation after the plan was created"
        )
    return None


# -- the backend a plan file will write to ------------------------------------------------
# A saved plan carries the backend (type, settings, workspace) it was made with, and
# `terraform apply PLANFILE` writes there, wherever it is run from. The `tfplan` member is
# protobuf (internal/plans/planproto/planfile.proto: Plan.backend = 13, Plan.state_store =
# 29; Backend{type = 1, config = 2 (DynamicValue{msgpack = 1}), workspace = 3}); these few
# fields are read with a minimal wire-format and msgpack reader.


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data):
            raise ValueError("truncated varint")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7


def _fields(data: bytes) -> dict[int, list[bytes | int]]:
    """Top-level protobuf fields: number -> values (bytes for length-delimited)."""
    fields: dict[int, list[bytes | int]] = {}
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        value: bytes | int
        if wire == 0:
            value, at = _varint(data, at)
        elif wire == 1:
            value, at = 0, at + 8
        elif wire == 5:
            value, at = 0, at + 4
        elif wire == 2:
            length, at = _varint(data, at)
            value, at = data[at : at + length], at + length
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if at > len(data):
            raise ValueError("truncated field")
        fields.setdefault(number, []).append(value)
    return fields


def _msgpack(data: bytes, at: int = 0) -> tuple[object, int]:
    """One msgpack value (the subset cty values use); extensions (unknown) become None."""
    tag = data[at]
    at += 1
    if tag <= 0x7F:
        return tag, at
    if tag >= 0xE0:
        return tag - 0x100, at
    if 0xA0 <= tag <= 0xBF or tag in (0xD9, 0xDA, 0xDB):
        if tag <= 0xBF:
            length = tag & 0x1F
        else:
            size = {0xD9: 1, 0xDA: 2, 0xDB: 4}[tag]
            length, at = int.from_bytes(data[at : at + size], "big"), at + size
        return data[at : at + length].decode("utf-8", "replace"), at + length
    if 0x80 <= tag <= 0x8F or tag in (0xDE, 0xDF):
        if tag <= 0x8F:
            count = tag & 0x0F
        else:
            size = 2 if tag == 0xDE else 4
            count, at = int.from_bytes(data[at : at + size], "big"), at + size
        result: dict[str, object] = {}
        for _ in range(count):
            key, at = _msgpack(data, at)
            value, at = _msgpack(data, at)
            result[str(key)] = value
        return result, at
    if 0x90 <= tag <= 0x9F or tag in (0xDC, 0xDD):
        if tag <= 0x9F:
            count = tag & 0x0F
        else:
            size = 2 if tag == 0xDC else 4
            count, at = int.from_bytes(data[at : at + size], "big"), at + size
        items = []
        for _ in range(count):
            item, at = _msgpack(data, at)
            items.append(item)
        return items, at
    simple = {0xC0: None, 0xC2: False, 0xC3: True}
    if tag in simple:
        return simple[tag], at
    sizes = {0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8, 0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8}
    if tag in sizes:
        size = sizes[tag]
        signed = tag >= 0xD0
        return int.from_bytes(data[at : at + size], "big", signed=signed), at + size
    if tag in (0xCA, 0xCB):
        return 0, at + (4 if tag == 0xCA else 8)
    if tag in (0xC4, 0xC5, 0xC6):
        size = {0xC4: 1, 0xC5: 2, 0xC6: 4}[tag]
        length, at = int.from_bytes(data[at : at + size], "big"), at + size
        return None, at + length
    fixext = {0xD4: 1, 0xD5: 2, 0xD6: 4, 0xD7: 8, 0xD8: 16}
    if tag in fixext:
        return None, at + 1 + fixext[tag]
    if tag in (0xC7, 0xC8, 0xC9):
        size = {0xC7: 1, 0xC8: 2, 0xC9: 4}[tag]
        length, at = int.from_bytes(data[at : at + size], "big"), at + size
        return None, at + 1 + length
    raise ValueError(f"unsupported msgpack tag {tag:#x}")


class MalformedPlan(ValueError):
    """A plan file that Go and this reader could read differently: a zip member or a
    protobuf field this reader needs appears twice (README "What is enforced")."""


def _single(fields: dict[int, list[bytes | int]], number: int, what: str) -> bytes | None:
    values = fields.get(number, [])
    if len(values) > 1:
        raise MalformedPlan(f"{what} appears {len(values)} times")
    value = values[0] if values else None
    if value is not None and not isinstance(value, bytes):
        raise ValueError(f"{what} has the wrong wire type")
    return value


def recorded_backend(path: str) -> tuple[str, dict[str, object], str] | None:
    """(type, settings, workspace) a plan file was made with; None when it has none
    (terraform's implicit local backend); raises ValueError when it cannot be read.

    Go merges a repeated embedded message and its zip reader opens the first of two
    members with one name, where Python's reads the last: rather than imitate both, a
    plan with a duplicate member, or a duplicate backend field, is MalformedPlan (the
    shim refuses it, exit 3)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            duplicates = sorted({name for name in names if names.count(name) > 1})
            if duplicates:
                raise MalformedPlan(f"the zip member {duplicates[0]!r} appears twice")
            data = archive.read("tfplan")
    except damaged_zip(KeyError) as error:
        raise ValueError(f"not a plan file ({error})") from None
    except OSError as error:
        raise ValueError(error.strerror or str(error)) from None
    try:
        top = _fields(data)
        messages = [m for number in (13, 29) for m in top.get(number, [])]
        if len(messages) > 1:
            raise MalformedPlan("the backend record (fields 13/29) appears more than once")
        if not messages:
            return None
        if not isinstance(messages[0], bytes):
            raise ValueError("the backend record has the wrong wire type")
        backend = _fields(messages[0])
        kind = (_single(backend, 1, "the backend type") or b"").decode()
        workspace = (_single(backend, 3, "the backend workspace") or b"").decode() or "default"
        settings: dict[str, object] = {}
        config = _single(backend, 2, "the backend config")
        if config:
            packed = _single(_fields(config), 1, "the backend config's msgpack")
            if packed:
                value, _ = _msgpack(packed)
                if isinstance(value, dict):
                    settings = {k: v for k, v in value.items() if v is not None}
    except MalformedPlan:
        raise
    except (ValueError, IndexError, UnicodeDecodeError) as error:
        raise ValueError(f"cannot read its backend ({error})") from None
    return kind or "local", settings, workspace
