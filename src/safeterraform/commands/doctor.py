"""`safeterraform doctor`: every input to the production verdict, and the verdict."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from rich.console import Console
from rich.table import Table

from safeterraform import policy, realbin
from safeterraform.errors import RealBinaryNotFound
from safeterraform.realbin import is_shim

ALIASES = {
    "bash": "alias terraform='{shim}'",
    "zsh": "alias terraform='{shim}'",
    "fish": "alias terraform '{shim}'",
}


def shim_on_path(env: dict[str, str]) -> str | None:
    """The first `terraform` on PATH if it is a safeterraform shim."""
    found = shutil.which("terraform", path=env.get("PATH", ""))
    return found if found is not None and is_shim(found, None) else None


def run(chdir: Path | None, shell: str | None, console: Console | None = None) -> int:
    console = console or Console()
    env = dict(os.environ)
    workdir = str((chdir or Path.cwd()).resolve())
    if shell is not None:
        shim = shim_on_path(env) or "safeterraform-shim"
        console.print(ALIASES[shell].format(shim=shim), highlight=False, soft_wrap=True)
        return 0
    config = policy.load(env, workdir)
    table = Table(title="safeterraform doctor", show_lines=False)
    table.add_column("input")
    table.add_column("value", overflow="fold")
    problems = 0
    for layer, path in policy.config_paths(env, workdir):
        read = any(path == seen for _, seen in config.files)
        table.add_row(f"config ({layer})", f"{path} ({'read' if read else 'absent'})")
    if config.error:
        problems += 1
        table.add_row("[red]config error[/red]", config.error)
    shim = shim_on_path(env)
    table.add_row("shim first on PATH", shim or "[red]no: `terraform` is not the shim[/red]")
    if shim is None:
        problems += 1
    try:
        real = realbin.find(
            "terraform", env, shim, config.real_binaries.get("terraform"), None
        )
        table.add_row("real terraform", f"{real.path} (from {real.source})")
    except RealBinaryNotFound as error:
        problems += 1
        table.add_row("[red]real terraform[/red]", str(error))
    workspace, source = policy.current_workspace(env, workdir)
    table.add_row("working directory", workdir)
    table.add_row("workspace", f"{workspace} (from {source})")
    for pattern in config.workspaces:
        table.add_row("production workspace pattern", f"{pattern.glob} ({pattern.source})")
    for pattern in config.paths:
        table.add_row("production path pattern", f"{pattern.glob} ({pattern.source})")
    for pattern in config.var_files:
        table.add_row("production var-file pattern", f"{pattern.glob} ({pattern.source})")
    table.add_row("always", f"true ({config.always})" if config.always else "false")
    table.add_row(
        "break-glass",
        "allowed"
        if config.allow_break_glass
        else f"disabled by {config.break_glass_disabled_by}",
    )
    if config.error is None:
        verdict = policy.decide(config, workspace, source, workdir)
        label = "[bold red]PRODUCTION[/bold red]" if verdict.production else "not production"
        table.add_row("verdict", f"{label}: {verdict.reason}")
    else:
        table.add_row("verdict", "[bold red]unknown: guarded commands are refused[/bold red]")
    console.print(table)
    return 1 if problems else 0
