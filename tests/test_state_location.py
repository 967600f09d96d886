"""Production is where the state lives (issue 25), against the real Terraform.

One directory, one `-backend-config` file per environment (Terraform's documented
pattern): the backend `init` recorded says where the state lives, and that location is
judged like a path (`policy.state_location`). The witness is the remote state's bytes,
read straight from the server (an `http` state server, a real PostgreSQL, S3 in moto), and
the destroy-time provisioners' reset.log. Then the other routes of the issue: var files,
files a command writes, `terraform test` with JSON and module provisioners, crafted plan
files and token spellings. Each route was reproduced against the code before the change.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from safeterraform import policy
from tests import pg_server, tfharness
from tests.conftest import Runner
from tests.http_state_server import HttpStateServer
from tests.test_aws import moto
from tests.test_doctor import doctor, rows
from tests.test_guard import incident, incident_template, reset_log

__all__ = ["incident", "incident_template", "moto"]

PROD_STATE = "terraform.tfstate.d/prod/terraform.tfstate"
MOTO_KEYS = ("moto-fake-access-key", "moto-fake-secret-key")


@pytest.fixture()
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A temp dir whose path has no production token (tmp_path carries the test's name)."""
    directory = tmp_path_factory.mktemp("root")
    assert not any(policy.has_production_token(part) for part in directory.parts)
    return directory


def audit_lines(home: Path) -> list[str]:
    path = home / ".local" / "state" / "safeterraform" / "audit.jsonl"
    return path.read_text().splitlines() if path.exists() else []


# -- 1. one directory, one -backend-config file per environment ---------------------------


@dataclass
class Remote:
    """A backend type, its -backend-config file per environment, and the stored state."""

    kind: str
    tfbackend: Callable[[str], str]  # environment name -> the file's text
    stored: Callable[[str], bytes | None]  # environment name -> the state's bytes
    location: Callable[[str], str]  # environment name -> what the refusal names


def _http() -> Iterator[Remote]:
    with HttpStateServer().serve() as server:

        def tfbackend(name: str) -> str:
            address = f"{server.url}/state/{name}"
            return (
                f'address = "{address}"\nlock_address = "{address}"\nunlock_address = "{address}"\n'
            )

        yield Remote(
            "http",
            tfbackend,
            lambda name: server.states.get(f"/state/{name}"),
            lambda name: f"{server.url}/state/{name}",
        )


def _pg() -> Iterator[Remote]:
    reason = pg_server.missing()
    if reason is not None:
        pytest.skip(f"pg backend not tested: {reason}")
    with pg_server.serve() as conn_str:
        port = pg_server.port_of(conn_str)

        def stored(name: str) -> bytes | None:
            exists = pg_server.psql(
                port,
                "terraform",
                f"SELECT count(*) FROM information_schema.tables WHERE table_schema = '{name}'",
            )
            if exists.strip() == "0":
                return None
            sql = f"SELECT data FROM {name}.states WHERE name = 'default'"
            return pg_server.psql(port, "terraform", sql).encode() or None

        yield Remote(
            "pg",
            lambda name: f'conn_str = "{conn_str}"\nschema_name = "{name}"\n',
            stored,
            lambda name: f"pg://127.0.0.1:{port}/terraform?schema={name}&workspace=default",
        )


def _s3(moto_url: str) -> Iterator[Remote]:
    import boto3  # moto brings it

    bucket = f"tfstate-{os.urandom(4).hex()}"  # moto lives for the session
    client = boto3.client(
        "s3",
        endpoint_url=moto_url,
        region_name="us-east-1",
        aws_access_key_id=MOTO_KEYS[0],
        aws_secret_access_key=MOTO_KEYS[1],
    )
    client.create_bucket(Bucket=bucket)

    def tfbackend(name: str) -> str:
        return f"""bucket = "{bucket}"
key = "{name}/terraform.tfstate"
region = "us-east-1"
endpoints = {{ s3 = "{moto_url}" }}
use_path_style = true
skip_credentials_validation = true
skip_requesting_account_id = true
skip_metadata_api_check = true
skip_region_validation = true
access_key = "{MOTO_KEYS[0]}"
secret_key = "{MOTO_KEYS[1]}"
"""

    def stored(name: str) -> bytes | None:
        try:
            answer = client.get_object(Bucket=bucket, Key=f"{name}/terraform.tfstate")
        except client.exceptions.NoSuchKey:
            return None
        return bytes(answer["Body"].read())

    yield Remote("s3", tfbackend, stored, lambda name: f"s3://{bucket}/{name}/terraform.tfstate")


@pytest.fixture(params=["http", "pg", "s3"])
def remote(request: pytest.FixtureRequest, env: dict[str, str]) -> Iterator[Remote]:
    for name in [name for name in env if name.startswith("AWS_")]:
        del env[name]
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    if request.param == "s3":
        yield from _s3(request.getfixturevalue("moto"))
    else:
        yield from {"http": _http, "pg": _pg}[request.param]()


def test_a_prod_backend_config_makes_apply_production_and_staging_passes(
    remote: Remote, root: Path, shim: Runner, real: Runner, home: Path
) -> None:
    """Route 1 of issue 25: `init -backend-config=prod.<x>.tfbackend` in a directory with
    no production name and workspace `default`, then `apply -auto-approve`. Before: passed
    straight through (3 replaced, 3 resets, no audit line). Now refused (exit 3) naming the
    location and the rule, nothing ran, the remote state's bytes unchanged; initialised
    with the staging file the same directory passes straight through.

    Mutation: judge skips the recorded backend (`elif remote is None:` branch removed) ->
    apply runs the resets."""
    directory = root / "stack"
    directory.mkdir()
    (directory / "backend.tf").write_text(f'terraform {{\n  backend "{remote.kind}" {{}}\n}}\n')
    (directory / "main.tf").write_text(tfharness.incident_config(tfharness.INCIDENT_NODES))
    for name in ("prod", "staging"):
        (directory / f"{name}.{remote.kind}.tfbackend").write_text(remote.tfbackend(name))
    prod_config = f"-backend-config=prod.{remote.kind}.tfbackend"
    for args in (["init", "-input=false", prod_config], ["apply", "-auto-approve", "-input=false"]):
        done = real(*args, cwd=directory)
        assert done.returncode == 0, done.stderr
    (directory / "main.tf").write_text(
        tfharness.incident_config(tfharness.INCIDENT_NODES, talos_version="v1.7.0")
    )
    before = remote.stored("prod")
    assert before and b"reset_on_destroy" in before
    # Re-initialised through the shim: init without migration passes through.
    init = shim("init", "-input=false", "-reconfigure", prod_config, cwd=directory)
    assert init.returncode == 0, init.stderr
    refused = shim("apply", "-auto-approve", "-input=false", cwd=directory)
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert reset_log(directory) == [], "the destroy-time provisioners ran"
    assert remote.stored("prod") == before
    assert remote.location("prod") in refused.stderr
    assert "has the production word" in refused.stderr, refused.stderr
    assert audit_lines(home), "the refusal was not recorded"
    recorded = len(audit_lines(home))

    staging_config = f"-backend-config=staging.{remote.kind}.tfbackend"
    init = shim("init", "-input=false", "-reconfigure", staging_config, cwd=directory)
    assert init.returncode == 0, init.stderr
    passed = shim("apply", "-auto-approve", "-input=false", cwd=directory)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "Apply complete! Resources: 6 added" in passed.stdout
    assert b"reset_on_destroy" in (remote.stored("staging") or b"")
    assert remote.stored("prod") == before
    assert len(audit_lines(home)) == recorded, "staging was guarded, not passed through"


def test_backends_globs_from_any_layer_judge_the_location(
    root: Path, shim: Runner, real: Runner, home: Path
) -> None:
    """`[production] backends` globs (here a repository file) match the location string:
    `/state/live` has no token, the glob makes it production.

    Mutation: drop the configured globs in location_rule -> passes through."""
    with HttpStateServer().serve() as server:
        directory = root / "stack"
        directory.mkdir()
        (directory / "main.tf").write_text(
            'terraform {\n  backend "http" {}\n}\nresource "terraform_data" "x" {}\n'
        )
        (directory / ".safeterraform.toml").write_text(
            '[production]\nbackends = ["http://*/state/live"]\n'
        )
        config = f"-backend-config=address={server.url}/state/live"
        assert real("init", "-input=false", config, cwd=directory).returncode == 0
        refused = shim("apply", "-auto-approve", "-input=false", cwd=directory)
        assert refused.returncode == 3, refused.stderr
        assert f"{server.url}/state/live matches backends 'http://*/state/live'" in refused.stderr
        assert "/state/live" not in server.states


def test_doctor_shows_the_state_location_and_its_rule(
    root: Path, real: Runner, env: dict[str, str]
) -> None:
    """Before, doctor said "not production" for an http backend at /state/prod.
    Mutation: doctor without the location rows -> fails."""
    with HttpStateServer().serve() as server:
        directory = root / "stack"
        directory.mkdir()
        (directory / "main.tf").write_text('terraform {\n  backend "http" {}\n}\n')
        config = f"-backend-config=address={server.url}/state/prod"
        assert real("init", "-input=false", config, cwd=directory).returncode == 0
        result = doctor({**env, "COLUMNS": "400"}, "--chdir", str(directory))
    table = rows(result.stdout)
    assert table["state location"] == [f"{server.url}/state/prod (http backend, recorded by init)"]
    rule = "has the production word 'prod' (built-in default)"
    assert table["state location rule"] == [f"PRODUCTION: {rule}"]
    assert table["state touched"][-1] == f"backend state {server.url}/state/prod"
    assert table["verdict"] == [f"PRODUCTION: backend state {server.url}/state/prod {rule}"]


@pytest.mark.parametrize(
    ("kind", "settings", "workspace", "location"),
    [
        ("s3", {"bucket": "b", "key": "app/tf.tfstate"}, "default", "s3://b/app/tf.tfstate"),
        ("s3", {"bucket": "b", "key": "k"}, "eu", "s3://b/env:/eu/k"),
        ("s3", {"bucket": "b", "key": "k", "workspace_key_prefix": "ws"}, "eu", "s3://b/ws/eu/k"),
        ("gcs", {"bucket": "b", "prefix": "app"}, "default", "gcs://b/app/default.tfstate"),
        ("gcs", {"bucket": "b"}, "eu", "gcs://b/eu.tfstate"),
        (
            "azurerm",
            {"storage_account_name": "acct", "container_name": "c", "key": "k.tfstate"},
            "eu",
            "azurerm://acct/c/k.tfstateenv:eu",
        ),
        (
            "pg",
            {"conn_str": "postgres://u:secret@db:5432/tf?sslmode=disable&password=x"},
            "default",
            "pg://db:5432/tf?schema=terraform_remote_state&workspace=default",
        ),
        (
            "pg",
            {"conn_str": "host=db port=5432 dbname=tf password=secret", "schema_name": "s"},
            "eu",
            "pg://db:5432/tf?schema=s&workspace=eu",
        ),
        (
            "http",
            {"address": "https://u:secret@h/state/x?access_token=t&state_key=eu&X-Amz-Signature=s"},
            "default",
            "https://h/state/x?state_key=eu",
        ),
        ("consul", {"address": "c:8500", "path": "tf/app"}, "eu", "consul://c:8500/tf/app-env:eu"),
        ("kubernetes", {"secret_suffix": "app"}, "eu", "kubernetes://default/tfstate-eu-app"),
        ("oss", {"bucket": "b"}, "default", "oss://b/env:/terraform.tfstate"),
        ("cos", {"bucket": "b", "prefix": "p", "key": "k"}, "eu", "cos://b/p/eu/k"),
        ("local", {}, "eu", "terraform.tfstate.d/eu/terraform.tfstate"),
        ("local", {"path": "/srv/x.tfstate"}, "default", "/srv/x.tfstate"),
    ],
)
def test_state_location_per_backend(
    kind: str, settings: dict[str, str], workspace: str, location: str
) -> None:
    """Terraform's per-workspace naming for each backend, never a credential."""
    assert policy.state_location(kind, settings, workspace) == location
    assert "secret" not in location


# -- 2. a prod var file --------------------------------------------------------------------


@pytest.fixture()
def changed(root: Path, real: Runner) -> Path:
    """The incident in the default workspace of a non-production directory, applied, with
    the one-line change to make through a var file."""
    directory = root / "stack"
    directory.mkdir()
    (directory / "main.tf").write_text(tfharness.incident_config(tfharness.INCIDENT_NODES))
    for args in (["init", "-input=false"], ["apply", "-auto-approve", "-input=false"]):
        assert real(*args, cwd=directory).returncode == 0
    return directory


@pytest.mark.parametrize(
    ("var_file", "args"),
    [
        ("prod.tfvars", ["-var-file=prod.tfvars"]),
        ("envs/prod.tfvars", ["-var-file", "envs/prod.tfvars"]),
        ("prod.auto.tfvars", []),
    ],
)
def test_a_prod_var_file_makes_apply_production(
    var_file: str, args: list[str], changed: Path, shim: Runner
) -> None:
    """Route 2: no other rule, a var file with a production token. Before: -auto-approve
    passed (3 resets). Mutation: drop the built-in pattern from config.var_files -> fails."""
    (changed / var_file).parent.mkdir(parents=True, exist_ok=True)
    (changed / var_file).write_text('talos_version = "v1.7.0"\n')
    before = (changed / "terraform.tfstate").read_bytes()
    refused = shim("apply", "-auto-approve", "-input=false", *args, cwd=changed)
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert f"{var_file!r} has the production component" in refused.stderr
    assert reset_log(changed) == []
    assert (changed / "terraform.tfstate").read_bytes() == before


def test_the_var_file_rule_is_turned_off_only_by_the_system_layer(
    changed: Path, shim: Runner, home: Path, system_config: Path
) -> None:
    """A user layer cannot turn it off (config error, refused); the system layer can.

    Mutation: the `builtin_var_files` row of policy.KEYS open to every layer -> the user
    file turns it off."""
    (changed / "prod.tfvars").write_text('talos_version = "v1.6.0"\n')  # no change
    user = home / ".config" / "safeterraform" / "config.toml"
    user.parent.mkdir(parents=True)
    user.write_text("[production]\nbuiltin_var_files = false\n")
    refused = shim("apply", "-auto-approve", "-input=false", "-var-file=prod.tfvars", cwd=changed)
    assert refused.returncode == 3
    assert "`[production] builtin_var_files` cannot be set in the user config" in refused.stderr
    user.unlink()
    system_config.write_text("[production]\nbuiltin_var_files = false\n")
    passed = shim("apply", "-auto-approve", "-input=false", "-var-file=prod.tfvars", cwd=changed)
    assert passed.returncode == 0, passed.stderr
    assert "No changes" in passed.stdout


# -- 3. files a command writes ------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["plan", "-input=false", "-out={prod}"],
        ["test", "-junit-xml={prod}"],
        ["plan", "-input=false", "-out={other}"],
        ["apply", "-input=false", "-backup={other}"],
    ],
    ids=["plan-out", "test-junit-xml", "plan-out-other-state", "apply-backup-other-state"],
)
def test_a_command_does_not_write_over_a_state_file(
    args: list[str], incident: Path, root: Path, shim: Runner, real: Runner, home: Path
) -> None:
    """Route 3: from a non-production directory, an output file over prod's state (or any
    other existing state, also outside production) is refused; before, the state became a
    zip or an XML report. Mutation: skip policy.overwritten_state in the shim -> the bytes
    change."""
    checkout = root / "checkout"
    checkout.mkdir()
    (checkout / "main.tf").write_text('resource "terraform_data" "x" {}\n')
    (checkout / "tests").mkdir()
    (checkout / "tests" / "x.tftest.hcl").write_text('run "plan" {\n  command = plan\n}\n')
    assert real("init", "-input=false", cwd=checkout).returncode == 0
    other = root / "other" / "terraform.tfstate"
    other.parent.mkdir()
    shutil.copy(incident / PROD_STATE, other)
    other.chmod(0o644)
    typed = [arg.format(prod=incident / PROD_STATE, other=other) for arg in args]
    before = {path: path.read_bytes() for path in (incident / PROD_STATE, other)}
    refused = shim(*typed, cwd=checkout)
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "would write over the existing Terraform state" in refused.stderr
    assert {path: path.read_bytes() for path in before} == before
    assert [json.loads(line)["verdict"] for line in audit_lines(home)] == ["refused"]


STATE_JSON = '{"version": 4, "terraform_version": "1.15.5", "serial": 1, "lineage": "x"}'


@pytest.mark.parametrize(
    ("command", "written", "read", "refused"),
    [
        ("plan", [("out", "old.json")], [], True),  # a state by content, any name
        ("plan", [("out", "p.tfplan")], [], False),  # not there yet
        ("apply", [("backup", "a.tfstate.backup")], [], False),  # a backup over a backup
        ("apply", [("backup", "b.tfstate")], [], True),
        ("apply", [("state-out", "a.tfstate")], ["a.tfstate"], False),  # the state it read
        ("apply", [("state-out", "b.tfstate")], ["a.tfstate"], True),
        ("state mv", [("state-out", "b.tfstate")], ["a.tfstate"], False),  # merged into
    ],
)
def test_what_may_be_written_over(
    command: str, written: list[tuple[str, str]], read: list[str], refused: bool, root: Path
) -> None:
    """Legacy state flags keep working where Terraform means to write a state there.
    Mutation: drop the `.backup` or `-state-out` exceptions -> the allowed rows fail."""
    for name in ("old.json", "a.tfstate.backup", "a.tfstate", "b.tfstate"):
        (root / name).write_text(STATE_JSON)
    found = policy.overwritten_state(command, written, read, str(root))
    assert (found is not None) is refused, found


def test_a_migration_into_a_prod_location_is_judged_by_it(
    root: Path, shim: Runner, real: Runner
) -> None:
    """`init -force-copy` from local state into an http backend at /state/prod: the same
    state_location judges the target. Mutation: backend.targets returns [] -> migrated."""
    with HttpStateServer().serve() as server:
        directory = root / "stack"
        directory.mkdir()
        (directory / "main.tf").write_text('resource "terraform_data" "x" {}\n')
        for args in (["init", "-input=false"], ["apply", "-auto-approve", "-input=false"]):
            assert real(*args, cwd=directory).returncode == 0
        (directory / "backend.tf").write_text('terraform {\n  backend "http" {}\n}\n')
        # A file, not -backend-config=address=...: KEY=VALUE values are redacted as secrets.
        (directory / "prod.http.tfbackend").write_text(f'address = "{server.url}/state/prod"\n')
        config = "-backend-config=prod.http.tfbackend"
        refused = shim("init", "-input=false", "-force-copy", config, cwd=directory)
        assert refused.returncode == 3, refused.stdout + refused.stderr
        assert f"{server.url}/state/prod" in refused.stderr
        assert "has the production word 'prod' (built-in default)" in refused.stderr
        assert "/state/prod" not in server.states


def test_in_production_plan_out_over_the_prod_state_is_refused(
    incident: Path, shim: Runner
) -> None:
    """Route 3, in prod: `plan -out=terraform.tfstate.d/prod/terraform.tfstate` was
    "planned" and the shim then offered that path for approval."""
    before = tfharness.state_bytes(incident)
    refused = shim("plan", "-input=false", f"-out={PROD_STATE}")
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert tfharness.state_bytes(incident) == before


def test_a_written_file_at_a_prod_state_path_is_a_touched_state(root: Path) -> None:
    """A file the command writes counts as a state when it is one (by path): judged by the
    workspace its terraform.tfstate.d path names. Mutation: return early for every
    "written file" in _state_rules -> not production."""
    config = policy.load({"HOME": str(root)}, str(root))
    written = [("written file", f"../x/{PROD_STATE}")]
    verdict = policy.judge(config, {"HOME": str(root)}, str(root), states=written)
    assert verdict.production
    assert "is the state of workspace 'prod'" in verdict.reason
    plan = [("written file", "plans/prod.tfplan")]  # a plan, not a state: not judged
    assert not policy.judge(config, {"HOME": str(root)}, str(root), states=plan).production


# -- 4. terraform test: destroy provisioners in JSON and in local modules -----------------

JSON_CONFIG = {
    "resource": {
        "terraform_data": {
            "reset": {
                "for_each": {"powder": "192.0.2.65"},
                "input": "${each.value}",
                "provisioner": {
                    "local-exec": {
                        "when": "destroy",
                        "command": "echo talosctl reset --nodes ${self.input} >> reset.log",
                    }
                },
            }
        }
    }
}


@pytest.mark.parametrize("where", ["json", "module"])
def test_terraform_test_sees_destroy_provisioners_in_json_and_modules(
    where: str, workdir: Path, shim: Runner, real: Runner, env: dict[str, str]
) -> None:
    """Route 4: the refusal read only the root's *.tf; confirming the workspace then ran
    the resets. Mutation: read only *.tf files of the root -> the reset runs."""
    if where == "json":
        (workdir / "main.tf.json").write_text(json.dumps(JSON_CONFIG, indent=2))
        listed = "main.tf.json:"
    else:
        module = workdir / "modules" / "node"
        module.mkdir(parents=True)
        (module / "main.tf.json").write_text(json.dumps(JSON_CONFIG, indent=2))
        (workdir / "main.tf").write_text('module "node" {\n  source = "./modules/node"\n}\n')
        listed = "modules/node/main.tf.json:"
    (workdir / "tests").mkdir()
    (workdir / "tests" / "main.tftest.hcl").write_text('run "apply" {\n  command = apply\n}\n')
    assert real("init", "-input=false").returncode == 0
    assert real("workspace", "new", "prod").returncode == 0
    env["SAFETERRAFORM_CONFIRM_NODES"] = "prod"
    refused = shim("test")
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert listed in refused.stderr and "terraform_data.reset local-exec" in refused.stderr
    assert not (workdir / "reset.log").exists()
    assert not (workdir / "modules" / "node" / "reset.log").exists()


# -- 5. crafted plan files ----------------------------------------------------------------


def _field(number: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field (lengths here stay under 128)."""
    assert len(payload) < 128
    return bytes([number << 3 | 2, len(payload)]) + payload


@pytest.fixture()
def prod_plan(root: Path, real: Runner) -> tuple[Path, Path, Path]:
    """A plan made in workspace `default` of a directory whose local backend `path` is a
    prod state: (plan, the prod state, an empty non-production directory)."""
    prod = root / "envs" / "prod"
    prod.mkdir(parents=True)
    state = prod / "terraform.tfstate"
    (prod / "backend.tf").write_text(
        f'terraform {{\n  backend "local" {{\n    path = "{state}"\n  }}\n}}\n'
    )
    (prod / "main.tf").write_text(tfharness.incident_config(tfharness.INCIDENT_NODES))
    assert real("init", "-input=false", cwd=prod).returncode == 0
    assert real("apply", "-auto-approve", "-input=false", cwd=prod).returncode == 0
    (prod / "main.tf").write_text(
        tfharness.incident_config(tfharness.INCIDENT_NODES, talos_version="v1.7.0")
    )
    plan = root / "p.tfplan"
    assert real("plan", "-input=false", f"-out={plan}", cwd=prod).returncode == 0
    empty = root / "empty"
    empty.mkdir()
    return plan, state, empty


def _rewrite(plan: Path, change: Callable[[dict[str, bytes]], list[tuple[str, bytes]]]) -> None:
    with zipfile.ZipFile(plan) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    with warnings.catch_warnings(), zipfile.ZipFile(plan, "w") as archive:
        warnings.simplefilter("ignore")  # "Duplicate name": that is the point
        for name, data in change(members):
            archive.writestr(name, data)


@pytest.mark.parametrize("craft", ["second-backend-field", "duplicate-tfplan-member"])
def test_a_crafted_plan_is_refused_as_malformed(
    craft: str, prod_plan: tuple[Path, Path, Path], shim: Runner, home: Path
) -> None:
    """Route 5: Go merges a second protobuf field 13 (`type = "local"` only) into the first
    and reads the first of two `tfplan` members; the old reader took the last of each, saw
    the implicit local backend and passed `apply PLAN` through from an empty directory.

    Mutation: let recorded_backend read the last field / member (no duplicate check) ->
    the resets run."""
    plan, state, empty = prod_plan
    if craft == "second-backend-field":
        local = _field(13, _field(1, b"local"))
        _rewrite(plan, lambda m: [(n, d + local if n == "tfplan" else d) for n, d in m.items()])
    else:
        benign = _field(13, _field(1, b"local") + _field(3, b"default"))
        _rewrite(plan, lambda m: [*m.items(), ("tfplan", benign)])
    before = state.read_bytes()
    refused = shim("apply", "-input=false", str(plan), cwd=empty)
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "the plan file is malformed" in refused.stderr
    assert [json.loads(line)["verdict"] for line in audit_lines(home)] == ["refused"]
    assert reset_log(empty) == [] and reset_log(state.parent) == []
    assert state.read_bytes() == before


def test_an_untouched_plan_is_read_not_called_malformed(prod_plan: tuple[Path, Path, Path]) -> None:
    """A real Terraform plan has one backend record, one of each field, unique members."""
    from safeterraform import planfiles

    plan, state, _ = prod_plan
    kind, settings, workspace = planfiles.recorded_backend(str(plan)) or ("", {}, "")
    assert (kind, settings.get("path"), workspace) == ("local", str(state), "default")


# -- 6. token spellings -------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["PRoD", "PRODuction", "EUProd", "USPrd", "PRODEu", "prod1", "euProd", "PrD"]
)
def test_production_spellings(name: str) -> None:
    """Route 6: whole runs compare case-insensitively (a case-insensitive filesystem makes
    `PRoD` the directory `prod`). Mutation: drop `runs()` from production_token -> PRoD,
    PRODuction fail."""
    assert policy.has_production_token(name)


@pytest.mark.parametrize("name", ["preprod", "nonprod", "myprod", "PREPROD", "product", "Prods"])
def test_not_production_spellings(name: str) -> None:
    assert not policy.has_production_token(name)


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("EUProd", ["EU", "Prod"]),
        ("USPrd", ["US", "Prd"]),
        ("PRODEu", ["PROD", "Eu"]),
        ("ABCDef", ["ABC", "Def"]),
        ("XMLHttpProd", ["XML", "Http", "Prod"]),
    ],
)
def test_the_acronym_end_is_the_letter_before_a_lower_case_one(name: str, words: list[str]) -> None:
    """Mutation: shift the look-ahead in policy.tokens by one (`name[index + 2 : index + 3]`
    or `name[index : index + 1]`) -> these words change."""
    assert policy.tokens(name) == words


@pytest.mark.parametrize("name", ["EUProd", "USPrd", "PRODEu"])
def test_acronym_spellings_make_a_directory_production(name: str, root: Path) -> None:
    """The same spellings as path components: the verdict, not only the splitter."""
    directory = root / name
    directory.mkdir()
    verdict = policy.judge(policy.load({}, str(directory)), {}, str(directory))
    assert verdict.production, verdict.reason
