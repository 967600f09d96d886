"""The `safeterraform` console script: `check` in its plain forms without building the CLI.

`safeterraform check PLAN [--format text|json|markdown] [--chdir DIR]` is what a pipeline
runs on every plan, and building the whole Typer application (cli.py, every command) costs
~30 ms of it (bench/bench_check.py). Only command lines whose meaning is beyond doubt are
taken here; anything else (help, an unknown option or format, a value that starts with
`-`, `--`, a second argument, shell completion) goes to cli.py, which parses as before.
The outcome is cli.py's, to the byte: tests/test_entry.py runs both on the same lines.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

FORMATS = ("text", "json", "markdown")  # cli.Format
OPTIONS = ("--format", "--chdir")


def plain_check(args: list[str]) -> tuple[Path, str, Path | None] | None:
    """(plan, format, chdir) of a plain `check` command line, else None (cli.py parses)."""
    if not args or args[0] != "check":
        return None
    plan: str | None = None
    values: dict[str, str] = {}
    rest = args[1:]
    while rest:
        word = rest.pop(0)
        if word.startswith("-"):
            name, equals, value = word.partition("=")
            if name not in OPTIONS:
                return None
            if not equals:
                if not rest:
                    return None
                value = rest.pop(0)
            if not value or value.startswith("-"):
                return None
            values[name] = value  # repeated: the last one counts, as with click
        elif plan is None and word:
            plan = word
        else:
            return None
    output_format = values.get("--format", "text")
    if plan is None or output_format not in FORMATS:
        return None
    chdir = values.get("--chdir")
    return Path(plan), output_format, Path(chdir) if chdir is not None else None


def main() -> None:
    args = sys.argv[1:]
    plain = None if "_SAFETERRAFORM_COMPLETE" in os.environ else plain_check(args)
    if plain is None:
        from safeterraform.cli import app

        app()
        return
    code = _check(*plain)
    # The plan JSON and the analysis are ~10^5 objects that Python's teardown would free
    # one by one (~25 ms for 2,000 changes); the operating system frees them at once.
    # Output is flushed already and check leaves nothing behind (its temporary files are
    # closed), so nothing that teardown does is missed.
    os._exit(code)


def _check(plan: Path, output_format: str, chdir: Path | None) -> int:
    """commands.check.run as cli.py runs it: an expected failure is one line on stderr and
    its exit code; typer's endings for an interrupt (130) and a closed pipe (1, quietly)."""
    from safeterraform.commands import check
    from safeterraform.errors import SafeTerraformError

    try:
        code = check.run(plan, output_format, chdir)
        sys.stdout.flush()
        return code
    except SafeTerraformError as error:
        import click  # typer.echo is click.echo

        click.echo(str(error), err=True)
        sys.stderr.flush()
        return error.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Nothing more reaches the reader; flushing at exit must not complain either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
