"""A person's approval of one plan file, used once by a non-interactive apply
(docs/design.md#coding-agents-and-approvals).

`safeterraform approve PLANFILE` adds one; `terraform apply PLANFILE` (an agent, a runbook,
anyone without a terminal) takes it. An approval is bound to the plan's SHA-256, its
absolute path, the workspace and the working directory, and expires after `[confirm]
approval_ttl`. Who approved is the file's owner as the kernel reports it; what the file
says is only believed when it agrees. Taking an approval creates `<file>.used` with
O_CREAT|O_EXCL: of any number of concurrent applies exactly one creates it, and that one
alone applies (the marker is also what works in a shared sticky directory, where only
an approval's owner could rename or remove it).

Standard library only, like audit.py beside it.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import pwd
import stat
from dataclasses import dataclass
from typing import Any

from safeterraform.audit import format_time
from safeterraform.errors import Refused, SafeTerraformError

DIRECTORY_NAME = "approvals"
USED = ".used"


@dataclass(frozen=True)
class PlanRef:
    """What an approval is bound to: these bytes, at this path, for this workspace/dir."""

    sha256: str
    path: str  # absolute
    workspace: str
    workdir: str


@dataclass(frozen=True)
class Approval:
    plan: PlanRef
    approver: str  # user (and sudo origin), as audit.identity names them
    host: str
    uid: int  # the owner of the approval file: who really approved
    approved_at: str
    expires: float  # seconds since the epoch
    affected_nodes: tuple[str, ...]
    file: str

    @property
    def expires_at(self) -> str:
        return format_time(datetime.datetime.fromtimestamp(self.expires, datetime.UTC))

    def names(self) -> str:
        """The approver for the audit record's `approved_by`."""
        return f"{self.approver}@{self.host} (approved {self.approved_at}, {self.file})"


class NoApproval(Refused):
    """No usable approval for a plan; the message says why (used, expired, elsewhere...)."""


def default_directory(state_dir: str) -> str:
    """Beside the audit log: $XDG_STATE_HOME/safeterraform/approvals."""
    return os.path.join(state_dir, DIRECTORY_NAME)


@dataclass(frozen=True)
class Store:
    """The approvals directory: the user's own (0700, files 0600), or the system layer's
    shared one (group-owned, setgid and sticky; files 0640 so the group can read them)."""

    directory: str
    shared: bool = False

    def add(
        self,
        plan: PlanRef,
        nodes: list[str],
        user: str,
        host: str,
        now: datetime.datetime,
        ttl: int,
    ) -> Approval:
        """Write a new approval (atomically: a reader never sees half of one)."""
        try:
            if not self.shared:
                os.makedirs(self.directory, mode=0o700, exist_ok=True)
            self._prune(now)
            # os.urandom is what secrets.token_hex reads; `secrets` (hmac, hashlib, random)
            # cost every guarded command ~5 ms of imports before terraform started.
            name = f"{plan.sha256}-{os.urandom(8).hex()}.json"
            path = os.path.join(self.directory, name)
            expires = now.timestamp() + ttl
            record = {
                "plan_sha256": plan.sha256,
                "plan_path": plan.path,
                "workspace": plan.workspace,
                "workdir": plan.workdir,
                "approver": user,
                "host": host,
                "uid": os.getuid(),
                "approved_at": format_time(now),
                "expires": expires,
                "expires_at": format_time(datetime.datetime.fromtimestamp(expires, datetime.UTC)),
                "affected_nodes": list(nodes),
            }
            temporary = os.path.join(self.directory, f".{name}.tmp")
            mode = 0o640 if self.shared else 0o600
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            descriptor = os.open(temporary, flags, mode)
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                os.fchmod(handle.fileno(), mode)  # whatever the umask
                json.dump(record, handle, sort_keys=True)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.rename(temporary, path)
        except OSError as error:
            raise SafeTerraformError(
                f"safeterraform: cannot write the approval into {self.directory}: "
                f"{error.strerror or error}"
            ) from None
        return Approval(
            plan,
            user,
            host,
            os.getuid(),
            record["approved_at"],  # type: ignore[arg-type]
            expires,
            tuple(nodes),
            path,
        )

    def take(
        self, plan: PlanRef, now: datetime.datetime, applier_uid: int, two_person: str | None
    ) -> Approval:
        """Use the approval of exactly this plan, once; NoApproval says why there is none."""
        problems: list[str] = []
        usable: list[Approval] = []
        for approval in self._approvals():
            same_bytes = approval.plan.sha256 == plan.sha256
            if not same_bytes and approval.plan.path != plan.path:
                continue  # another plan altogether
            by = f"by {approval.approver}"
            if not same_bytes:
                problems.append(
                    f"the approval of {plan.path} {by} was for other bytes: this is not "
                    "the plan that was approved"
                )
            elif (approval.plan.path, approval.plan.workdir, approval.plan.workspace) != (
                plan.path,
                plan.workdir,
                plan.workspace,
            ):
                problems.append(
                    f"this plan was approved {by} as {approval.plan.path} in "
                    f"{approval.plan.workdir}, workspace {approval.plan.workspace!r}, not here"
                )
            elif os.path.lexists(approval.file + USED):
                problems.append(f"the approval {by} was already used (an approval is used once)")
            elif now.timestamp() >= approval.expires:
                problems.append(f"the approval {by} expired at {approval.expires_at}")
            elif two_person and approval.uid == applier_uid:
                problems.append(
                    f"it was approved {by}, who is applying it, and two_person = true in "
                    f"{two_person} requires another user to approve"
                )
            else:
                usable.append(approval)
        for approval in usable:
            if self.use(approval, now):
                return approval
            problems.append(f"the approval by {approval.approver} was just used by another apply")
        raise NoApproval("; ".join(problems) or "no person has approved this plan")

    def _approvals(self) -> list[Approval]:
        try:
            names = sorted(os.listdir(self.directory))
        except OSError:
            return []
        found = []
        for name in names:
            if name.startswith(".") or not name.endswith(".json"):
                continue
            approval = _load(os.path.join(self.directory, name))
            if approval is not None:
                found.append(approval)
        return found

    def use(self, approval: Approval, now: datetime.datetime) -> bool:
        """Create the `.used` marker; False when another apply created it first (O_EXCL:
        of any number of racing applies exactly one creates it)."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            descriptor = os.open(approval.file + USED, flags, 0o640 if self.shared else 0o600)
        except FileExistsError:
            return False
        except OSError as error:
            raise Refused(
                f"safeterraform: refused: cannot mark the approval {approval.file} used: "
                f"{error.strerror or error}; nothing was applied"
            ) from None
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump({"used_by_uid": os.getuid(), "used_at": format_time(now)}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        return True

    def _prune(self, now: datetime.datetime) -> None:
        """Remove this user's own approvals that expired or were used (best effort)."""
        for approval in self._approvals():
            if approval.uid != os.getuid():
                continue
            used = os.path.lexists(approval.file + USED)
            if used or now.timestamp() >= approval.expires:
                with contextlib.suppress(OSError):
                    os.unlink(approval.file)


def _load(path: str) -> Approval | None:
    """An approval file, when it is one: a regular file that only its owner can write,
    whose recorded uid is its owner's (a copy of someone else's approval is not theirs)."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode) or info.st_mode & 0o022:
            return None
        with os.fdopen(descriptor, "rb") as handle:
            descriptor = -1
            data: Any = json.loads(handle.read(1 << 20))
    except (OSError, ValueError):
        return None
    finally:
        if descriptor >= 0:
            os.close(descriptor)
    try:
        if not isinstance(data, dict) or int(data["uid"]) != info.st_uid:
            return None
        plan = PlanRef(
            str(data["plan_sha256"]),
            str(data["plan_path"]),
            str(data["workspace"]),
            str(data["workdir"]),
        )
        return Approval(
            plan,
            _owner(info.st_uid, str(data["approver"])),
            str(data["host"]),
            info.st_uid,
            str(data["approved_at"]),
            float(data["expires"]),
            tuple(str(node) for node in data.get("affected_nodes", [])),
            path,
        )
    except (KeyError, TypeError, ValueError):
        return None


def _owner(uid: int, recorded: str) -> str:
    """The recorded approver when the file's owner is that user (sudo origin included)."""
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"
    return recorded if recorded.split(" ")[0] == name else name
