"""`safeterraform check PLANFILE|PLAN.json`: the destructive part of a plan
(docs/design.md#the-destructive-diff).

Exit 0: nothing destructive; 2: destructive changes; 1: the plan cannot be read (§9).
"""

from __future__ import annotations

import gc
import json
import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from safeterraform import launcher, plan, planfiles, policy
from safeterraform.errors import SafeTerraformError
from safeterraform.terraform import Terraform

if TYPE_CHECKING:
    from rich.console import Console

    from safeterraform import blast

EXIT_DESTRUCTIVE = 2


def locate(plan_path: Path, workdir: Path) -> Path:
    """The plan as given (relative to the current directory), else relative to --chdir."""
    if plan_path.is_absolute() or plan_path.exists():
        return plan_path.absolute()
    return (workdir / plan_path).absolute()


def config_directory(plan_path: Path, chdir: Path | None) -> Path:
    """Where check reads the configuration layers ([nodes] names): --chdir when given, else
    the plan's own directory, where the guarded prompt read them (README "As a pull-request
    gate"). A gate run from the repository root then names nodes as the prompt does."""
    return (chdir if chdir is not None else plan_path.parent).absolute()


def shown_directory(directory: Path) -> str:
    """The directory as a pull-request comment names it: relative to its git repository's
    root (`envs/prod`, wherever CI checked it out), else to the current directory when
    inside it, else absolute."""
    for root in (directory, *directory.parents):
        if (root / ".git").exists():
            return str(directory.relative_to(root))
    here = Path.cwd().absolute()
    return str(directory.relative_to(here)) if directory.is_relative_to(here) else str(directory)


def analyze(
    plan_path: Path, workdir: Path, env: dict[str, str], config_dir: Path | None = None
) -> blast.Analysis:
    """Read a plan file (through the real terraform, run in `workdir`) or plan JSON, and
    analyse it with the configuration layers of `config_dir` (default: `workdir`)."""
    config = policy.load(env, str(config_dir or workdir), launcher.system_config(env))
    if config.error:
        raise SafeTerraformError(config.error)
    if not plan_path.is_file():
        raise SafeTerraformError(f"safeterraform: no such plan file: {plan_path}")
    saved_cloud_plan = planfiles.describe_cloud_plan(str(plan_path), str(plan_path))
    if saved_cloud_plan is not None:
        raise SafeTerraformError(
            f"safeterraform: {saved_cloud_plan}: review it in HCP Terraform/TFE"
        )
    if not plan.is_plan_file(plan_path):
        from safeterraform import blast

        return blast.analyze(plan.load_json(plan_path), {}, config.node_attributes)
    snapshot = plan.read_snapshot(plan_path)  # a corrupt zip fails here, before terraform
    try:
        real = launcher.resolve("terraform", env, config.real_binaries.get("terraform"))
    except SafeTerraformError as error:
        raise SafeTerraformError(str(error)) from None  # check's errors all exit 1 (§9)
    terraform = Terraform(real.path, str(workdir), env)
    from safeterraform import review

    # Read natively when the plan is this terraform's (one `version -json`, asked while the
    # plan is read, instead of a decoding of every object); else show -json, which also
    # says why a plan cannot be read.
    versions: list[str] = []
    asking = threading.Thread(target=lambda: versions.append(_version(terraform)), daemon=True)
    asking.start()

    def same_terraform(version: str) -> bool:
        asking.join()
        return versions == [version]

    native = review.analyze_natively(
        str(plan_path), snapshot, config.node_attributes, same_terraform
    )
    if native is not None:
        return native[0]
    shown = terraform.start_show_json(str(plan_path))
    try:  # the rendering is imported while terraform decodes the plan
        from safeterraform import render  # noqa: F401
    except BaseException:
        shown.cancel()
        raise
    analysis, _ = review.analyze_shown(shown, snapshot, config.node_attributes)
    return analysis


def _version(terraform: Terraform) -> str:
    """The real terraform's version; "" when it cannot say (then show -json reads the plan)."""
    try:
        version = json.loads(terraform.capture(["version", "-json"]))["terraform_version"]
    except (SafeTerraformError, ValueError, KeyError, TypeError):
        return ""
    return version if isinstance(version, str) else ""


def run(
    plan_path: Path, output_format: str, chdir: Path | None, console: Console | None = None
) -> int:
    # A short-lived command whose objects all die with it: the cyclic garbage collector
    # only costs time here (json.loads of a 2,000-change plan makes ~10^5 containers and
    # triggers full collections: 0.05-0.1 s, measured with bench/bench_check.py).
    gc.disable()
    env = dict(os.environ)
    workdir = (chdir or Path.cwd()).absolute()
    if not workdir.is_dir():
        raise SafeTerraformError(f"safeterraform: --chdir {chdir} is not a directory")
    located = locate(plan_path, workdir)
    config_dir = config_directory(located, chdir)
    analysis = analyze(located, workdir, env, config_dir)
    from safeterraform import render

    if output_format == "json":
        sys.stdout.write(render.to_json(analysis))
    elif output_format == "markdown":
        workspace, _ = policy.current_workspace(env, str(config_dir))
        sys.stdout.write(render.to_markdown(analysis, workspace, shown_directory(config_dir)))
    elif console is None and not sys.stdout.isatty():
        sys.stdout.write(render.to_text(analysis))  # what a console would print, without rich
    else:
        if console is None:
            from rich.console import Console

            console = Console(highlight=False)
        render.to_console(analysis, console)
    sys.stdout.flush()
    return EXIT_DESTRUCTIVE if analysis.destructive else 0
