"""`safeterraform log` as a real process over real audit files."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from safeterraform import audit
from tests import tfharness
from tests.conftest import Runner
from tests.test_guard import incident, incident_template

__all__ = ["incident", "incident_template"]

SAFETERRAFORM = str(Path(sys.executable).parent / "safeterraform")
START = datetime(2025, 1, 31, 9, 0, 0, tzinfo=UTC)


@pytest.fixture()
def log_env(home: Path, tmp_path: Path) -> dict[str, str]:
    environment = tfharness.clean_env(home)
    environment["COLUMNS"] = "250"
    return environment


@pytest.fixture()
def log_path(home: Path) -> Path:
    return home / ".local" / "state" / "safeterraform" / "audit.jsonl"


def write(path: Path, *records: dict[str, Any]) -> None:
    for minute, fields in enumerate(records):
        values: dict[str, Any] = {
            "now": START + timedelta(minutes=minute),
            "user": "alice",
            "host": "bastion",
            "cwd": "/srv/infra",
            "workspace": "prod",
            "argv": ["apply"],
            "verdict": "refused",
        }
        values.update(fields)
        audit.append(str(path), audit.make_record(**values))


def safeterraform_log(
    env: dict[str, str], cwd: Path, *args: str, full: bool = True
) -> subprocess.CompletedProcess[str]:
    """`safeterraform log ARGS`; `full`: the table (`--full`) unless --json is asked for."""
    extra = ["--full"] if full and "--json" not in args else []
    return subprocess.run(
        [SAFETERRAFORM, "log", *extra, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


INCIDENT: list[dict[str, Any]] = [
    {"argv": ["apply", "-auto-approve"], "verdict": "refused", "exit_code": 3},
    {
        "argv": ["apply"],
        "verdict": "applied",
        "affected_nodes": ["pearl"],
        "typed_nodes": ["pearl"],
        "exit_code": 0,
    },
    {"workspace": "staging", "argv": ["plan"], "verdict": "passed", "user": "bob"},
    {
        "argv": ["destroy"],
        "verdict": "break-glass",
        "affected_nodes": ["powder", "poison", "phoebe"],
        "break_glass_reason": "INC-4411 cluster already lost",
    },
    {
        "argv": ["destroy"],
        "verdict": "applied",
        "affected_nodes": ["powder", "poison", "phoebe"],
        "break_glass_reason": "INC-4411 cluster already lost",
        "exit_code": 0,
    },
]


def test_missing_log_is_a_friendly_line(
    log_env: dict[str, str], tmp_path: Path, log_path: Path
) -> None:
    result = safeterraform_log(log_env, tmp_path)
    assert result.returncode == 0
    assert result.stdout.strip() == f"No audit log yet at {log_path}: nothing guarded has run."
    assert result.stderr == ""


def test_table_shows_every_record(log_env: dict[str, str], tmp_path: Path, log_path: Path) -> None:
    write(log_path, *INCIDENT)
    result = safeterraform_log(log_env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    out = result.stdout
    for expected in (
        "2025-01-31 09:00:00Z",
        "terraform apply -auto-approve",
        "refused",
        "applied",
        "pearl",
        "bob",
        "staging",
        "break-glass",
        "INC-4411 cluster already lost",
        "powder, poison, phoebe",
    ):
        assert expected in out
    rows = [line for line in out.splitlines() if "2025-01-31" in line]
    assert len(rows) == 5
    assert "apply -auto-approve" in rows[0] and rows[0].rstrip().endswith(" 3")
    assert "destroy" in rows[3] and "break-glass" in rows[3]
    assert rows[3].rstrip().endswith(" 0")  # the exit code of the run it allowed


def test_corrupt_and_truncated_lines_are_reported_and_the_rest_shown(
    log_env: dict[str, str], tmp_path: Path, log_path: Path
) -> None:
    write(log_path, *INCIDENT[:2])
    with log_path.open("ab") as handle:
        handle.write(b"}}} not a record {{{\n")
    write_after = audit.make_record(
        now=START, user="carol", host="h", cwd="/", workspace="prod", argv=["plan"],
        verdict="passed",
    )  # fmt: skip
    with log_path.open("ab") as handle:
        handle.write(write_after.to_json().encode() + b"\n")
        handle.write(write_after.to_json().encode()[:30])
    result = safeterraform_log(log_env, tmp_path)
    assert result.returncode == 0
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        f"safeterraform: warning: audit log {log_path}: line 3 is corrupt; skipped",
        f"safeterraform: warning: audit log {log_path}: line 5 is truncated "
        "(the last write did not finish); skipped",
    ]
    rows = [line for line in result.stdout.splitlines() if "2025-01-31" in line]
    assert len(rows) == 3
    assert "carol" in rows[2]


def test_filters(log_env: dict[str, str], tmp_path: Path, log_path: Path) -> None:
    write(log_path, *INCIDENT)

    def rows(*args: str) -> list[str]:
        result = safeterraform_log(log_env, tmp_path, *args)
        assert result.returncode == 0, result.stderr
        return [line for line in result.stdout.splitlines() if "2025-01-31" in line]

    staging = rows("--workspace", "staging")
    assert len(staging) == 1 and "bob" in staging[0]
    assert len(rows("--workspace", "prod")) == 4
    applied = rows("--verdict", "applied")
    assert len(applied) == 2 and "pearl" in applied[0] and "phoebe" in applied[1]
    last_two = rows("--last", "2")
    assert len(last_two) == 2
    assert "destroy" in last_two[0] and "destroy" in last_two[1]
    last_prod = rows("--workspace", "prod", "--last", "1")
    assert len(last_prod) == 1 and "applied" in last_prod[0]
    break_glass = rows("--verdict", "break-glass")
    assert len(break_glass) == 1 and break_glass[0].rstrip().endswith(" 0")
    nothing = safeterraform_log(log_env, tmp_path, "--verdict", "confirmed")
    assert nothing.returncode == 0
    assert nothing.stdout.strip() == f"No records in {log_path} match."


def test_json_lines_are_the_records(
    log_env: dict[str, str], tmp_path: Path, log_path: Path
) -> None:
    write(log_path, *INCIDENT)
    result = safeterraform_log(log_env, tmp_path, "--json", "--workspace", "prod")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    on_disk = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert [json.loads(line) for line in lines] == [
        record for record in on_disk if record["workspace"] == "prod"
    ]
    # One record per line, however long.
    assert len(lines) == 4


def test_markup_in_a_record_is_shown_literally(
    log_env: dict[str, str], tmp_path: Path, log_path: Path
) -> None:
    write(log_path, {"argv": ["apply", "-target=x[bold]y[/bold]"], "user": "[red]eve"})
    result = safeterraform_log(log_env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "[red]eve" in result.stdout
    assert "-target=x[bold]y[/bold]" in result.stdout


def test_odd_but_valid_json_records_do_not_crash(
    log_env: dict[str, str], tmp_path: Path, log_path: Path
) -> None:
    log_path.parent.mkdir(parents=True)
    log_path.write_text('{}\n{"argv": "apply", "affected_nodes": 7, "time": 12}\n')
    result = safeterraform_log(log_env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "terraform apply" in result.stdout


def test_audit_log_from_the_user_config(
    log_env: dict[str, str], tmp_path: Path, home: Path
) -> None:
    repo = tmp_path / "repo"
    (repo / "envs" / "prod").mkdir(parents=True)
    user = home / ".config" / "safeterraform" / "config.toml"
    user.parent.mkdir(parents=True)
    user.write_text('audit_log = "~/elsewhere/audit.jsonl"\n')
    write(home / "elsewhere" / "audit.jsonl", {"user": "moved-log-user"})
    result = safeterraform_log(log_env, repo / "envs" / "prod")
    assert result.returncode == 0, result.stderr
    assert "moved-log-user" in result.stdout
    assert str(home / "elsewhere" / "audit.jsonl") in result.stdout


def test_a_repository_cannot_move_the_audit_log(
    log_env: dict[str, str], tmp_path: Path, home: Path
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / ".safeterraform.toml").write_text('audit_log = "./trail.jsonl"\n')
    write(repo / "trail.jsonl", {"user": "planted-by-the-repo"})
    result = safeterraform_log(log_env, repo)
    assert "planted-by-the-repo" not in result.stdout
    assert "cannot be set in a repository file" in result.stderr


def test_negative_last_is_an_error(log_env: dict[str, str], tmp_path: Path, log_path: Path) -> None:
    write(log_path, *INCIDENT)
    result = safeterraform_log(log_env, tmp_path, "--last", "-1")
    assert result.returncode == 1
    assert result.stderr.strip() == "safeterraform: --last must be 0 or more"


def test_unreadable_log_is_one_line(
    log_env: dict[str, str], tmp_path: Path, log_path: Path
) -> None:
    # A directory where the log should be: reading it fails even for root.
    log_path.mkdir(parents=True)
    result = safeterraform_log(log_env, tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"safeterraform: cannot read audit log {log_path}: Is a directory"
    )


# -- 80 columns, break-glass outcomes, verdicts (issue 17 items 7 and 10) ----------------

GOLDEN_80 = Path(__file__).parent / "golden" / "log_80.txt"
LONG_COMMAND: dict[str, Any] = {
    "argv": [
        "apply",
        "-var-file=envs/production-eu-west-1.tfvars",
        '-target=module.cluster.terraform_data.reset_on_destroy["powder"]',
    ],
    "verdict": "not-confirmed",
    "user": "alexandra.longname",
    "affected_nodes": ["powder", "poison", "phoebe"],
    "typed_nodes": ["powder"],
    "exit_code": 4,
}


def table_lines(stdout: str) -> list[str]:
    """The table without its first line (the title names the temporary log path)."""
    lines = [line.rstrip() for line in stdout.splitlines()]
    assert lines[0].startswith("audit log ")
    return lines[1:]


def test_80_columns_golden(log_env: dict[str, str], tmp_path: Path, log_path: Path) -> None:
    """Mutation: rich's own column sizing instead of `fit` (words broken, `terrafo|rm`)."""
    write(log_path, *INCIDENT, LONG_COMMAND)
    log_env["COLUMNS"] = "80"
    result = safeterraform_log(log_env, tmp_path)
    assert result.returncode == 0, result.stderr
    lines = table_lines(result.stdout)
    assert max(len(line) for line in lines) <= 80
    text = "\n".join(lines) + "\n"
    if os.environ.get("SAFETERRAFORM_UPDATE_GOLDEN") == "1":
        GOLDEN_80.write_text(text)
    assert text == GOLDEN_80.read_text(), (
        f"{GOLDEN_80} differs; if intended, rerun with SAFETERRAFORM_UPDATE_GOLDEN=1 and review"
    )


@pytest.mark.parametrize("columns", [80, 100, 132])
def test_no_word_is_broken_mid_word(
    log_env: dict[str, str], tmp_path: Path, log_path: Path, columns: int
) -> None:
    """Every word that fits its column is shown whole; only longer ones are folded.

    Mutation: drop the minimum widths in `fit` (columns shrink below their longest word).
    """
    write(log_path, *INCIDENT, LONG_COMMAND)
    log_env["COLUMNS"] = str(columns)
    result = safeterraform_log(log_env, tmp_path)
    assert result.returncode == 0, result.stderr
    words = result.stdout.split()
    for whole in (
        "terraform",
        "-auto-approve",
        "destroy",
        "break-glass",
        "not-confirmed",
        "INC-4411",
        "alexandra.longname",
        "2025-01-31",
        "phoebe",
    ):
        assert whole in words, f"{whole!r} is broken at {columns} columns:\n{result.stdout}"
    # The one word longer than any column is folded, not lost.
    assert "".join(result.stdout.split()).count('reset_on_destroy["powder"]') == 1


def test_break_glass_shows_its_outcome_and_exit_code(
    log_env: dict[str, str], tmp_path: Path, log_path: Path
) -> None:
    """Mutation: `entries` without pairing (the break-glass row has no exit, no outcome)."""
    write(
        log_path,
        {"argv": ["destroy"], "verdict": "break-glass", "break_glass_reason": "INC-1"},
        {"argv": ["plan"], "verdict": "planned", "exit_code": 0, "user": "bob"},
        {"argv": ["destroy"], "verdict": "failed", "break_glass_reason": "INC-1", "exit_code": 1},
        {"argv": ["apply"], "verdict": "break-glass", "break_glass_reason": "INC-2"},
    )
    log_env["COLUMNS"] = "80"
    result = safeterraform_log(log_env, tmp_path, "--verdict", "break-glass")
    assert result.returncode == 0, result.stderr
    lines = table_lines(result.stdout)
    first = next(i for i, line in enumerate(lines) if "destroy" in line)
    assert lines[first].endswith(" 1")  # the exit code of the run it let through
    assert "outcome: failed, exit 1" in " ".join(" ".join(lines[first:]).split())
    # A break-glass run that left no record after it (killed, or an older version).
    assert "outcome: not recorded" in " ".join(result.stdout.split())


def test_unknown_verdict_lists_the_valid_ones(
    log_env: dict[str, str], tmp_path: Path, log_path: Path
) -> None:
    write(log_path, *INCIDENT, {"verdict": "from-a-newer-version"})
    result = safeterraform_log(log_env, tmp_path, "--verdict", "bogus")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        "safeterraform: unknown verdict 'bogus'; valid verdicts: "
        + ", ".join(sorted([*audit.VERDICTS, "from-a-newer-version"]))
        + "\n"
    )
    assert "break-glass" in result.stderr and "not-confirmed" in result.stderr
    # Also before anything was ever recorded.
    log_path.unlink()
    empty = safeterraform_log(log_env, tmp_path, "--verdict", "bogus")
    assert empty.returncode == 1 and "valid verdicts: " in empty.stderr


def test_every_verdict_the_code_records_is_a_valid_filter() -> None:
    """A verdict written by the flows but missing from audit.VERDICTS could not be filtered."""
    source = Path(__file__).parent.parent / "src" / "safeterraform"
    text = "\n".join(path.read_text() for path in source.rglob("*.py"))
    written = set(re.findall(r'\brecord\(\s*"([a-z-]+)"', text))
    written |= set(re.findall(r'"([a-z-]+)" if code == 0 else "([a-z-]+)"', text)[0])
    assert {"refused", "break-glass", "interrupted", "applied", "failed"} <= written
    assert written <= set(audit.VERDICTS)


def test_break_glass_through_the_shim_records_its_outcome(
    workdir: Path, shim: Runner, real: Runner, env: dict[str, str], log_path: Path
) -> None:
    """The real flow: break-glass lets `apply -auto-approve` run in prod; `log` says how it
    ended. Mutation: the flow runs the command without recording after it."""
    (workdir / "main.tf").write_text('resource "terraform_data" "n" {\n  input = "x"\n}\n')
    assert real("init", "-input=false").returncode == 0
    assert real("workspace", "new", "prod").returncode == 0
    env["SAFETERRAFORM_BREAK_GLASS"] = "INC-9 the bastion is on fire"
    applied = shim("apply", "-auto-approve", "-input=false")
    assert applied.returncode == 0, applied.stderr
    env.pop("SAFETERRAFORM_BREAK_GLASS")
    env["COLUMNS"] = "80"
    result = safeterraform_log(env, workdir, "--verdict", "break-glass")
    assert result.returncode == 0, result.stderr
    assert {"-auto-approve", "-input=false", "INC-9"} <= set(result.stdout.split())
    assert "outcome: applied, exit 0" in " ".join(result.stdout.split())
    row = next(line for line in table_lines(result.stdout) if "terraform apply" in line)
    assert row.endswith(" 0")


OLD_SECRET = "hunter2-old-secret"


def test_old_records_with_var_values_are_shown_redacted_and_can_be_found(
    log_env: dict[str, str], tmp_path: Path, log_path: Path
) -> None:
    """Records written before redaction existed keep their secret on disk (nothing is
    rewritten silently), but `log` never shows it, and `--secrets` finds them.
    Mutation: show stored argv as it is -> the secret appears."""
    log_path.parent.mkdir(parents=True)
    raw = [
        {"time": "2026-01-01T00:00:00.000Z", "verdict": "refused", "workspace": "prod",
         "argv": ["apply", "-var", f"db_password={OLD_SECRET}"],
         "reason": f"refused `terraform apply -var db_password={OLD_SECRET}`"},
        {"time": "2026-01-01T00:01:00.000Z", "verdict": "refused", "workspace": "prod",
         "argv": ["plan", f"--var=token={OLD_SECRET}"]},
        {"time": "2026-01-01T00:02:00.000Z", "verdict": "applied", "workspace": "prod",
         "argv": ["apply", "-var-file=prod.tfvars"]},
    ]  # fmt: skip
    log_path.write_text("".join(json.dumps(record) + "\n" for record in raw))
    table = safeterraform_log(log_env, tmp_path)
    as_json = safeterraform_log(log_env, tmp_path, "--json")
    for result in (table, as_json):
        assert result.returncode == 0, result.stderr
        assert OLD_SECRET not in result.stdout + result.stderr
    assert "db_password=<redacted>" in as_json.stdout and "token=<redacted>" in as_json.stdout
    assert "-var-file=prod.tfvars" in as_json.stdout  # a path is not a secret
    assert OLD_SECRET in log_path.read_text()  # not rewritten behind anyone's back

    found = safeterraform_log(log_env, tmp_path, "--secrets", "--json")
    assert found.returncode == 0
    assert len(found.stdout.splitlines()) == 2
    assert "2 record(s)" in found.stderr

    # The README's scrub: the redacted JSON lines replace the file.
    scrubbed = safeterraform_log(log_env, tmp_path, "--json").stdout
    log_path.write_text(scrubbed)
    assert OLD_SECRET not in log_path.read_text()
    after = safeterraform_log(log_env, tmp_path, "--secrets", "--json")
    assert after.stdout == "" and "0 record(s)" in after.stderr


# -- one line per record, the default (issue 27) -----------------------------------------

GOLDEN_LINES_80 = Path(__file__).parent / "golden" / "log_lines_80.txt"
AGENT_RUN: list[dict[str, Any]] = [
    {
        "cwd": "/home/alexandra/src/infrastructure/clusters/talos/envs/prod",
        "argv": ["apply", "-input=false"],
        "verdict": "refused",
        "affected_nodes": ["powder", "poison", "phoebe"],
        "agent": "CLAUDECODE",
        "exit_code": 3,
    },
    {
        "cwd": "/home/alexandra/src/infrastructure/clusters/talos/envs/prod",
        "argv": ["approve", ".terraform/safeterraform/plans/prod.tfplan"],
        "program": "safeterraform",
        "verdict": "approved",
        "user": "bob",
        "affected_nodes": ["powder", "poison", "phoebe"],
        "exit_code": 0,
    },
    {
        "cwd": "/home/alexandra/src/infrastructure/clusters/talos/envs/prod",
        "argv": ["apply", ".terraform/safeterraform/plans/prod.tfplan"],
        "verdict": "applied",
        "affected_nodes": ["powder", "poison", "phoebe"],
        "agent": "CLAUDECODE",
        "approved_by": "bob@bastion (approved 2025-01-31T09:01:00.000Z, /x/approval.json)",
        "exit_code": 0,
    },
]


def test_one_line_per_record_at_80_columns_golden(
    log_env: dict[str, str], tmp_path: Path, log_path: Path
) -> None:
    """Each record on one line: time, user, dir, workspace, verdict, nodes, agent/approver.

    Mutations: the default back to the wrapped table (records span several lines), or
    `_fit_left` keeping the directory's start (`/home/alexandra/…` hides `envs/prod`).
    Regenerate: SAFETERRAFORM_UPDATE_GOLDEN=1, then review the diff."""
    write(log_path, *INCIDENT, LONG_COMMAND, *AGENT_RUN)
    log_env["COLUMNS"] = "80"
    result = safeterraform_log(log_env, tmp_path, full=False)
    assert result.returncode == 0, result.stderr
    lines = table_lines(result.stdout)
    assert len(lines) == 1 + len(INCIDENT) + 1 + len(AGENT_RUN)  # a header, one per record
    assert max(len(line) for line in lines) <= 80
    assert lines[-1].endswith("CLAUDECODE/bob")
    assert "…envs/prod prod" in lines[-1]  # the end of the directory, then the workspace
    text = "\n".join(lines) + "\n"
    if os.environ.get("SAFETERRAFORM_UPDATE_GOLDEN") == "1":
        GOLDEN_LINES_80.write_text(text)
    assert text == GOLDEN_LINES_80.read_text(), (
        f"{GOLDEN_LINES_80} differs; if intended, rerun with SAFETERRAFORM_UPDATE_GOLDEN=1"
    )


def test_json_names_the_agent_that_ran_it(
    incident: Path, shim: Runner, env: dict[str, str], log_path: Path
) -> None:
    """A command a coding agent ran says so in its record: `agent` is the marker.
    Mutation: session.build without `agent=` -> the field is null."""
    env["CLAUDECODE"] = "1"
    assert shim("apply", "-input=false").returncode == 3
    env.pop("CLAUDECODE")
    result = safeterraform_log(env, incident, "--json")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["verdict"], r["agent"]) for r in records] == [("refused", "CLAUDECODE")]
    env["COLUMNS"] = "80"
    line = table_lines(safeterraform_log(env, incident, full=False).stdout)[-1]
    assert line.endswith("CLAUDECODE")
