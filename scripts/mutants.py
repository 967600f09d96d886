#!/usr/bin/env python3
"""Apply each documented deliberate bug to a temporary copy of the repository and run the
tests named for it: every one must be caught (docs/testing.md, "Deliberate bugs").

The list is scripts/mutations.toml. For each mutation: copy the repository's files (git
ls-files: tracked and untracked, not ignored), replace `original` (found exactly once) by
`replacement` in `file`, and run pytest on its `tests` with the copy's `src` first on
PYTHONPATH (the launcher the tests write bakes in the package path it was imported from).
A mutation is caught when pytest reports a failed test (exit 1).

Exit 0 when every mutation is caught; 1 when one survives (its tests pass, or skip), its
`original` is missing or ambiguous (a refactor moved the guard: update the list), or its
tests cannot run (pytest exit 2-5, a timeout).

Usage: .venv/bin/python scripts/mutants.py [-j JOBS] [-k SUBSTRING] [--timeout S] [--list]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIST = ROOT / "scripts" / "mutations.toml"


@dataclass(frozen=True)
class Mutation:
    name: str
    file: str
    original: str
    replacement: str
    tests: tuple[str, ...]
    root: bool = False


@dataclass
class Outcome:
    mutation: Mutation
    verdict: str  # caught, SURVIVED, STALE, BROKEN, not applied
    seconds: float = 0.0
    detail: str = ""
    log: list[str] = field(default_factory=list)


def load(path: Path = LIST) -> list[Mutation]:
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    mutations = []
    for entry in data.get("mutation", []):
        tests = tuple(entry["tests"])
        if not tests:
            raise SystemExit(f"mutants: {entry['name']!r} names no test")
        mutations.append(
            Mutation(
                str(entry["name"]),
                str(entry["file"]),
                str(entry["original"]),
                str(entry["replacement"]),
                tests,
                bool(entry.get("root", False)),
            )
        )
    return mutations


def repository_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [name for name in listed.split("\0") if name and (ROOT / name).is_file()]


def copy_repository(files: list[str], dest: Path) -> None:
    for name in files:
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target, follow_symlinks=False)


def check_original(mutation: Mutation) -> str | None:
    """Why the mutation cannot be applied to this tree, or None."""
    path = ROOT / mutation.file
    if not path.is_file():
        return f"{mutation.file} does not exist"
    count = path.read_text().count(mutation.original)
    if count != 1:
        where = "not found" if count == 0 else f"found {count} times"
        return f"its original text is {where} in {mutation.file}: update scripts/mutations.toml"
    return None


def run_one(
    index: int, mutation: Mutation, files: list[str], base: Path, timeout: float
) -> Outcome:
    started = time.monotonic()
    problem = check_original(mutation)
    if problem is not None:
        return Outcome(mutation, "STALE", detail=problem)
    if mutation.root and os.geteuid() != 0:
        return Outcome(mutation, "not applied", detail="its tests need root")
    copy = base / f"m{index:02d}"  # no random letters: they could spell `prd`
    copy.mkdir()
    try:
        copy_repository(files, copy)
        target = copy / mutation.file
        target.write_text(target.read_text().replace(mutation.original, mutation.replacement))
        env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
        env["PYTHONPATH"] = os.pathsep.join(
            [str(copy / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]
        )
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        # One wheelhouse for every run that installs (tests/tfharness.py, made by the first).
        env["SAFETERRAFORM_TEST_WHEELHOUSE"] = str(base / "wheelhouse")
        command = [
            sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
            "-p", "no:randomly", "-o", "addopts=", f"--basetemp={copy / '.tmp'}",
            "-rs", *mutation.tests,
        ]  # fmt: skip
        try:
            result = subprocess.run(
                command,
                cwd=copy,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            return Outcome(
                mutation,
                "BROKEN",
                time.monotonic() - started,
                f"its tests ran longer than {timeout:.0f} s: a guard lost must fail fast",
            )
        seconds = time.monotonic() - started
        tail = (result.stdout + result.stderr).strip().splitlines()[-15:]
        if result.returncode == 1:
            failed = [line for line in tail if line.startswith("FAILED")]
            return Outcome(mutation, "caught", seconds, failed[0] if failed else "", tail)
        if result.returncode == 0:
            skipped = any(" skipped" in line for line in tail[-1:])
            why = "its tests pass" + (" (some skipped)" if skipped else "")
            return Outcome(mutation, "SURVIVED", seconds, why, tail)
        return Outcome(mutation, "BROKEN", seconds, f"pytest exited {result.returncode}", tail)
    finally:
        shutil.rmtree(copy, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-j", "--jobs", type=int, default=int(os.environ.get("MUTANTS_JOBS", 3)))
    parser.add_argument("-k", "--only", default="", help="mutations whose name contains this")
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds per mutation")
    parser.add_argument("--list", action="store_true", help="print the mutations and exit")
    options = parser.parse_args(argv)
    mutations = [m for m in load() if options.only.lower() in m.name.lower()]
    if options.list:
        for mutation in mutations:
            print(f"{mutation.name}  ({mutation.file}): {' '.join(mutation.tests)}")
        return 0
    if not mutations:
        print("mutants: no mutation matches", file=sys.stderr)
        return 1
    files = repository_files()
    started = time.monotonic()
    outcomes: list[Outcome] = []
    # The tests' temporary paths must hold no production token (a random name might).
    base = Path(tempfile.gettempdir()) / f"safeterraform-mutants-{os.getpid()}"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir()
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, options.jobs)) as pool:
            futures = [
                pool.submit(run_one, index, mutation, files, base, options.timeout)
                for index, mutation in enumerate(mutations)
            ]
            for future in concurrent.futures.as_completed(futures):
                outcome = future.result()
                outcomes.append(outcome)
                print(
                    f"mutants: {outcome.verdict:<11} {outcome.seconds:5.1f} s  "
                    f"{outcome.mutation.name}"
                    + (f"  -- {outcome.detail}" if outcome.detail else ""),
                    flush=True,
                )
    finally:
        shutil.rmtree(base, ignore_errors=True)
    bad = [o for o in outcomes if o.verdict not in ("caught", "not applied")]
    for outcome in bad:
        print(f"\nmutants: {outcome.verdict}: {outcome.mutation.name}", file=sys.stderr)
        print(f"  {outcome.mutation.file}: {outcome.detail}", file=sys.stderr)
        print(f"  tests: {' '.join(outcome.mutation.tests)}", file=sys.stderr)
        for line in outcome.log:
            print(f"  | {line}", file=sys.stderr)
    caught = sum(o.verdict == "caught" for o in outcomes)
    print(
        f"mutants: {caught} of {len(outcomes)} caught, {len(bad)} not "
        f"({time.monotonic() - started:.0f} s, {options.jobs} at a time)"
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
