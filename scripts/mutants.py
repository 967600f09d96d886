#!/usr/bin/env python3
"""Apply each documented deliberate bug to a temporary copy of the repository and run the
tests named for it: every one must be caught (docs/testing.md, "Deliberate bugs").

The list is scripts/mutations.toml. For each mutation: copy the repository's files (git
ls-files: tracked and untracked, not ignored), replace `original` (found exactly once) by
`replacement` in `file`, and run pytest on its `tests` with the copy's `src` first on
PYTHONPATH (the launcher the tests write bakes in the package path it was imported from).
A mutation is caught when pytest reports a failed test (exit 1). The runs are children
forked from this process once it has imported pytest and its plugins (not the package).

Exit 0 when every mutation is caught; 1 when one survives (its tests pass, or skip), its
`original` is missing or ambiguous (a refactor moved the guard: update the list), or its
tests cannot run (pytest exit 2-5, a timeout).

Usage: .venv/bin/python scripts/mutants.py [-j JOBS] [-k SUBSTRING] [--timeout S] [--list]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIST = ROOT / "scripts" / "mutations.toml"
# Test files whose tests install the package with install.sh (~10 s a run).
SLOW_FILES = ("tests/test_install.py", "tests/test_bastion.py")


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


@dataclass
class Run:
    """A mutation's pytest under way, in a child forked from this process."""

    index: int
    mutation: Mutation
    copy: Path
    pid: int
    started: float


def prepare(index: int, mutation: Mutation, files: list[str], base: Path) -> Path | Outcome:
    """The mutated copy to run the tests in, or the outcome when it cannot be made."""
    problem = check_original(mutation)
    if problem is not None:
        return Outcome(mutation, "STALE", detail=problem)
    if mutation.root and os.geteuid() != 0:
        return Outcome(mutation, "not applied", detail="its tests need root")
    copy = base / f"m{index:02d}"  # no random letters: they could spell `prd`
    copy.mkdir()
    copy_repository(files, copy)
    target = copy / mutation.file
    target.write_text(target.read_text().replace(mutation.original, mutation.replacement))
    return copy


def start(index: int, mutation: Mutation, copy: Path, base: Path) -> Run:
    """Fork a child that runs pytest on the mutation's tests in `copy`, as
    `python -m pytest` started there with the copy's `src` first on PYTHONPATH would.
    pytest and its plugins are imported here once, before the first fork (warm_up), not
    by every run: ~0.5 s of CPU each (docs/testing.md, "Suite time"). Nothing of this
    repository is imported here, so the child imports the copy's."""
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(copy / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    # One wheelhouse for every run that installs (tests/tfharness.py, made by the first),
    # or the one scripts/test.sh gave pytest before.
    env.setdefault("SAFETERRAFORM_TEST_WHEELHOUSE", str(base / "wheelhouse"))
    arguments = [
        "-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "-o", "addopts=",
        # The plugins were imported before pytest could register them for rewriting.
        "-W", "ignore::pytest.PytestAssertRewriteWarning",
        f"--basetemp={copy / '.tmp'}", "-rs", *mutation.tests,
    ]  # fmt: skip
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 70
        try:
            import pytest

            os.chdir(copy)
            os.environ.clear()
            os.environ.update(env)
            sys.path[:0] = [str(copy), str(copy / "src")]  # `-m`: the directory, then PYTHONPATH
            sys.dont_write_bytecode = True
            log = os.open(copy / "pytest.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(log, 1)
            os.dup2(log, 2)
            code = int(pytest.main(arguments))
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)
    return Run(index, mutation, copy, pid, time.monotonic())


def warm_up() -> None:
    """Import pytest and the plugins it loads (their entry points) before forking."""
    from importlib.metadata import entry_points

    import pytest  # noqa: F401

    for entry in entry_points(group="pytest11"):
        with contextlib.suppress(Exception):
            entry.load()


def verdict(run: Run, status: int) -> Outcome:
    seconds = time.monotonic() - run.started
    mutation = run.mutation
    log = run.copy / "pytest.log"
    text = log.read_text(errors="replace") if log.exists() else ""
    tail = text.strip().splitlines()[-15:]
    if os.WIFSIGNALED(status):
        return Outcome(
            mutation, "BROKEN", seconds, f"pytest died of signal {os.WTERMSIG(status)}", tail
        )
    returncode = os.WEXITSTATUS(status)
    if returncode == 1:
        failed = [line for line in tail if line.startswith("FAILED")]
        return Outcome(mutation, "caught", seconds, failed[0] if failed else "", tail)
    if returncode == 0:
        skipped = any(" skipped" in line for line in tail[-1:])
        why = "its tests pass" + (" (some skipped)" if skipped else "")
        return Outcome(mutation, "SURVIVED", seconds, why, tail)
    return Outcome(mutation, "BROKEN", seconds, f"pytest exited {returncode}", tail)


def _installs(mutation: Mutation) -> bool:
    return any(test.startswith(SLOW_FILES) for test in mutation.tests)


def run_all(
    mutations: list[Mutation], files: list[str], base: Path, jobs: int, timeout: float
) -> Iterator[Outcome]:
    """Every mutation's outcome as its run ends, `jobs` runs at a time."""
    # The runs that install (a virtualenv and pip: ~10 s) first, so that none of them
    # starts last and runs alone.
    waiting = sorted(enumerate(mutations), key=lambda item: not _installs(item[1]))
    running: dict[int, Run] = {}
    while waiting or running:
        while waiting and len(running) < jobs:
            index, mutation = waiting.pop(0)
            prepared = prepare(index, mutation, files, base)
            if isinstance(prepared, Outcome):
                yield prepared
                continue
            run = start(index, mutation, prepared, base)
            running[run.pid] = run
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            for run in running.values():
                if time.monotonic() - run.started > timeout:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(run.pid, signal.SIGKILL)
                    run.started = -float("inf")  # reported as the timeout below
            time.sleep(0.02)
            continue
        run = running.pop(pid)
        if run.started == -float("inf"):
            outcome = Outcome(
                run.mutation, "BROKEN", timeout,
                f"its tests ran longer than {timeout:.0f} s: a guard lost must fail fast",
            )  # fmt: skip
        else:
            outcome = verdict(run, status)
        shutil.rmtree(run.copy, ignore_errors=True)
        yield outcome


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
        warm_up()
        for outcome in run_all(mutations, files, base, max(1, options.jobs), options.timeout):
            outcomes.append(outcome)
            print(
                f"mutants: {outcome.verdict:<11} {outcome.seconds:5.1f} s  "
                f"{outcome.mutation.name}" + (f"  -- {outcome.detail}" if outcome.detail else ""),
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
