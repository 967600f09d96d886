"""What a terraform command line means (argv.parse), table-driven, then checked against
the real Terraform for a sample of the rows.

Expected values follow Terraform 1.15: main.go (extractChdirOption, mergeEnvArgs, the
-v rewrite), hashicorp/cli processArgs/Run (subcommand, nested commands, help), Go's
flag package and strconv.ParseBool (-auto-approve), go-shellwords (TF_CLI_ARGS words).
"""

from __future__ import annotations

import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from safeterraform.argv import CommandClass, Invocation, parse, split_words
from tests import tfharness

A = CommandClass.APPLY
D = CommandClass.DESTROY
P = CommandClass.PLAN
R = CommandClass.READ_ONLY
S = CommandClass.STATE_CHANGE
H = CommandClass.HELP
V = CommandClass.VERSION
U = CommandClass.UNKNOWN
CLI = "command line"


@dataclass(frozen=True)
class Row:
    line: str | list[str]  # a string is split like a shell would
    command: str
    command_class: CommandClass
    approved: bool = False
    source: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    chdir: str | None = None
    plan_file: str | None = None
    error: str | None = None  # a substring of the error terraform would print

    def typed(self) -> list[str]:
        return shlex.split(self.line) if isinstance(self.line, str) else self.line


def approved(line: str, source: str = CLI, **kwargs: object) -> Row:
    command = "destroy" if line.startswith("destroy") else "apply"
    kind = D if command == "destroy" or "-destroy" in line.split() else A
    return Row(line, command, kind, True, source, **kwargs)  # type: ignore[arg-type]


def not_approved(line: str, **kwargs: object) -> Row:
    command = "destroy" if line.startswith("destroy") else "apply"
    kind = D if command == "destroy" or "-destroy" in line.split() else A
    return Row(line, command, kind, **kwargs)  # type: ignore[arg-type]


ROWS: dict[str, Row] = {
    # -auto-approve in every spelling Go's flag package accepts as true.
    "apply": not_approved("apply"),
    "apply -auto-approve": approved("apply -auto-approve"),
    "apply --auto-approve": approved("apply --auto-approve"),
    **{
        f"apply -auto-approve={value}": approved(f"apply -auto-approve={value}")
        for value in ("true", "1", "t", "T", "TRUE", "True")
    },
    **{
        f"apply -auto-approve={value}": not_approved(f"apply -auto-approve={value}")
        for value in ("false", "0", "f", "F", "FALSE", "False")
    },
    "last occurrence wins: false": not_approved("apply -auto-approve -auto-approve=false"),
    "last occurrence wins: true": approved("apply -auto-approve=false --auto-approve"),
    "two dashes and digits": approved("apply --auto-approve=0 -auto-approve=1"),
    "destroy": not_approved("destroy"),
    "destroy -auto-approve": approved("destroy -auto-approve"),
    "destroy --auto-approve=T": approved("destroy --auto-approve=T"),
    "apply -destroy -auto-approve": approved("apply -destroy -auto-approve"),
    "apply -destroy=false is apply": Row("apply -destroy=false", "apply", A),
    # Values terraform rejects ("invalid boolean value"): counted as approval, fail closed.
    "apply -auto-approve=yes": approved("apply -auto-approve=yes"),
    "apply -auto-approve=": approved("apply -auto-approve="),
    # Go's flag parser takes `--` as -backup's value, so -auto-approve is still a flag.
    "value flag swallows --": approved("apply -backup -- -auto-approve"),
    "after -- is the PLAN argument": Row(
        "apply -- -auto-approve", "apply", A, plan_file="-auto-approve"
    ),
    # Flags after PLAN: terraform rejects the line (too many arguments); refused anyway.
    "flag after the plan file": approved("apply out.tfplan -auto-approve", plan_file="out.tfplan"),
    "flags before the subcommand": approved("-input=false apply -auto-approve"),
    # Looks dangerous, is not: help and version never run apply.
    "apply -help": Row("apply -help", "apply", H),
    "apply -h": Row("apply -h", "apply", H),
    "apply --help -auto-approve": Row("apply --help -auto-approve", "apply", H),
    "help after -- is an argument": Row("apply -- -help", "apply", A, plan_file="-help"),
    "destroy -auto-approve -help": Row("destroy -auto-approve -help", "destroy", H),
    "apply -v": Row("apply -v", "version", V),
    "apply -auto-approve -version": Row("apply -auto-approve -version", "version", V),
    "--version": Row("--version", "version", V),
    "-v -help is version's help": Row("-v -help", "version", H),
    "plan -auto-approve is plan": Row("plan -auto-approve", "plan", P),
    "no arguments": Row([], "", H),
    "-help": Row("-help", "", H),
    "help is no terraform command": Row("help", "help", H),
    # -chdir= only before the subcommand, only with `=`.
    "-chdir before apply": approved("-chdir=envs/prod apply -auto-approve", chdir="envs/prod"),
    "-chdir DIR is an error": Row(
        "-chdir envs/prod apply", "", U, error="Invalid -chdir option: must include an equals"
    ),
    "-chdir= is an error": Row("-chdir= plan", "", U, error="Invalid -chdir option"),
    "-chdir after the subcommand is apply's": Row("apply -chdir=envs/prod", "apply", A),
    "-chdir twice: last wins": Row("-chdir=a -chdir=b plan", "plan", P, chdir="b"),
    "--chdir is not -chdir": Row("--chdir=x plan", "plan", P),
    # Subcommands, nested and not, as hashicorp/cli finds them.
    "plan": Row("plan -out=tf.plan", "plan", P),
    "state rm": Row("state rm terraform_data.x", "state rm", S),
    "state list": Row("state list", "state list", R),
    "state show": Row("state show terraform_data.x", "state show", R),
    "state replace-provider": Row("state replace-provider a b", "state replace-provider", S),
    "state alone": Row("state", "state", R),
    "state + unknown word": Row("state migrate", "state", U),
    "workspace delete": Row("workspace delete prod", "workspace delete", S),
    "workspace select": Row("workspace select prod", "workspace select", R),
    "env delete": Row("env delete prod", "env delete", S),
    "init": Row("init -upgrade", "init", R),
    "init -migrate-state": Row("init -migrate-state", "init", S),
    "init -force-copy": Row("init -force-copy", "init", S),
    "taint": Row("taint terraform_data.x", "taint", S),
    "force-unlock": Row("force-unlock 1234", "force-unlock", S),
    "import": Row("import terraform_data.x id", "import", S),
    "fmt": Row("fmt -recursive", "fmt", R),
    "output": Row("output -json", "output", R),
    "unknown command": Row("frobnicate", "frobnicate", U),
    "first word with a space: no subcommand": Row(["apply now", "-auto-approve"], "", H),
    "longest prefix found later in the words": Row("applyx apply", "apply", A, plan_file="apply"),
    # The PLAN argument and var files.
    "apply PLAN": Row("apply tf.plan", "apply", A, plan_file="tf.plan"),
    "apply flags then PLAN": Row(
        "apply -var-file prod.tfvars -input=false -no-color tf.plan",
        "apply",
        A,
        plan_file="tf.plan",
    ),
    # TF_CLI_ARGS and TF_CLI_ARGS_<subcommand>.
    "TF_CLI_ARGS=-auto-approve": approved(
        "apply", "TF_CLI_ARGS", env={"TF_CLI_ARGS": "-auto-approve"}
    ),
    "TF_CLI_ARGS_apply=-auto-approve": approved(
        "apply", "TF_CLI_ARGS_apply", env={"TF_CLI_ARGS_apply": "-auto-approve"}
    ),
    "TF_CLI_ARGS_destroy=--auto-approve": approved(
        "destroy", "TF_CLI_ARGS_destroy", env={"TF_CLI_ARGS_destroy": "--auto-approve"}
    ),
    "TF_CLI_ARGS_apply on apply -destroy": approved(
        "apply -destroy", "TF_CLI_ARGS_apply", env={"TF_CLI_ARGS_apply": "-auto-approve=1"}
    ),
    "TF_CLI_ARGS_apply does not reach plan": Row(
        "plan", "plan", P, env={"TF_CLI_ARGS_apply": "-auto-approve"}
    ),
    "TF_CLI_ARGS_apply does not reach destroy": not_approved(
        "destroy", env={"TF_CLI_ARGS_apply": "-auto-approve"}
    ),
    "TF_CLI_ARGS adds the subcommand": Row([], "apply", A, env={"TF_CLI_ARGS": "apply"}),
    "TF_CLI_ARGS adds apply -auto-approve": Row(
        [], "apply", A, True, "TF_CLI_ARGS", env={"TF_CLI_ARGS": "apply -auto-approve"}
    ),
    "TF_CLI_ARGS_ is the var of no subcommand": Row(
        [], "apply", A, True, "TF_CLI_ARGS_", env={"TF_CLI_ARGS_": "apply -auto-approve"}
    ),
    "per-command var keyed before the merge": Row(
        [],
        "apply",
        A,
        env={"TF_CLI_ARGS": "apply", "TF_CLI_ARGS_apply": "-auto-approve"},
    ),
    "TF_CLI_ARGS completes a nested command": Row(
        "state", "state rm", S, env={"TF_CLI_ARGS": "rm terraform_data.x"}
    ),
    "TF_CLI_ARGS_workspace completes a nested command": Row(
        "workspace", "workspace delete", S, env={"TF_CLI_ARGS_workspace": "delete prod"}
    ),
    "TF_CLI_ARGS_state_rm is not TF_CLI_ARGS_state": Row(
        "state", "state", R, env={"TF_CLI_ARGS_state_rm": "terraform_data.x"}
    ),
    "TF_CLI_ARGS_force_unlock": Row(
        "force-unlock", "force-unlock", S, env={"TF_CLI_ARGS_force_unlock": "1234"}
    ),
    "TF_CLI_ARGS_apply adds a plan file": Row(
        "apply", "apply", A, env={"TF_CLI_ARGS_apply": "tf.plan"}, plan_file="tf.plan"
    ),
    "typed false comes after TF_CLI_ARGS": not_approved(
        "apply -auto-approve=false", env={"TF_CLI_ARGS": "-auto-approve"}
    ),
    "TF_CLI_ARGS comes after TF_CLI_ARGS_apply: false": not_approved(
        "apply", env={"TF_CLI_ARGS": "-auto-approve=false", "TF_CLI_ARGS_apply": "-auto-approve"}
    ),
    "TF_CLI_ARGS comes after TF_CLI_ARGS_apply: true": approved(
        "apply",
        "TF_CLI_ARGS",
        env={"TF_CLI_ARGS": "-auto-approve", "TF_CLI_ARGS_apply": "-auto-approve=false"},
    ),
    "typed approval over an env false": approved(
        "apply -auto-approve", env={"TF_CLI_ARGS_apply": "-auto-approve=false"}
    ),
    "TF_CLI_ARGS=-v": Row("apply", "version", V, env={"TF_CLI_ARGS": "-v"}),
    "TF_CLI_ARGS=-help": Row("apply", "apply", H, env={"TF_CLI_ARGS": "-help"}),
    "TF_CLI_ARGS with -chdir after apply": Row(
        "apply", "apply", A, env={"TF_CLI_ARGS": "-chdir=prod"}
    ),
    "-chdir and TF_CLI_ARGS": approved(
        "-chdir=envs/prod apply",
        "TF_CLI_ARGS",
        env={"TF_CLI_ARGS": "-auto-approve"},
        chdir="envs/prod",
    ),
    "empty TF_CLI_ARGS": not_approved("apply", env={"TF_CLI_ARGS": ""}),
    # go-shellwords, not POSIX sh.
    "unquoted ; ends the words": approved(
        "apply", "TF_CLI_ARGS", env={"TF_CLI_ARGS": "-auto-approve;"}
    ),
    "nothing after ; is read, not even a bad quote": approved(
        "apply", "TF_CLI_ARGS", env={"TF_CLI_ARGS": "-auto-approve; echo 'x"}
    ),
    "words after | are ignored": not_approved(
        "apply", env={"TF_CLI_ARGS": "-lock=false | -auto-approve"}
    ),
    "backslash escapes inside double quotes": approved(
        "apply", "TF_CLI_ARGS", env={"TF_CLI_ARGS": '"-auto\\-approve"'}
    ),
    "quoted approval": approved(
        "apply", "TF_CLI_ARGS_apply", env={"TF_CLI_ARGS_apply": "'-auto-approve=true'"}
    ),
    "unclosed quote is terraform's error": Row(
        "apply",
        "",
        U,
        env={"TF_CLI_ARGS": "'-auto-approve"},
        error="Error parsing extra CLI args from TF_CLI_ARGS: invalid command line string",
    ),
    "unquoted ( is terraform's error": Row(
        "apply",
        "",
        U,
        env={"TF_CLI_ARGS_apply": "(-auto-approve)"},
        error="Error parsing extra CLI args from TF_CLI_ARGS_apply",
    ),
}


def test_table_is_large() -> None:
    assert len(ROWS) >= 40


@pytest.mark.parametrize("name", list(ROWS))
def test_parse(name: str) -> None:
    row = ROWS[name]
    invocation = parse(row.typed(), row.env)
    assert (
        invocation.command,
        invocation.command_class,
        invocation.auto_approve,
        invocation.auto_approve_source,
        invocation.chdir,
        invocation.plan_file,
    ) == (row.command, row.command_class, row.approved, row.source, row.chdir, row.plan_file)
    if row.error is None:
        assert invocation.error is None
    else:
        assert invocation.error is not None and row.error in invocation.error
        assert "\n" not in invocation.error


def test_env_args_go_right_after_the_subcommand_word() -> None:
    invocation = parse(
        ["-chdir=x", "state", "rm", "a.b"],
        {"TF_CLI_ARGS": "-lock=false", "TF_CLI_ARGS_state_rm": "-dry-run"},
    )
    assert invocation.args == ("state", "rm", "-dry-run", "-lock=false", "a.b")
    assert invocation.command_args == ("-dry-run", "-lock=false", "a.b")


def test_var_files_from_both_spellings_and_env() -> None:
    invocation = parse(
        ["apply", "-var-file=eu-prod.tfvars", "-var-file", "common.tfvars"],
        {"TF_CLI_ARGS_apply": "-var-file=secrets.tfvars"},
    )
    assert invocation.var_files == ("secrets.tfvars", "eu-prod.tfvars", "common.tfvars")


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("a  b\tc\nd", ["a", "b", "c", "d"]),
        ("'a b' \"c d\"", ["a b", "c d"]),
        ('"" x', ["", "x"]),
        ("a\\ b", ["a b"]),
        ('"a\\"b\\x"', ['a"bx']),
        ("'a\\b'", ["a\\b"]),
        ("x`a b`y", ["x`a b`y"]),
        ("$(a b) c", ["$(a b)", "c"]),
        ("a&b c", ["a"]),
        ("a 2>err b", ["a"]),
        ("a b>err", ["a", "b"]),
        ("-x=1 # not a comment", ["-x=1", "#", "not", "a", "comment"]),
    ],
)
def test_split_words_like_go_shellwords(value: str, words: list[str]) -> None:
    assert split_words(value) == words


# -- the same rows, against the real terraform ------------------------------------------

CONFIG = """
variable "v" {
  default = "initial"
}

resource "terraform_data" "x" {
  input = var.v
}
"""

# Rows the real binary can show the meaning of, in a throwaway non-production directory.
REAL_ROWS = [
    "apply",
    "apply -auto-approve",
    "apply --auto-approve",
    "apply -auto-approve=T",
    "apply -auto-approve=false",
    "last occurrence wins: false",
    "value flag swallows --",
    "destroy -auto-approve",
    "destroy",
    "apply -destroy -auto-approve",
    "apply -help",
    "destroy -auto-approve -help",
    "apply -v",
    "-v -help is version's help",
    "-chdir DIR is an error",
    "TF_CLI_ARGS=-auto-approve",
    "TF_CLI_ARGS adds the subcommand",
    "TF_CLI_ARGS adds apply -auto-approve",
    "TF_CLI_ARGS_ is the var of no subcommand",
    "per-command var keyed before the merge",
    "TF_CLI_ARGS comes after TF_CLI_ARGS_apply: false",
    "TF_CLI_ARGS comes after TF_CLI_ARGS_apply: true",
    "TF_CLI_ARGS=-v",
    "TF_CLI_ARGS=-help",
    "unquoted ; ends the words",
    "nothing after ; is read, not even a bad quote",
    "words after | are ignored",
    "backslash escapes inside double quotes",
    "unclosed quote is terraform's error",
    "first word with a space: no subcommand",
]


def assert_terraform_agrees(
    invocation: Invocation, result: subprocess.CompletedProcess[str]
) -> None:
    """What terraform did must be what `invocation` says the line means."""
    output = result.stdout + result.stderr
    if invocation.error is not None:
        assert result.returncode == 1
        assert invocation.error in result.stderr
    elif invocation.command_class is V:
        assert result.returncode == 0
        assert result.stdout.startswith("Terraform v1.")
    elif invocation.command_class is H:
        assert "Usage: terraform" in output
        assert "Apply complete" not in output and "Destroy complete" not in output
        if invocation.command:
            assert f"Usage: terraform [global options] {invocation.command} " in output
    elif invocation.auto_approve:
        assert result.returncode == 0, output
        assert "complete! Resources:" in output
        assert ("1 destroyed" in output) is invocation.destroy
        assert "Only 'yes' will be accepted" not in output
    else:
        assert invocation.command_class in (A, D)
        assert "Only 'yes' will be accepted" in output
        assert result.returncode == 1


@pytest.mark.parametrize("name", REAL_ROWS)
def test_real_terraform_agrees(
    name: str, terraform_bin: Path, env: dict[str, str], workdir: Path
) -> None:
    row = ROWS[name]
    (workdir / "main.tf").write_text(CONFIG)
    for setup in (["init", "-input=false"], ["apply", "-auto-approve", "-input=false"]):
        done = tfharness.run(terraform_bin, setup, workdir, env)
        assert done.returncode == 0, done.stderr
    invocation = parse(row.typed(), row.env)
    # A changed variable: every apply and destroy has something to approve.
    run_env = {**env, **row.env, "TF_VAR_v": "changed"}
    result = tfharness.run(terraform_bin, row.typed(), workdir, run_env, input="")
    assert_terraform_agrees(invocation, result)
    state = (workdir / "terraform.tfstate").read_text()
    applied = invocation.auto_approve and invocation.error is None
    assert ('"changed"' in state) is (applied and not invocation.destroy)


def test_real_terraform_takes_a_subcommand_from_tf_cli_args(
    terraform_bin: Path, env: dict[str, str], workdir: Path
) -> None:
    (workdir / "main.tf").write_text(CONFIG)
    for setup in (["init", "-input=false"], ["apply", "-auto-approve", "-input=false"]):
        assert tfharness.run(terraform_bin, setup, workdir, env).returncode == 0
    line: list[str] = ["state"]
    extra = {"TF_CLI_ARGS": "list"}
    invocation = parse(line, extra)
    assert (invocation.command, invocation.command_class) == ("state list", R)
    result = tfharness.run(terraform_bin, line, workdir, {**env, **extra})
    assert result.returncode == 0
    assert result.stdout.split() == ["terraform_data.x"]
