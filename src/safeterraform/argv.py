"""What a terraform command line means, following Terraform's own rules (pure).

The order of steps copies terraform's main.go (realMain): extract `-chdir=` from the
flags before the subcommand, find the subcommand (hashicorp/cli, nested commands such as
`state rm`), merge TF_CLI_ARGS then TF_CLI_ARGS_<subcommand> right after the subcommand
word (both keyed on the subcommand found *before* any merge), then rewrite to `version`
when -v/-version/--version appears anywhere. -h/-help/--help anywhere before `--` is help.
https://github.com/hashicorp/terraform/blob/main/main.go (mergeEnvArgs, extractChdirOption)

Standard library only: the shim imports this on the pass-through path.
"""

from __future__ import annotations

import enum
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


class CommandClass(enum.Enum):
    HELP = "help"
    VERSION = "version"
    READ_ONLY = "read-only"
    PLAN = "plan"
    APPLY = "apply"
    DESTROY = "destroy"
    STATE_CHANGE = "state-changing"
    UNKNOWN = "unknown"


# Terraform 1.15's command tree (`terraform -help` and each nested command's help).
READ_ONLY_COMMANDS = frozenset(
    {
        "version",
        "fmt",
        "validate",
        "show",
        "output",
        "providers",
        "providers lock",
        "providers mirror",
        "providers schema",
        "graph",
        "init",
        "get",
        "console",
        "modules",
        "metadata",
        "metadata functions",
        "query",
        "login",
        "logout",
        "state",
        "state list",
        "state show",
        "state pull",
        "state identities",
        "workspace",
        "workspace list",
        "workspace show",
        "workspace select",
        "workspace new",
        "env",
        "env list",
        "env select",
        "env new",
    }
)
STATE_CHANGE_COMMANDS = frozenset(
    {
        "state rm",
        "state mv",
        "state push",
        "state replace-provider",
        "taint",
        "untaint",
        "import",
        "refresh",
        "workspace delete",
        "env delete",
        "force-unlock",
        "test",
    }
)
NESTED_COMMANDS = frozenset(c for c in READ_ONLY_COMMANDS | STATE_CHANGE_COMMANDS if " " in c)
HELP_FLAGS = frozenset({"-h", "-help", "--help"})
VERSION_FLAGS = frozenset({"-v", "-version", "--version"})
# Go's strconv.ParseBool, which the flag package uses for boolean flags.
GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
GO_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})
AUTO_APPROVE_COMMANDS = frozenset({"apply", "destroy"})


class CommandLineError(ValueError):
    """A command line terraform itself would reject before running anything."""


@dataclass(frozen=True)
class Invocation:
    """One terraform command line, as terraform will understand it."""

    typed: tuple[str, ...]  # the arguments as typed, after the program name
    args: tuple[str, ...]  # after -chdir extraction, env merge and the version rewrite
    chdir: str | None
    command: str  # "apply", "state rm", "" when there is none
    command_args: tuple[str, ...]
    command_class: CommandClass
    auto_approve: bool  # an auto-approve flag that terraform would take as true
    auto_approve_source: str | None  # "command line", "TF_CLI_ARGS", "TF_CLI_ARGS_apply"
    destroy: bool  # destroy, or apply/plan -destroy
    plan_file: str | None  # apply's positional PLAN argument
    var_files: tuple[str, ...] = field(default=())
    error: str | None = None  # terraform would refuse this line (e.g. `-chdir DIR`)


def extract_chdir(args: Sequence[str]) -> tuple[str | None, list[str]]:
    """-chdir=DIR among the flags before the first non-flag; the last one wins."""
    value: str | None = None
    position = -1
    for index, arg in enumerate(args):
        if not arg.startswith("-"):
            break
        if arg in ("-chdir", "-chdir="):
            raise CommandLineError(
                "Invalid -chdir option: must include an equals sign followed by a "
                "directory path, like -chdir=example"
            )
        if arg.startswith("-chdir="):
            value, position = arg[len("-chdir=") :], index
    if not value:
        return None, list(args)
    return value, [*args[:position], *args[position + 1 :]]


def find_subcommand(args: Sequence[str]) -> tuple[str, int]:
    """The subcommand hashicorp/cli would run and the index of its last word (-1: none)."""
    for index, arg in enumerate(args):
        if arg == "--":
            break
        if arg == "" or arg.startswith("-"):
            continue
        words = [arg]
        for following in args[index + 1 :]:
            if following == "" or following.startswith("-") or " " in following:
                break
            words.append(following)
        for length in range(len(words), 1, -1):
            candidate = " ".join(words[:length])
            if candidate in NESTED_COMMANDS:
                return candidate, index + length - 1
        return arg, index
    return "", -1


def merge_env_args(
    args: list[str], env_value: str | None, command: str, var_name: str
) -> tuple[list[str], list[str]]:
    """Insert shell-split env args right after the subcommand's last word (or in front)."""
    if not env_value:
        return args, []
    try:
        extra = shlex.split(env_value)
    except ValueError as error:
        raise CommandLineError(f"Error parsing extra CLI args from {var_name}: {error}") from None
    search = command.rsplit(" ", 1)[-1]
    insert_at = args.index(search) + 1 if search and search in args else 0
    return [*args[:insert_at], *extra, *args[insert_at:]], extra


def flag_name_value(arg: str) -> tuple[str, str | None] | None:
    """`-name`, `--name`, `-name=value` as Go's flag package reads them; None if not a flag."""
    if len(arg) < 2 or arg[0] != "-" or arg == "--":
        return None
    body = arg[2:] if arg.startswith("--") else arg[1:]
    if not body or body[0] in "-=":
        return None
    name, sep, value = body.partition("=")
    return name, (value if sep else None)


def auto_approve_value(args: Sequence[str]) -> bool:
    """Whether -auto-approve ends up true; the last occurrence wins, as in Go's flag.

    A value Go cannot parse is taken as approval (fail closed): terraform would
    reject the line anyway.
    """
    approved = False
    for arg in args:
        if arg == "--":
            break
        parsed = flag_name_value(arg)
        if parsed is None or parsed[0] != "auto-approve":
            continue
        value = parsed[1]
        approved = value is None or value in GO_TRUE or value not in GO_FALSE
    return approved


def flag_values(args: Sequence[str], name: str) -> list[str]:
    """Every value of a string flag (`-name=v` or `-name v`), in order."""
    values: list[str] = []
    iterator = iter(range(len(args)))
    for index in iterator:
        if args[index] == "--":
            break
        parsed = flag_name_value(args[index])
        if parsed is None or parsed[0] != name:
            continue
        if parsed[1] is not None:
            values.append(parsed[1])
        elif index + 1 < len(args):
            values.append(args[index + 1])
            next(iterator, None)

    return values


def bool_flag(args: Sequence[str], name: str) -> bool:
    value = False
    for arg in args:
        if arg == "--":
            break
        parsed = flag_name_value(arg)
        if parsed is not None and parsed[0] == name:
            value = parsed[1] is None or parsed[1] in GO_TRUE
    return value


# Flags of plan/apply that take a separate value when written without `=`.
VALUE_FLAGS = frozenset(
    {
        "var",
        "var-file",
        "target",
        "replace",
        "exclude",
        "out",
        "state",
        "state-out",
        "backup",
        "lock-timeout",
        "parallelism",
        "generate-config-out",
    }
)


def positionals(args: Sequence[str]) -> list[str]:
    """Arguments after the flags, as Go's flag package stops at the first non-flag."""
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            return list(args[index + 1 :])
        parsed = flag_name_value(arg)
        if parsed is None:
            return list(args[index:])
        if parsed[1] is None and parsed[0] in VALUE_FLAGS:
            index += 1
        index += 1
    return []


def classify(command: str, command_args: Sequence[str]) -> CommandClass:
    if command == "":
        return CommandClass.HELP
    if command == "plan":
        return CommandClass.PLAN
    if command == "destroy" or (command == "apply" and bool_flag(command_args, "destroy")):
        return CommandClass.DESTROY
    if command == "apply":
        return CommandClass.APPLY
    if command == "init" and (
        bool_flag(command_args, "migrate-state") or bool_flag(command_args, "force-copy")
    ):
        return CommandClass.STATE_CHANGE
    if command in READ_ONLY_COMMANDS:
        return CommandClass.READ_ONLY
    if command in STATE_CHANGE_COMMANDS:
        return CommandClass.STATE_CHANGE
    return CommandClass.UNKNOWN


def parse(typed: Sequence[str], env: Mapping[str, str]) -> Invocation:
    """Read a command line the way terraform will; never raises (see `error`)."""
    typed = tuple(typed)
    try:
        chdir, args = extract_chdir(typed)
        command_before_merge, _ = find_subcommand(args)
        args, global_extra = merge_env_args(
            args, env.get("TF_CLI_ARGS"), command_before_merge, "TF_CLI_ARGS"
        )
        suffix = command_before_merge.replace("-", "_").replace(" ", "_")
        per_command_var = f"TF_CLI_ARGS_{suffix}"
        args, command_extra = merge_env_args(
            args, env.get(per_command_var), command_before_merge, per_command_var
        )
    except CommandLineError as error:
        return Invocation(
            typed,
            typed,
            None,
            "",
            (),
            CommandClass.UNKNOWN,
            False,
            None,
            False,
            None,
            error=str(error),
        )
    if any(arg in VERSION_FLAGS for arg in args):
        args = ["version", *args]
    command, last_word = find_subcommand(args)
    command_args = tuple(args[last_word + 1 :]) if last_word >= 0 else ()
    before_dashes = args[: args.index("--")] if "--" in args else args
    is_help = any(arg in HELP_FLAGS for arg in before_dashes)
    if command == "version":
        command_class = CommandClass.VERSION
    elif is_help or command in ("", "help"):
        command_class = CommandClass.HELP
    else:
        command_class = classify(command, command_args)

    approved = command in AUTO_APPROVE_COMMANDS and auto_approve_value(command_args)
    source = None
    if approved:
        if auto_approve_value(command_extra):
            source = per_command_var
        elif auto_approve_value(global_extra):
            source = "TF_CLI_ARGS"
        else:
            source = "command line"
    plan_file = None
    if command == "apply":
        rest = positionals(command_args)
        plan_file = rest[0] if rest else None
    return Invocation(
        typed=typed,
        args=tuple(args),
        chdir=chdir,
        command=command,
        command_args=command_args,
        command_class=command_class,
        auto_approve=approved,
        auto_approve_source=source,
        destroy=command_class is CommandClass.DESTROY,
        plan_file=plan_file,
        var_files=tuple(flag_values(command_args, "var-file")),
    )
