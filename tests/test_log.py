"""`safeterraform log` as a real process over real audit files."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from safeterraform import audit
from tests import tfharness

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
    env: dict[str, str], cwd: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SAFETERRAFORM, "log", *args],
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
    assert len(rows) == 4
    assert "apply -auto-approve" in rows[0] and " 3 " in rows[0]
    assert "destroy" in rows[3]


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
    assert len(rows("--workspace", "prod")) == 3
    applied = rows("--verdict", "applied")
    assert len(applied) == 1 and "pearl" in applied[0]
    last_two = rows("--last", "2")
    assert len(last_two) == 2
    assert "plan" in last_two[0] and "destroy" in last_two[1]
    last_prod = rows("--workspace", "prod", "--last", "1")
    assert len(last_prod) == 1 and "break-glass" in last_prod[0]
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
    assert len(lines) == 3


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
