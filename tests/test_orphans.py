"""A confirmed apply whose shim was killed (README "What is enforced", issue 26): the next guarded
command, `safeterraform log` and `doctor` say its outcome is unknown, and its hidden plan
(it holds variable values) is swept. The shim is really SIGKILLed in a pseudo-terminal."""

from __future__ import annotations

import datetime
import os
import signal
import subprocess
import time
from pathlib import Path

import pexpect

from safeterraform import audit
from safeterraform.planfiles import KEPT, PlanFiles
from tests.conftest import Runner
from tests.test_approve import audit_records, safeterraform_command
from tests.test_guard import _slow_apply, leftover_plans

UNKNOWN = "outcome unknown: check the state"


def run_safeterraform(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run(
        [safeterraform_command(), *args],
        cwd=cwd,
        env={**env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result.stdout + result.stderr


def gone(pid: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while audit.process_alive(pid):
        assert time.monotonic() < deadline, f"process {pid} is still there"
        time.sleep(0.1)


def test_a_killed_shims_confirmed_apply_is_reported_and_its_plan_swept(
    workdir: Path, real: Runner, shim: Runner, shim_bin: Path, env: dict[str, str], home: Path
) -> None:
    """Mutation: flows.execute skips report_orphans -> the next command says nothing.
    Mutation: PlanFiles.removed_on_exit skips sweep -> the killed shim's plan stays."""
    child = _slow_apply(workdir, real, shim_bin, env)  # confirmed, terraform is applying
    assert leftover_plans(workdir) != []
    os.kill(child.pid, signal.SIGKILL)
    child.expect(pexpect.EOF)
    child.close()
    gone(child.pid)
    verdicts = [r["verdict"] for r in audit_records(home)]
    assert verdicts[-1] == "confirmed", verdicts  # and nothing after it
    orphaned = leftover_plans(workdir)
    assert orphaned != []  # the plan with the variable values stayed

    nxt = shim("plan", "-input=false", "-lock=false")
    assert UNKNOWN in nxt.stderr, nxt.stdout + nxt.stderr
    assert f"process {child.pid}" in nxt.stderr
    assert not set(orphaned) & set(leftover_plans(workdir))  # (the plan's own plan stays)
    again = shim("plan", "-input=false", "-lock=false")
    assert UNKNOWN not in again.stderr  # reported once by a guarded command

    assert UNKNOWN in run_safeterraform(["log"], workdir, env)
    assert UNKNOWN in run_safeterraform(["doctor", "--chdir", str(workdir)], workdir, env)
    unknown = [r for r in audit_records(home) if r["verdict"] == "outcome-unknown"]
    assert len(unknown) == 1 and unknown[0]["pid"] == child.pid


def test_an_apply_that_recorded_its_outcome_is_no_orphan() -> None:
    """Mutation: audit.outcome ignores the pid -> any later record closes any apply."""
    base = {"host": "h", "user": "u", "cwd": "/w", "workspace": "prod", "argv": ["apply"]}
    records = [
        {**base, "verdict": "confirmed", "pid": 10, "time": "t1"},
        {**base, "verdict": "confirmed", "pid": 11, "time": "t2"},
        {**base, "verdict": "applied", "pid": 11, "exit_code": 0},
        {**base, "verdict": "confirmed", "pid": 12, "time": "t3"},
        {**base, "verdict": "applied", "pid": 13, "exit_code": 0},
        {**base, "verdict": "confirmed", "pid": 14, "host": "other"},
    ]
    found = audit.orphans(records, "h", alive=lambda pid: pid == 12)
    assert [record["pid"] for record, _ in found] == [10]


def test_the_sweep_keeps_kept_plans_and_plans_of_live_shims(tmp_path: Path) -> None:
    """Mutation: sweep ignores the .kept marker -> the plan a person must approve goes."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    plans = PlanFiles(str(tmp_path), "prod", lambda: datetime.datetime.now(datetime.UTC))
    names = {
        "orphan": f"prod-20260131T020000Z-{dead.pid}.tfplan",
        "kept": f"prod-20260131T020001Z-{dead.pid}.tfplan",
        "live": f"prod-20260131T020002Z-{os.getppid()}.tfplan",
        "mine": f"prod-20260131T020003Z-{os.getpid()}.tfplan",
        "other": "review.tfplan",
    }
    for name in names.values():
        (tmp_path / name).write_bytes(b"plan")
    (tmp_path / (names["kept"] + KEPT)).touch()
    assert plans.sweep() == [names["orphan"]]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [*(n for key, n in names.items() if key != "orphan"), names["kept"] + KEPT]
    )


def test_the_sweep_spares_the_plan_the_command_was_given(tmp_path: Path) -> None:
    """Mutation: sweep ignores `spare` -> `terraform apply` of a copied-back plan finds it
    gone ("cannot read plan") instead of being judged."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    plans = PlanFiles(str(tmp_path), "prod", lambda: datetime.datetime.now(datetime.UTC))
    given = tmp_path / f"prod-20260131T020000Z-{dead.pid}.tfplan"
    given.write_bytes(b"plan")
    assert plans.sweep(str(given)) == []
    assert plans.sweep() == [given.name]


def test_an_audit_log_that_is_a_device_is_not_read_back() -> None:
    """`audit_log = "/dev/full"` (tests/test_prevention.py): reading it back for orphans
    would never end. Mutation: recent() without the regular-file check and with an
    unbounded read() (as first written) -> it never returns, and the shims in
    test_prevention.py were killed for memory."""
    assert audit.recent("/dev/zero", size=1 << 20) == []
    assert audit.report_orphans("/dev/full", "h") == []
