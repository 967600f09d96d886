"""The approvals store (docs/design.md#coding-agents-and-approvals): bound to bytes, path,
workspace and directory; used once, also under concurrency; believed only from the file's owner."""

from __future__ import annotations

import datetime
import json
import multiprocessing
import os
import stat
from pathlib import Path

import pytest

from safeterraform.approvals import NoApproval, PlanRef, Store

NOW = datetime.datetime(2026, 1, 31, 2, 0, tzinfo=datetime.UTC)
PLAN = PlanRef("a" * 64, "/srv/prod/plan.tfplan", "prod", "/srv/prod")
NODES = ["powder", "poison", "phoebe"]


def approved(directory: Path, ttl: int = 3600, shared: bool = False) -> Store:
    store = Store(str(directory), shared=shared)
    store.add(PLAN, NODES, "alice", "bastion", NOW, ttl)
    return store


def test_an_approval_is_used_once(tmp_path: Path) -> None:
    """Mutation: `Store.use` not creating the `.used` marker lets the second take succeed."""
    store = approved(tmp_path / "approvals")
    approval = store.take(PLAN, NOW, os.getuid(), None)
    assert (approval.approver, approval.affected_nodes) == (
        _me(),
        tuple(NODES),
    )
    with pytest.raises(NoApproval, match="already used"):
        store.take(PLAN, NOW, os.getuid(), None)


def _me() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        (PlanRef("b" * 64, PLAN.path, "prod", "/srv/prod"), "was for other bytes"),
        (PlanRef(PLAN.sha256, PLAN.path, "prod", "/srv/other"), "not here"),
        (PlanRef(PLAN.sha256, PLAN.path, "staging", "/srv/prod"), "not here"),
        (PlanRef(PLAN.sha256, "/srv/prod/copy.tfplan", "prod", "/srv/prod"), "not here"),
        (PlanRef("c" * 64, "/srv/prod/unrelated.tfplan", "prod", "/srv/prod"), "no person"),
    ],
)
def test_an_approval_binds_bytes_path_workspace_and_directory(
    tmp_path: Path, plan: PlanRef, message: str
) -> None:
    """Mutation: comparing only the SHA-256 accepts the other directory and workspace."""
    store = approved(tmp_path / "approvals")
    with pytest.raises(NoApproval, match=message):
        store.take(plan, NOW, os.getuid(), None)
    assert store.take(PLAN, NOW, os.getuid(), None)  # the approved plan is still approved


def test_an_approval_expires(tmp_path: Path) -> None:
    """Mutation: not comparing `expires` with now applies an approval of last week."""
    store = approved(tmp_path / "approvals", ttl=60)
    later = NOW + datetime.timedelta(seconds=60)
    with pytest.raises(NoApproval, match=r"expired at 2026-01-31T02:01:00\.000Z"):
        store.take(PLAN, later, os.getuid(), None)


def test_files_are_private_to_the_user_or_readable_by_the_group(tmp_path: Path) -> None:
    own = tmp_path / "own"
    approved(own)
    assert stat.S_IMODE(own.stat().st_mode) == 0o700
    (file,) = own.glob("*.json")
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    shared = tmp_path / "shared"
    shared.mkdir()
    old = os.umask(0o077)
    try:
        approved(shared, shared=True)
    finally:
        os.umask(old)
    (file,) = shared.glob("*.json")
    assert stat.S_IMODE(file.stat().st_mode) == 0o640


def test_a_copy_of_someone_elses_approval_is_not_theirs(tmp_path: Path) -> None:
    """An approval is the file owner's: a file whose recorded uid is not its owner's, or
    that others may write, is no approval at all.

    Mutation: `_load` trusting the recorded uid lets a forged approval through."""
    directory = tmp_path / "approvals"
    store = approved(directory)
    (file,) = directory.glob("*.json")
    record = json.loads(file.read_text())
    record["uid"] = os.getuid() + 1
    file.write_text(json.dumps(record))
    with pytest.raises(NoApproval, match="no person has approved"):
        store.take(PLAN, NOW, os.getuid(), None)
    record["uid"] = os.getuid()
    file.write_text(json.dumps(record))
    file.chmod(0o666)
    with pytest.raises(NoApproval, match="no person has approved"):
        store.take(PLAN, NOW, os.getuid(), None)


def test_two_person_needs_another_user(tmp_path: Path) -> None:
    """Mutation: ignoring two_person lets the approver apply their own approval."""
    store = approved(tmp_path / "approvals")
    with pytest.raises(NoApproval, match=r"two_person = true in /etc/x\.toml requires another"):
        store.take(PLAN, NOW, os.getuid(), "/etc/x.toml")
    assert store.take(PLAN, NOW, os.getuid() + 1, "/etc/x.toml")


def _race(directory: str, barrier: multiprocessing.synchronize.Barrier, results: object) -> None:
    """Find the approval as `take` does, then use it at the same moment as the others."""
    store = Store(directory)
    (approval,) = store._approvals()
    barrier.wait()
    results.put("applied" if store.use(approval, NOW) else "refused")  # type: ignore[attr-defined]


def test_concurrent_applies_use_an_approval_once(tmp_path: Path) -> None:
    """Eight applies take the same approval at the same moment: exactly one gets it.

    Mutation: `Store.use` creating the `.used` marker without O_EXCL lets all eight
    through."""
    directory = tmp_path / "approvals"
    approved(directory)
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(8)
    results = context.Queue()
    workers = [
        context.Process(target=_race, args=(str(directory), barrier, results)) for _ in range(8)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    outcomes = sorted(results.get(timeout=10) for _ in workers)
    assert outcomes == ["applied"] + ["refused"] * 7
