"""The `safeterraform` command (Typer): the only module that parses its own arguments.

Each command is a small function in `safeterraform.commands` returning an exit code;
expected failures are SafeTerraformError, mapped to one line and a code here.
"""

from __future__ import annotations

import enum
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from safeterraform import __version__
from safeterraform.audit import VERDICTS
from safeterraform.errors import SafeTerraformError

app = typer.Typer(
    name="safeterraform",
    help="Guard production terraform: see what an apply destroys before it runs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


class Format(enum.StrEnum):
    text = "text"
    json = "json"
    markdown = "markdown"


class Shell(enum.StrEnum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"


def prose(text: str) -> str:
    """Help text as paragraphs the terminal wraps: a docstring's line breaks are not kept
    (rich would keep them and break sentences), and `[...]` such as `[hooks]` is shown
    as written, not read as rich markup."""
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(" ".join(p.split("\n")) for p in paragraphs).replace("[", "\\[")


def _run(command: Callable[[], int]) -> None:
    """Run a command; an expected failure becomes one line on stderr and its exit code."""
    try:
        code = command()
    except SafeTerraformError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(error.exit_code) from None
    raise typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"safeterraform {__version__}")
        raise typer.Exit(0)


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
) -> None:
    """safeterraform: a terraform shim that guards production."""


@app.command()
def doctor(
    chdir: Annotated[
        Path | None, typer.Option("--chdir", help="Working directory to judge (like -chdir).")
    ] = None,
    shell: Annotated[
        Shell | None, typer.Option("--shell", help="Print an alias for this shell instead.")
    ] = None,
) -> None:
    """Show every input to the production verdict, the verdict and the real binary."""
    from safeterraform.commands import doctor as command

    _run(lambda: command.run(chdir, shell.value if shell else None))


@app.command()
def check(
    plan: Annotated[
        Path, typer.Argument(help="A plan file, or the JSON of `terraform show -json`.")
    ],
    output_format: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.text,
    chdir: Annotated[
        Path | None,
        typer.Option(
            "--chdir",
            help="Where terraform show runs and config is read (default: the plan's directory).",
        ),
    ] = None,
) -> None:
    """Render the destructive part of a plan, and why it happens.

    Exit codes: 0 nothing destructive, 2 destructive changes found, 1 error (unreadable
    plan, no terraform). JSON schema: schemas/check.schema.json.
    """
    from safeterraform.commands import check as command

    _run(lambda: command.run(plan, output_format.value, chdir))


@app.command()
def log(
    last: Annotated[int | None, typer.Option("--last", help="Only the last N records.")] = None,
    workspace: Annotated[
        str | None, typer.Option("--workspace", help="Only this workspace.")
    ] = None,
    verdict: Annotated[
        str | None,
        typer.Option("--verdict", help=f"Only this verdict: {', '.join(sorted(VERDICTS))}."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines, every field.")] = False,
    full: Annotated[
        bool,
        typer.Option("--full", help="A table with the command, reasons and outcomes, wrapped."),
    ] = False,
    secrets: Annotated[
        bool,
        typer.Option("--secrets", help="Only records written with -var values in them."),
    ] = False,
) -> None:
    """Show the audit log, one line per record (`-var` values always redacted)."""
    from safeterraform.commands import log as command

    _run(lambda: command.run(last, workspace, verdict, as_json, secrets=secrets, full=full))


@app.command()
def demo(
    keep: Annotated[bool, typer.Option("--keep", help="Keep the demo directory.")] = False,
) -> None:
    """Replay the incident safeterraform exists for, in a throwaway directory."""
    from safeterraform.commands import demo as command

    _run(lambda: command.run(keep))


@app.command()
def approve(
    plan: Annotated[Path, typer.Argument(help="The plan file, relative to the working directory.")],
    chdir: Annotated[
        Path | None, typer.Option("--chdir", help="Terraform's working directory (like -chdir).")
    ] = None,
) -> None:
    """Review a production plan and approve it for one apply without a terminal.

    For a person at a terminal: it shows the plan as the guarded apply does and asks for
    the node names. Then `terraform apply PLANFILE` (a coding agent, a runbook) applies
    exactly those bytes, once, within approval_ttl (default: one hour). Exit codes: 0 approved,
    3 refused (no terminal, a coding agent, a stale plan), 4 not confirmed.
    """
    from safeterraform.commands import approve as command

    _run(lambda: command.run(plan, chdir))


class LintFormat(enum.StrEnum):
    text = "text"
    json = "json"
    sarif = "sarif"


@app.command()
def lint(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Files and directories to check (default: the current directory)."),
    ] = None,
    output_format: Annotated[
        LintFormat, typer.Option("--format", help="Output format.")
    ] = LintFormat.text,
) -> None:
    """Find destroy-time provisioners and -auto-approve. Exit 0: clean, 2: findings."""
    from safeterraform.commands import lint as command

    _run(lambda: command.run(paths or [], output_format.value))


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def rollout(
    ctx: typer.Context,
    order: Annotated[
        str | None, typer.Option("--order", help="Nodes first, in this order: a,b,c.")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Go on with a stopped rollout (plans afresh).")
    ] = False,
    chdir: Annotated[
        Path | None, typer.Option("--chdir", help="Working directory (like -chdir).")
    ] = None,
) -> None:
    """Apply node by node: one node per apply, [hooks] after_node between, then the rest.

    Other arguments are terraform's plan flags (put them after `--` to be safe).
    Exit codes: 0 done; 3 refused (also a failed health check); 4 not confirmed;
    130 interrupted; terraform's own code when a plan or apply fails.
    """
    from safeterraform.commands import rollout as command

    _run(lambda: command.run(list(ctx.args), order, resume, chdir))


for _command in app.registered_commands:  # every command's help, from its docstring
    if _command.callback is not None and _command.callback.__doc__:
        _command.help = prose(_command.callback.__doc__)
