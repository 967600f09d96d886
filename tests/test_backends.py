"""Remote and shared backends through the shim: a local TFE-compatible API over HTTPS, an
`http` state server (issue 17 item 3). The shim's remote-backend rules are tested by the
lead's flow tests with these fixtures; here: they work, and they pass through."""

from __future__ import annotations

import json
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import pg_server
from tests.backend_fixtures import generate
from tests.conftest import Runner
from tests.http_state_server import HttpStateServer
from tests.tfe_server import TfeServer, write_certificate

FIXTURES = Path(__file__).parent / "fixtures" / "backends"
RESOURCE = 'resource "terraform_data" "node" {\n  input = "a"\n}\n'


@pytest.fixture(scope="session")
def tfe_certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_certificate(tmp_path_factory.mktemp("tfe-certificate"))


@pytest.fixture()
def tfe(tfe_certificate: tuple[Path, Path], env: dict[str, str]) -> Iterator[TfeServer]:
    """A fresh TFE API on 127.0.0.1, trusted (SSL_CERT_FILE) and with a token in `env`."""
    api = TfeServer(token=f"test.atlasv1.{secrets.token_hex(16)}")
    with api.serve(*tfe_certificate):
        cli_config = Path(env["TF_CLI_CONFIG_FILE"])
        cli_config.write_text(cli_config.read_text() + api.cli_config())
        env["SSL_CERT_FILE"] = str(tfe_certificate[0])
        yield api


def backend_state(directory: Path) -> dict[str, object]:
    return dict(json.loads((directory / ".terraform" / "terraform.tfstate").read_text()))


def write_config(directory: Path, block: str, body: str = RESOURCE) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "main.tf").write_text(f"terraform {{\n  {block}\n}}\n\n{body}")


@pytest.mark.parametrize(
    ("kind", "workspaces"),
    [("remote", 'name = "prod"'), ("cloud", 'name = "prod"'), ("cloud", 'tags = ["prod"]')],
)
def test_init_through_the_shim_against_tfe(
    kind: str, workspaces: str, tfe: TfeServer, workdir: Path, shim: Runner, home: Path
) -> None:
    """`terraform init` passes through the shim to the API, with host:port credentials
    (Terraform accepts `credentials "127.0.0.1:PORT"`) and SSL_CERT_FILE trust."""
    if "tags" in workspaces:
        tfe.add_workspace("prod-eu", tags=["prod"])
    write_config(workdir, tfe.backend_block(workspaces, kind))
    result = shim("init", "-input=false")
    assert result.returncode == 0, result.stderr
    assert "successfully initialized" in result.stdout
    assert all(r.authorization == f"Bearer {tfe.token}" for r in tfe.requests if "/api/" in r.path)
    assert tfe.seen("GET", "/api/v2/organizations/o/entitlement-set")
    saved = backend_state(workdir)["backend"]
    assert isinstance(saved, dict)
    assert saved["type"] == kind
    assert saved["config"]["hostname"] == tfe.hostname  # type: ignore[index]
    # Pass-through: nothing guarded, so nothing audited.
    assert not (home / ".local" / "state" / "safeterraform" / "audit.jsonl").exists()


def test_the_api_checks_the_token(
    tfe: TfeServer, workdir: Path, real: Runner, env: dict[str, str]
) -> None:
    cli_config = Path(env["TF_CLI_CONFIG_FILE"])
    cli_config.write_text(cli_config.read_text().replace(tfe.token, "wrong-token"))
    write_config(workdir, tfe.backend_block())
    result = real("init", "-input=false")
    assert result.returncode != 0
    assert "unauthorized" in result.stderr.lower() or "token" in result.stderr.lower()


@pytest.mark.parametrize("kind", ["remote", "cloud"])
def test_a_remote_plan_starts_a_run(
    kind: str, tfe: TfeServer, workdir: Path, real: Runner, terraform_bin: Path,
    env: dict[str, str],
) -> None:  # fmt: skip
    """Terraform uploads the configuration and creates a run; the run stays pending."""
    write_config(workdir, tfe.backend_block(kind=kind))
    assert real("init", "-input=false").returncode == 0
    plan = subprocess.Popen(
        [str(terraform_bin), "plan", "-input=false"],
        cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        run = tfe.wait_for_run()
    finally:
        plan.send_signal(signal.SIGINT)
        try:
            out, _ = plan.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            plan.kill()
            out, _ = plan.communicate()
    workspace = tfe.workspaces["prod"]
    assert run["relationships"]["workspace"]["data"]["id"] == workspace.id
    assert tfe.seen("POST", f"/api/v2/workspaces/{workspace.id}/configuration-versions")
    uploaded = [blob for key, blob in tfe.blobs.items() if key.startswith("cv-")]
    assert uploaded and uploaded[0][:2] == b"\x1f\x8b"  # the configuration, as tar.gz
    assert "remote" in out.lower() or "Terraform Enterprise" in out


@dataclass
class SharedBackend:
    """A backend block and a way to read the state it stores, straight from the server."""

    block: str
    stored_state: Callable[[], dict[str, Any]]
    workspace: str  # the prod workspace ("default" where the backend has none)


@pytest.fixture(params=["http", "pg"])
def shared_backend(request: pytest.FixtureRequest) -> Iterator[SharedBackend]:
    if request.param == "http":
        with HttpStateServer().serve() as server:
            yield SharedBackend(server.backend_block(), server.state, "default")
        return
    reason = pg_server.missing()
    if reason is not None:
        pytest.skip(f"pg backend not tested: {reason}")
    with pg_server.serve() as conn_str:

        def stored() -> dict[str, Any]:
            sql = "SELECT data FROM terraform_remote_state.states WHERE name = 'prod'"
            return dict(json.loads(pg_server.psql(pg_server.port_of(conn_str), "terraform", sql)))

        yield SharedBackend(f'backend "pg" {{\n    conn_str = "{conn_str}"\n  }}', stored, "prod")


NODES_CONFIG = """resource "terraform_data" "node" {
  for_each         = toset(["alpha", "beta"])
  input            = { hostname = each.key, version = "%s" }
  triggers_replace = "%s"

  provisioner "local-exec" {
    when    = destroy
    command = "echo drain ${self.input.hostname} >> drain.log"
  }
}
"""


def test_shared_backend_guarded_apply(
    shared_backend: SharedBackend, workdir: Path, shim: Runner, real: Runner,
    env: dict[str, str],
) -> None:  # fmt: skip
    """`http` (prod by path) and `pg` (prod by workspace) backends: the shim snapshots,
    confirms and applies; the state on the server is what Terraform wrote.

    Mutation: snapshot_state skipped (no backup of the remote state)."""
    backend = shared_backend
    directory = workdir / "envs" / "prod"
    write_config(directory, backend.block, NODES_CONFIG % ("v1", "v1"))
    setup = [["init", "-input=false"]]
    if backend.workspace != "default":
        setup.append(["workspace", "new", backend.workspace])
    for args in [*setup, ["apply", "-auto-approve", "-input=false"]]:
        result = real(*args, cwd=directory)
        assert result.returncode == 0, result.stderr
    assert len(backend.stored_state()["resources"][0]["instances"]) == 2
    write_config(directory, backend.block, NODES_CONFIG % ("v2", "v2"))
    # The plan replaces both; the runbook states one: refused, nothing changes.
    env["SAFETERRAFORM_CONFIRM_NODES"] = "alpha"
    refused = shim("apply", "-input=false", cwd=directory)
    assert refused.returncode == 3, refused.stderr
    assert not (directory / "drain.log").exists()
    env["SAFETERRAFORM_CONFIRM_NODES"] = "alpha beta"
    applied = shim("apply", "-input=false", cwd=directory)
    assert applied.returncode == 0, applied.stderr
    drained = sorted((directory / "drain.log").read_text().split())
    assert drained == ["alpha", "beta", "drain", "drain"]
    versions = {
        instance["attributes"]["input"]["value"]["version"]
        for instance in backend.stored_state()["resources"][0]["instances"]
    }
    assert versions == {"v2"}
    backups = list((directory / ".terraform" / "safeterraform" / "state-backups").iterdir())
    assert len(backups) == 1 and '"v1"' in backups[0].read_text()


@pytest.fixture(scope="module")
def fresh_fixtures(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """One fresh run of scripts/make_backend_fixtures.py's generator: (dir, skipped)."""
    fresh = tmp_path_factory.mktemp("fresh-backends")
    return fresh, generate(fresh)


@pytest.mark.parametrize("case", sorted(path.name for path in FIXTURES.iterdir()))
def test_backend_fixtures_are_what_terraform_init_writes(
    case: str, fresh_fixtures: tuple[Path, list[str]]
) -> None:
    """tests/fixtures/backends/<case> matches a fresh run (scripts/make_backend_fixtures.py).
    A case that cannot run here (pg without PostgreSQL) is reported skipped, not passed."""
    fresh, skipped = fresh_fixtures
    reasons = [reason for reason in skipped if reason.startswith(f"{case}:")]
    if reasons:
        pytest.skip(reasons[0])
    fixtures = sorted((FIXTURES / case).iterdir())
    assert fixtures, f"no fixture files for {case}"
    for fixture in fixtures:
        written = (fresh / case / fixture.name).read_text()
        # The hash is over the configuration with the real (changing) port.
        strip = re.compile(r'"hash": \d+')
        assert strip.sub("", written) == strip.sub("", fixture.read_text()), (
            f"{fixture} is stale: run scripts/make_backend_fixtures.py"
        )


# -- the guard on remote operations (docs/design.md#command-classes; issue 17 item 3) ------


@pytest.fixture()
def remote_prod(tfe: TfeServer, workdir: Path, shim: Runner) -> Path:
    """`backend "remote"` with `workspaces { name = "prod" }`: the local workspace is
    `default`, the remote one `prod`; initialised through the shim (init passes through)."""
    write_config(workdir, tfe.backend_block('name = "prod"', kind="remote"))
    result = shim("init", "-input=false")
    assert result.returncode == 0, result.stderr
    return workdir


def runs_created(tfe: TfeServer) -> list[str]:
    return [r.path for r in tfe.requests if r.method == "POST" and r.path.endswith("/runs")]


def unless_a_run_starts(
    tfe: TfeServer, shim_bin: Path, args: list[str], cwd: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run the shim; a run created on the API fails the test at once. A refusal is
    immediate; passed through, the remote run would wait for its apply until a timeout."""
    command = [str(shim_bin), *args]
    with subprocess.Popen(
        command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    ) as process:  # fmt: skip
        deadline = time.monotonic() + 60
        while process.poll() is None:
            if runs_created(tfe) or time.monotonic() > deadline:
                process.kill()
                process.communicate()
                pytest.fail(f"passed through: remote runs {runs_created(tfe)} started")
            time.sleep(0.05)
        stdout, stderr = process.communicate()
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


@pytest.mark.parametrize("args", [["apply", "-auto-approve"], ["destroy", "-auto-approve"]])
def test_auto_approve_against_a_remote_prod_workspace_is_refused(
    args: list[str], remote_prod: Path, tfe: TfeServer, shim_bin: Path, env: dict[str, str]
) -> None:
    """The local workspace is `default`; the remote one is what is judged. Mutation: judge
    only the local workspace name -> passed straight through to a remote prod run: fails
    as soon as the run is created."""
    result = unless_a_run_starts(tfe, shim_bin, [*args, "-input=false"], remote_prod, env)
    assert result.returncode == 3, result.stderr
    assert "auto-approve" in result.stderr
    assert "'prod'" in result.stderr  # the remote workspace that made it production
    assert runs_created(tfe) == []


def test_a_plain_apply_against_a_remote_prod_workspace_says_it_runs_remotely(
    remote_prod: Path, tfe: TfeServer, shim_bin: Path, env: dict[str, str], home: Path
) -> None:
    """Not Terraform's "Saving a generated plan is currently not supported" (exit 1), but the
    shim's reason and what to do instead; no run is started."""
    result = unless_a_run_starts(tfe, shim_bin, ["apply", "-input=false"], remote_prod, env)
    assert result.returncode == 3, result.stderr
    assert "the remote backend runs apply remotely" in result.stderr
    assert "next: review and confirm the run in HCP Terraform/TFE" in result.stderr
    assert "Saving a generated plan" not in result.stderr + result.stdout
    assert runs_created(tfe) == []
    records = (home / ".local" / "state" / "safeterraform" / "audit.jsonl").read_text()
    assert [json.loads(line)["verdict"] for line in records.splitlines()] == ["refused"]


SAVED_CLOUD_PLAN = {"remote_plan_format": 1, "run_id": "run-CbMpSkAV3Z3hzqVR", "hostname": ""}


def test_a_saved_cloud_plan_is_named_as_such(
    tfe: TfeServer, workdir: Path, shim: Runner, env: dict[str, str]
) -> None:
    """A saved cloud plan (`plan -out` with a cloud block writes this JSON bookmark,
    internal/cloud/cloudplan/saved_plan.go) is not "corrupt or not a zip" for `apply` or
    `check`."""
    write_config(workdir, tfe.backend_block('name = "prod"', kind="cloud"))
    assert shim("init", "-input=false").returncode == 0
    bookmark = {**SAVED_CLOUD_PLAN, "hostname": tfe.hostname}
    (workdir / "cloud.tfplan").write_text(json.dumps(bookmark))
    applied = shim("apply", "cloud.tfplan")
    assert applied.returncode == 3, applied.stderr
    assert "saved cloud plan" in applied.stderr
    assert "run-CbMpSkAV3Z3hzqVR" in applied.stderr
    checked = subprocess.run(
        [str(Path(sys.executable).with_name("safeterraform")), "check", "cloud.tfplan"],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert checked.returncode == 1
    assert "cloud.tfplan is a saved cloud plan (run run-CbMpSkAV3Z3hzqVR" in checked.stderr
    assert "corrupt" not in checked.stderr and "zip" not in checked.stderr
    assert runs_created(tfe) == []


def test_a_rollout_against_a_remote_prod_workspace_is_refused_even_with_break_glass(
    remote_prod: Path, tfe: TfeServer, env: dict[str, str]
) -> None:
    """A rollout plans and applies node by node; a remote backend would run them remotely.
    Mutation: the rollout's remote refusal allowing break-glass (it then starts remote
    runs) or dropped."""
    result = subprocess.run(
        [str(Path(sys.executable).with_name("safeterraform")), "rollout"],
        cwd=remote_prod, env={**env, "SAFETERRAFORM_BREAK_GLASS": "outage"},
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 3, result.stderr
    assert "the remote backend plans and applies remotely" in result.stderr
    assert "cannot roll out node by node" in result.stderr
    assert runs_created(tfe) == []
