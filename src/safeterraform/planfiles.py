"""The shim's own plan files: hidden plans, and the private copy that is reviewed and applied.

Hidden plans (under DATA_DIR/safeterraform/plans, 0600) hold variable values, so they are
removed on every way out: normal exit, Ctrl-C, SIGTERM and SIGHUP (the terminal closed).
The reviewed plan is copied into an anonymous file that only this process holds open;
terraform reads it as /dev/fd/N, so no other process can swap what was reviewed for
something else between the review and the apply (PRODUCT.md §7).
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import signal
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import FrameType

from safeterraform.errors import Interrupted, PlanError

CLOUD_PLAN_KEY = "remote_plan_format"


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

    def new_hidden(self) -> str:
        """A new, empty mode-0600 plan file named for the workspace and time."""
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        stamp = self.now().strftime("%Y%m%dT%H%M%SZ")
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in self.workspace)
        path = os.path.join(self.directory, f"{safe}-{stamp}-{os.getpid()}.tfplan")
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
        self.hidden.append(path)
        return path

    def keep(self, path: str) -> None:
        """Leave this hidden plan on disk on the way out (kept for `safeterraform approve`)."""
        if path in self.hidden:
            self.hidden.remove(path)

    def private_copy(self, path: str) -> PrivatePlan:
        """Copy `path` into an anonymous file and hash the bytes copied."""
        try:
            with open(path, "rb") as source:
                data = source.read()
        except OSError as error:
            raise PlanError(f"safeterraform: cannot read plan {path}: {error.strerror}") from None
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
            with contextlib.suppress(OSError):
                os.unlink(path)
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
    def removed_on_exit(self) -> Iterator[PlanFiles]:
        """Remove the plans however the command ends; SIGTERM and SIGHUP become
        Interrupted so that the flow records the interruption on its way out."""

        def on_signal(signum: int, frame: FrameType | None) -> None:
            name = signal.Signals(signum).name
            raise Interrupted(f"safeterraform: {name} received; nothing was applied")

        previous = {
            signum: signal.signal(signum, on_signal) for signum in (signal.SIGTERM, signal.SIGHUP)
        }
        try:
            yield self
        finally:
            self.cleanup()
            for signum, handler in previous.items():
                signal.signal(signum, handler)


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


def prior_state_meta(path: str) -> tuple[str, int] | None:
    """(lineage, serial) of the state a plan file was made against (its `tfstate`)."""
    try:
        with zipfile.ZipFile(path) as archive:
            data = json.loads(archive.read("tfstate"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
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
