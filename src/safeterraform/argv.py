"""What a terraform command line means, following Terraform's own rules (pure).

The order of steps copies terraform's main.go (realMain): extract `-chdir=` from the
flags before the subcommand, find the subcommand (hashicorp/cli, nested commands such as
`state rm`), merge TF_CLI_ARGS then TF_CLI_ARGS_<subcommand> right after the subcommand
word (both keyed on the subcommand found *before* any merge), then rewrite to `version`
when -v/-version/--version appears anywhere. -h/-help/--help anywhere before `--` is help.
https://github.com/hashicorp/terraform/blob/main/main.go (mergeEnvArgs, extractChdirOption)

The shim imports this on every call, so it imports nothing at run time: no enum,
dataclasses, re or typing (together about 30 ms of start-up; bench/bench_passthrough.py).
"""

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence


class CommandClass:
    """The classes of docs/design.md#command-classes, as plain strings."""

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
# Every key of Terraform 1.15's Commands map (commands.go); hashicorp/cli matches the
# subcommand against these by longest prefix.
ALL_COMMANDS = (
    READ_ONLY_COMMANDS
    | STATE_CHANGE_COMMANDS
    | {
        "plan",
        "apply",
        "destroy",
        "push",
        "rpcapi",
        "stacks",
    }
)
NESTED_COMMANDS = frozenset(c for c in ALL_COMMANDS if " " in c)
# Commands that only group nested ones: followed by a word that is none of theirs
# (an experimental `state migrate`, a newer terraform's command) they are unknown.
GROUP_COMMANDS = frozenset(c.split(" ", 1)[0] for c in NESTED_COMMANDS) - {"providers"}
HELP_FLAGS = frozenset({"-h", "-help", "--help"})
VERSION_FLAGS = frozenset({"-v", "-version", "--version"})
# Go's strconv.ParseBool, which the flag package uses for boolean flags.
GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
GO_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


class CommandLineError(ValueError):
    """A command line terraform itself would reject before running anything."""


class Invocation:
    """One terraform command line, as terraform will understand it (read-only)."""

    __slots__ = (
        "args",
        "auto_approve",
        "auto_approve_source",
        "chdir",
        "command",
        "command_args",
        "command_class",
        "destroy",
        "error",
        "plan_file",
        "states",
        "typed",
        "var_files",
    )

    def __init__(
        self,
        typed: tuple[str, ...],  # the arguments as typed, after the program name
        args: tuple[str, ...],  # after -chdir extraction, env merge and the version rewrite
        chdir: str | None,
        command: str,  # "apply", "state rm", "" when there is none
        command_args: tuple[str, ...],
        command_class: str,  # a CommandClass value
        auto_approve: bool,  # an auto-approve flag that terraform would take as true
        auto_approve_source: str | None,  # "command line", "TF_CLI_ARGS", "TF_CLI_ARGS_apply"
        destroy: bool,  # destroy, or apply/plan -destroy
        plan_file: str | None,  # apply's positional PLAN argument
        var_files: tuple[str, ...] = (),
        error: str | None = None,  # terraform would refuse this line (e.g. `-chdir DIR`)
        states: tuple[tuple[str, str], ...] = (),  # touched_states(): (kind, value)
    ) -> None:
        self.typed = typed
        self.args = args
        self.chdir = chdir
        self.command = command
        self.command_args = command_args
        self.command_class = command_class
        self.auto_approve = auto_approve
        self.auto_approve_source = auto_approve_source
        self.destroy = destroy
        self.plan_file = plan_file
        self.var_files = var_files
        self.error = error
        self.states = states

    def _fields(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Invocation) and self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"Invocation({fields})"


def with_states(
    invocation: Invocation, states: "Sequence[tuple[str, str]]", command_class: str | None = None
) -> Invocation:
    """The invocation with more states it touches (found outside the command line: the
    backend a migrating `init` writes into, the one a saved plan was made with), and, for
    such an `init`, guarded like `init -migrate-state`."""
    fields = {name: getattr(invocation, name) for name in Invocation.__slots__}
    fields["command_class"] = command_class or invocation.command_class
    fields["states"] = (*invocation.states, *states)
    return Invocation(**fields)


def extract_chdir(args: "Sequence[str]") -> tuple[str | None, list[str]]:
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


def find_subcommand(args: "Sequence[str]") -> tuple[str, int]:
    """The subcommand hashicorp/cli would run and the index of its last word (-1: none).

    As cli.go processArgs: the first non-empty arg not starting with `-` (before `--`);
    an arg with a space there means no subcommand at all. With nested commands, the
    following plain words are joined and the longest command name that is a prefix of
    them wins if the regexp `name( |$)` finds it anywhere in the joined words.
    https://github.com/hashicorp/cli/blob/main/cli.go (processArgs)
    """
    for index, arg in enumerate(args):
        if arg == "--":
            break
        if arg == "" or arg.startswith("-"):
            continue
        if " " in arg:
            return "", -1
        end = index
        while end < len(args) and args[end] and " " not in args[end] and args[end][0] != "-":
            end += 1
        search_key = " ".join(args[index:end])
        prefixes = [name for name in ALL_COMMANDS if search_key.startswith(name)]
        if prefixes:
            longest = max(prefixes, key=len)
            # hashicorp/cli re-verifies with the regexp `longest( |$)`, searched anywhere
            if f"{longest} " in f"{search_key} ":
                return longest, index + longest.count(" ")
        return arg, index
    return "", -1


class _Words:
    """The state of a go-shellwords scan: quotes open, the word so far, the words done."""

    def __init__(self) -> None:
        self.words: list[str] = []
        self.word = ""
        self.started = False  # a word is in progress (possibly empty, as in "")
        self.single = self.double = self.backquote = self.dollar = False

    def quoted(self) -> bool:
        return self.single or self.double or self.backquote or self.dollar

    def end_word(self) -> None:
        if self.started:
            self.words.append(self.word)
        self.word, self.started = "", False


def split_words(value: str) -> list[str]:
    """Split TF_CLI_ARGS as terraform does: go-shellwords without env or backtick expansion.

    Not POSIX (shlex): a backslash escapes any character outside single quotes, also
    inside double quotes; an unquoted `;`, `&`, `|`, `<` or `>` ends the line and the
    rest is ignored (`-auto-approve;` is `-auto-approve`); an unquoted `(` without `$`
    and an unclosed quote are errors. https://github.com/mattn/go-shellwords (v1.0.12,
    Parser.Parse), called from terraform's main.go mergeEnvArgs.
    """
    state = _Words()
    escaped = False
    for char in value:
        if escaped:
            state.word += char
            state.started, escaped = True, False
            continue
        if char == "\\" and not state.single:
            escaped = True
            continue
        if char == "\\":
            state.word += char
            continue
        if char in " \t\r\n":
            if state.quoted():
                state.word += char
            else:
                state.end_word()
            continue
        if char == '"' and not state.single and not state.dollar:
            state.started = state.started or state.double
            state.double = not state.double
            continue
        if char == "'" and not state.double and not state.dollar:
            state.started = state.started or state.single
            state.single = not state.single
            continue
        if char == "`" and not (state.single or state.double or state.dollar):
            state.backquote = not state.backquote
        elif char == ")" and not (state.single or state.double or state.backquote):
            state.dollar = not state.dollar
        elif char == "(" and not (state.single or state.double or state.backquote):
            if state.dollar or not state.word.endswith("$"):
                raise CommandLineError("invalid command line string")
            state.dollar = True
        elif char in ";&|<>" and not state.quoted():
            # A redirection such as `2>` drops the file-descriptor word.
            if char == ">" and state.word[:1].isdigit():
                state.word, state.started = "", False
            break
        state.word += char
        state.started = True
    else:
        if escaped or state.quoted():
            raise CommandLineError("invalid command line string")
    state.end_word()
    return state.words


def merge_env_args(
    args: list[str], env_value: str | None, command: str, var_name: str
) -> tuple[list[str], list[str]]:
    """Insert the env var's words right after the first arg equal to the subcommand's
    last word, or in front when there is none (as main.go mergeEnvArgs does)."""
    if not env_value:
        return args, []
    try:
        extra = split_words(env_value)
    except CommandLineError as error:
        raise CommandLineError(f"Error parsing extra CLI args from {var_name}: {error}") from None
    search = command.rsplit(" ", 1)[-1]
    # Go compares every arg with `search`, also an empty one when there is no subcommand.
    insert_at = args.index(search) + 1 if search in args else 0
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


def auto_approve_value(args: "Sequence[str]") -> bool:
    """Whether -auto-approve ends up true, the last occurrence winning as in Go's flag.

    Two readings, and approval if either approves (fail closed): Go's own (the
    `-no-color`/`-compact-warnings` words removed first as arguments.ParseView does, a
    value flag's next word is its value even when it is `--`, so `-backup --
    -auto-approve` approves) and a plain scan of every `-auto-approve` word up to `--`.
    A value Go cannot parse counts as approval: terraform rejects the line anyway.
    """
    return _go_flag_approval(args) or _scanned_approval(args)


def _approval(value: str | None) -> bool:
    return value is None or value in GO_TRUE or value not in GO_FALSE


def _scanned_approval(args: "Sequence[str]") -> bool:
    approved = False
    for arg in args:
        if arg == "--":
            break
        parsed = flag_name_value(arg)
        if parsed is not None and parsed[0] == "auto-approve":
            approved = _approval(parsed[1])
    return approved


def _go_flag_approval(args: "Sequence[str]") -> bool:
    approved = False
    words = [arg for arg in args if arg not in VIEW_FLAGS]
    index = 0
    while index < len(words):
        word = words[index]
        index += 1
        if word == "--":
            break
        parsed = flag_name_value(word)
        if parsed is None:
            continue  # Go stops here; words after the PLAN argument are an error
        name, value = parsed
        if name == "auto-approve":
            approved = _approval(value)
        elif value is None and name in APPLY_VALUE_FLAGS:
            index += 1
    return approved


def flag_values(args: "Sequence[str]", name: str) -> list[str]:
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


def bool_flag(args: "Sequence[str]", name: str) -> bool:
    value = False
    for arg in args:
        if arg == "--":
            break
        parsed = flag_name_value(arg)
        if parsed is not None and parsed[0] == name:
            value = parsed[1] is None or parsed[1] in GO_TRUE
    return value


# The one flag table: every flag of the commands the shim guards that matters to it, whether
# it takes the next word as its value when written without `=`, and where it goes when
# apply/destroy is split into `plan -out` + `apply PLANFILE` ("plan", "apply", "both",
# "drop"; None: not an apply/destroy flag). Terraform 1.15 internal/command/arguments
# (apply.go, plan.go, extended.go, state commands, init.go, test.go).
FLAGS: "dict[str, tuple[bool, str | None]]" = {
    "var": (True, "plan"),
    "var-file": (True, "plan"),
    "target": (True, "plan"),
    "replace": (True, "plan"),
    "exclude": (True, "plan"),
    "invoke": (True, "plan"),
    "destroy": (False, "plan"),
    "refresh-only": (False, "plan"),
    "refresh": (False, "plan"),
    "lock-timeout": (True, "both"),
    "parallelism": (True, "both"),
    "state": (True, "both"),
    "lock": (False, "both"),
    "input": (False, "both"),
    "no-color": (False, "both"),
    "compact-warnings": (False, "both"),
    "json": (False, "both"),
    "backup": (True, "apply"),
    "state-out": (True, "apply"),
    "backup-out": (True, None),
    "auto-approve": (False, "drop"),  # only ever false by then: true is refused
    "out": (True, None),
    "generate-config-out": (True, None),
    "config": (True, None),
    "provider": (True, None),
    "filter": (True, None),
    "test-directory": (True, None),
    "backend-config": (True, None),
    "plugin-dir": (True, None),
    "from-module": (True, None),
    "json-into": (True, None),
    "junit-xml": (True, None),
    "run-parallelism": (True, None),
    "id": (True, None),
}
VALUE_FLAGS = frozenset(name for name, (takes_value, _) in FLAGS.items() if takes_value)
# Of those, the ones apply/destroy take (Go's reading of an apply line for -auto-approve).
APPLY_VALUE_FLAGS = frozenset(
    name for name, (takes_value, placement) in FLAGS.items() if takes_value and placement
)
# Removed from any position before flag parsing (arguments.ParseView).
VIEW_FLAGS = frozenset({"-no-color", "-compact-warnings"})
# Flags naming a state file the command reads or writes (legacy local-state flags).
STATE_FILE_FLAGS = ("state", "state-out", "backup", "backup-out")
# Flags naming another file the command writes (a plan, a JUnit report, JSON output).
WRITTEN_FILE_FLAGS = ("out", "junit-xml", "json-into")


def split_apply_flags(args: "Sequence[str]") -> tuple[list[str], list[str]]:
    """(flags for `plan`, flags for `apply PLANFILE`) from apply/destroy's own flags.

    Raises CommandLineError for a positional argument (there is no plan file here)."""
    plan_flags: list[str] = []
    apply_flags: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        parsed = flag_name_value(arg)
        if parsed is None:
            raise CommandLineError(f"unexpected argument {arg!r}; give a plan file or flags")
        name, value = parsed
        takes_value, placement = FLAGS.get(name, (False, "plan"))
        token = [arg]
        if takes_value and value is None and index + 1 < len(args):
            token.append(args[index + 1])
            index += 1
        index += 1
        if placement == "drop":
            continue
        if placement in ("both", "apply"):
            apply_flags += token
        if placement != "apply":  # plan flags, and anything unknown: terraform plan judges it
            plan_flags += token
    return plan_flags, apply_flags


def written_files(command_args: "Sequence[str]") -> list[tuple[str, str]]:
    """(flag, path) of every file the command line has terraform write."""
    return [
        (name, value)
        for name in (*WRITTEN_FILE_FLAGS, *STATE_FILE_FLAGS[1:])
        for value in flag_values(command_args, name)
        if value and value != "-"
    ]


def touched_states(command: str, command_args: "Sequence[str]") -> tuple[tuple[str, str], ...]:
    """The states a command line names besides the current workspace
    (docs/design.md#command-classes): state files, and every other file it writes (a
    "written file" counts as a state when it is one, README "What is enforced")."""
    states = [
        ("state file", value)
        for name in STATE_FILE_FLAGS
        for value in flag_values(command_args, name)
        if value and value != "-"
    ]
    states += [
        ("written file", value)
        for name in WRITTEN_FILE_FLAGS
        for value in flag_values(command_args, name)
        if value and value != "-"
    ]
    if command in ("workspace delete", "env delete"):
        rest = positionals(command_args)
        if rest:
            states.append(("workspace", rest[0]))
    return tuple(states)


def positionals(args: "Sequence[str]") -> list[str]:
    """Arguments after the flags, as Go's flag package stops at the first non-flag."""
    words = [arg for arg in args if arg not in VIEW_FLAGS]
    index = 0
    while index < len(words):
        word = words[index]
        if word == "--":
            return words[index + 1 :]
        parsed = flag_name_value(word)
        if parsed is None:
            return words[index:]
        if parsed[1] is None and parsed[0] in VALUE_FLAGS:
            index += 1
        index += 1
    return []


def classify(command: str, command_args: "Sequence[str]") -> str:
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
    if command in GROUP_COMMANDS and positionals(command_args)[:1]:
        return CommandClass.UNKNOWN
    if command in READ_ONLY_COMMANDS:
        return CommandClass.READ_ONLY
    if command in STATE_CHANGE_COMMANDS:
        return CommandClass.STATE_CHANGE
    return CommandClass.UNKNOWN


def parse(typed: "Sequence[str]", env: "Mapping[str, str]") -> Invocation:
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
    # cli.go Run: help for the command wins over running it, `version` included.
    if is_help or command in ("", "help"):
        command_class = CommandClass.HELP
    elif command == "version":
        command_class = CommandClass.VERSION
    else:
        command_class = classify(command, command_args)

    # Help and version lines never reach apply's flag parsing: nothing is approved.
    approved = command_class in (CommandClass.APPLY, CommandClass.DESTROY) and (
        auto_approve_value(command_args)
    )
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
        destroy=command_class == CommandClass.DESTROY,
        plan_file=plan_file,
        var_files=tuple(flag_values(command_args, "var-file")),
        states=touched_states(command, command_args),
    )
