"""Routes into a production state around "where the state lives", found by attacking the
verdict from outside (README "Where the state lives").

Each test reproduces one route that let a production-state-changing command run without
the guard on the code it was written against (the remote state's bytes changed, the
destroy-time provisioners ran), against the real Terraform and a real backend (the `http`
state server, PostgreSQL, S3 in moto). A closed route is a refusal (exit 3) with the
bytes unchanged and nothing reset.
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest

from safeterraform import policy
from tests import pg_server, tfharness
from tests.conftest import Runner
from tests.http_state_server import HttpStateServer
from tests.test_aws import moto
from tests.test_guard import reset_log
from tests.test_state_location import MOTO_KEYS

__all__ = ["moto"]


@pytest.fixture()
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A temp dir whose path has no production token (tmp_path carries the test's name)."""
    directory = tmp_path_factory.mktemp("root")
    assert not any(policy.has_production_token(part) for part in directory.parts)
    return directory


@pytest.fixture()
def server() -> Iterator[HttpStateServer]:
    with HttpStateServer().serve() as running:
        yield running


def _stack(directory: Path, kind: str) -> Path:
    """The incident's configuration with an empty `kind` backend block."""
    directory.mkdir()
    (directory / "backend.tf").write_text(f'terraform {{\n  backend "{kind}" {{}}\n}}\n')
    (directory / "main.tf").write_text(tfharness.incident_config(tfharness.INCIDENT_NODES))
    return directory


def _applied(real: Runner, directory: Path, *init_args: str) -> None:
    """init + apply with the real terraform, then the one-line change that replaces the
    three nodes (their destroy-time provisioners reset them) on the next apply."""
    for args in (["init", "-input=false", *init_args], ["apply", "-auto-approve", "-input=false"]):
        done = real(*args, cwd=directory)
        assert done.returncode == 0, done.stdout + done.stderr
    (directory / "main.tf").write_text(
        tfharness.incident_config(tfharness.INCIDENT_NODES, talos_version="v1.7.0")
    )


def _refused(ran: subprocess.CompletedProcess[str], directory: Path) -> None:
    assert ran.returncode == 3, ran.stdout + ran.stderr
    assert reset_log(directory) == [], "the destroy-time provisioners ran"


# -- A. the recorded backend read differently from Terraform ------------------------------


def _retyped(text: bytes) -> bytes:
    data = json.loads(text)
    data["backend"]["Type"] = data["backend"].pop("type")
    return json.dumps(data).encode()


def _invalid_utf8(text: bytes) -> bytes:
    return text.replace(b"{", b'{"note": "\xff",', 1)


def _split_backend(text: bytes) -> bytes:
    data = json.loads(text)
    hash_value = data["backend"].pop("hash")
    return json.dumps(data)[:-1].encode() + f', "BACKEND": {{"hash": {hash_value}}}}}'.encode()


@pytest.mark.parametrize(
    "edit",
    [_retyped, _invalid_utf8, _split_backend],
    ids=["Type-key", "invalid-utf8", "backend-twice"],
)
def test_the_recorded_backend_is_read_as_terraform_reads_it(
    edit: Callable[[bytes], bytes],
    root: Path,
    server: HttpStateServer,
    shim: Runner,
    real: Runner,
) -> None:
    """Route: DATA_DIR/terraform.tfstate edited (a hostile repository shipping `.terraform/`,
    a tool rewriting it): `"Type"` for `"type"`, an invalid UTF-8 byte in an unrelated
    string, or a second `"BACKEND"` object holding only the hash. Go's encoding/json
    matches keys in any case, replaces invalid UTF-8 and decodes a repeated key into the
    struct the first one filled, so Terraform still uses the prod `http` backend; the
    shim read no backend (judged the local default) and passed `apply -auto-approve`
    through: prod state rewritten, three resets. Now read as Go reads it, refused.

    Mutations (each lets its case through): `_go_fields` compares `key` instead of
    `key.casefold()` (Type-key); `raw.decode("utf-8", "replace")` made strict
    (invalid-utf8); `objects = [value]` instead of appending (backend-twice)."""
    directory = _stack(root / "stack", "http")
    _applied(real, directory, f"-backend-config=address={server.url}/state/prod")
    before = server.states["/state/prod"]
    recorded = directory / ".terraform" / "terraform.tfstate"
    recorded.write_bytes(edit(recorded.read_bytes()))
    plan = real("plan", "-input=false", "-lock=false", cwd=directory)
    assert plan.returncode == 0 and "3 to destroy" in plan.stdout, plan.stderr
    assert server.states["/state/prod"] == before, "terraform still reads the prod backend"

    ran = shim("apply", "-auto-approve", "-input=false", cwd=directory)
    _refused(ran, directory)
    assert f"{server.url}/state/prod has the production word 'prod'" in ran.stderr
    assert server.states["/state/prod"] == before


# -- B. pg settings Terraform's driver takes from elsewhere --------------------------------


@pytest.mark.parametrize(
    ("conn_str_of", "env_extra"),
    [
        (
            lambda port: f"postgres://postgres@127.0.0.1:{port}/?sslmode=disable",
            {"PGDATABASE": "prod"},
        ),
        (
            lambda port: f"host=127.0.0.1 port={port} user=postgres sslmode=disable",
            {"PGDATABASE": "prod"},
        ),
        (
            lambda port: f"host=127.0.0.1 port={port} user=postgres sslmode=disable dbname = prod",
            {},
        ),
    ],
    ids=["url-PGDATABASE", "keywords-PGDATABASE", "keywords-spaced-dbname"],
)
def test_pg_database_from_the_environment_or_a_spaced_keyword(
    conn_str_of: Callable[[int], str],
    env_extra: dict[str, str],
    root: Path,
    shim: Runner,
    real: Runner,
    env: dict[str, str],
) -> None:
    """Route: the pg backend's conn_str names no database (or `dbname = prod` with spaces,
    as libpq allows) and the user's environment has PGDATABASE=prod: lib/pq connects to
    the `prod` database, the shim's location said `pg://127.0.0.1:PORT/?schema=...`
    (no database) and `apply -auto-approve` passed through, rewriting the prod database's
    state. Now PGHOST/PGPORT/PGDATABASE fill what conn_str leaves out, keywords are read
    with spaces and quotes, and it is refused naming `pg://127.0.0.1:PORT/prod?...`.

    Mutations: `_pg_location` ignores the environment (`else ""`) -> the PGDATABASE
    cases run; `_pg_pairs` back to `word.split("=", 1)` per word -> the spaced case runs."""
    reason = pg_server.missing()
    if reason is not None:
        pytest.skip(f"pg backend not tested: {reason}")
    with pg_server.serve() as served:
        port = pg_server.port_of(served)
        pg_server.psql(port, "postgres", "CREATE DATABASE prod")
        env.update(env_extra)
        directory = _stack(root / "stack", "pg")
        _applied(real, directory, f"-backend-config=conn_str={conn_str_of(port)}")
        sql = "SELECT md5(data) FROM terraform_remote_state.states WHERE name = 'default'"
        before = pg_server.psql(port, "prod", sql)
        assert before.strip(), "terraform did not keep its state in the prod database"

        ran = shim("apply", "-auto-approve", "-input=false", cwd=directory)
        _refused(ran, directory)
        assert f"pg://127.0.0.1:{port}/prod?schema=terraform_remote_state" in ran.stderr
        assert pg_server.psql(port, "prod", sql) == before


# -- C. a %-escaped word in an http address -------------------------------------------------


def test_a_percent_escaped_http_address_is_judged_decoded(
    root: Path, shim: Runner, real: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Route: `-backend-config=address=http://host/state/%70rod`. Terraform sends the path
    as written and the server (as any HTTP server does; here the test server decodes it)
    reads `/state/prod`; the shim judged the words `%70rod` (tokens `70`, `rod`) and passed
    `apply -auto-approve` through: prod state rewritten. Now the location is also judged
    with its %-escapes decoded, and refused naming the decoded spelling.

    Mutation: `location_rule` judges only the location as written -> apply runs."""
    original = http.server.BaseHTTPRequestHandler.parse_request

    def decoding(self: http.server.BaseHTTPRequestHandler) -> bool:
        parsed = original(self)
        self.path = unquote(self.path)
        return parsed

    monkeypatch.setattr(http.server.BaseHTTPRequestHandler, "parse_request", decoding)
    with HttpStateServer().serve() as server:
        directory = _stack(root / "stack", "http")
        _applied(real, directory, f"-backend-config=address={server.url}/state/%70rod")
        before = server.states["/state/prod"]

        ran = shim("apply", "-auto-approve", "-input=false", cwd=directory)
        _refused(ran, directory)
        assert f"(decoded: {server.url}/state/prod)" in ran.stderr, ran.stderr
        assert server.states["/state/prod"] == before


# -- D. a migrating init whose target the shim misread ------------------------------------


@pytest.fixture()
def prod_and_other(
    root: Path, server: HttpStateServer, real: Runner
) -> tuple[Path, Callable[[], bytes]]:
    """The prod state on the http server, and another directory with local state that a
    migrating init would copy over it."""
    _applied(
        real, _stack(root / "stack", "http"), f"-backend-config=address={server.url}/state/prod"
    )
    other = root / "other"
    other.mkdir()
    (other / "main.tf").write_text('resource "terraform_data" "x" {}\n')
    for args in (["init", "-input=false"], ["apply", "-auto-approve", "-input=false"]):
        assert real(*args, cwd=other).returncode == 0
    return other, lambda: server.states["/state/prod"]


def _json_array_body(url: str) -> tuple[str, str]:
    body = {"address": f"{url}/state/prod", "update_method": "POST"}
    return "backend.tf.json", json.dumps({"terraform": {"backend": {"http": [body]}}})


def _json_terraform_array(url: str) -> tuple[str, str]:
    body = {"address": f"{url}/state/prod"}
    return "backend.tf.json", json.dumps({"terraform": [{"backend": {"http": body}}]})


def _hcl_escape(url: str) -> tuple[str, str]:
    return (
        "backend.tf",
        f'terraform {{\n  backend "http" {{\n    address = "{url}/state/\\u0070rod"\n  }}\n}}\n',
    )


def _hcl_template(url: str) -> tuple[str, str]:
    return (
        "backend.tf",
        f'terraform {{\n  backend "http" {{\n    address = "{url}/state/pr${{""}}od"\n  }}\n}}\n',
    )


@pytest.mark.parametrize(
    "backend_file",
    [_json_array_body, _json_terraform_array, _hcl_escape, _hcl_template],
    ids=["json-array-body", "json-terraform-array", "hcl-u0070", "hcl-template"],
)
def test_a_migrating_init_reads_the_backend_block_as_terraform_does(
    backend_file: Callable[[str], tuple[str, str]],
    prod_and_other: tuple[Path, Callable[[], bytes]],
    server: HttpStateServer,
    shim: Runner,
) -> None:
    """Route: `init -migrate-state -force-copy` in a directory with local state whose new
    backend block points at the prod `http` state in a spelling the shim misread:
    `"http": [{...}]` in a .tf.json (read as `{"address": "update_method"}`), a
    `"terraform": [...]` array (a traceback), `"\\u0070rod"` (HCL decodes the escape;
    the shim kept it), `"pr${""}od"` (a literal-only template). The migration copied
    the other directory's state over prod's. Now every JSON spelling gives the body,
    HCL escapes are decoded and a template fails closed: refused, prod's bytes unchanged.

    Mutations: `_json_blocks` reading only `"backend": {"http": {...}}` -> json cases run
    or crash; `_literal` returning `text` unchanged -> hcl cases run."""
    other, stored = prod_and_other
    before = stored()
    name, text = backend_file(server.url)
    (other / name).write_text(text)
    ran = shim("init", "-input=false", "-migrate-state", "-force-copy", cwd=other)
    assert ran.returncode == 3, ran.stdout + ran.stderr
    assert "Traceback" not in ran.stderr
    assert stored() == before


# -- E. the s3 endpoint chosen by the environment ----------------------------------------


def test_the_s3_endpoint_is_part_of_the_location(
    root: Path, shim: Runner, real: Runner, env: dict[str, str], moto: str
) -> None:
    """Route: one bucket and key name on two S3 stores (self-hosted S3 per environment),
    the store chosen by `AWS_ENDPOINT_URL_S3` in the user's shell. `[production] backends`
    names the production store (`*endpoint=<its URL>*`, here moto's); the location was
    `s3://bucket/key` whatever the endpoint, so no glob could name it, and
    `apply -auto-approve` passed through, rewriting the state there. Now the endpoint
    (`endpoints.s3`, else AWS_ENDPOINT_URL_S3, AWS_S3_ENDPOINT, AWS_ENDPOINT_URL) is
    part of the location (`s3://bucket/key?endpoint=...`), and it is refused.

    Mutation: `shown = ""` in state_location's s3 branch -> apply runs."""
    import boto3

    for name in [name for name in env if name.startswith("AWS_")]:
        del env[name]
    env.update(
        AWS_EC2_METADATA_DISABLED="true",
        AWS_ENDPOINT_URL_S3=moto,
        AWS_ACCESS_KEY_ID=MOTO_KEYS[0],
        AWS_SECRET_ACCESS_KEY=MOTO_KEYS[1],
    )
    bucket = f"tfstate-{os.urandom(4).hex()}"
    client = boto3.client(
        "s3",
        endpoint_url=moto,
        region_name="us-east-1",
        aws_access_key_id=MOTO_KEYS[0],
        aws_secret_access_key=MOTO_KEYS[1],
    )
    client.create_bucket(Bucket=bucket)
    directory = _stack(root / "stack", "s3")
    (directory / "app.s3.tfbackend").write_text(
        f'bucket = "{bucket}"\nkey = "app/terraform.tfstate"\nregion = "us-east-1"\n'
        "use_path_style = true\nskip_credentials_validation = true\n"
        "skip_requesting_account_id = true\nskip_metadata_api_check = true\n"
    )
    (directory / ".safeterraform.toml").write_text(
        f'[production]\nbackends = ["*endpoint={moto}*"]\n'
    )
    _applied(real, directory, "-backend-config=app.s3.tfbackend")

    def stored() -> bytes:
        answer = client.get_object(Bucket=bucket, Key="app/terraform.tfstate")
        return bytes(answer["Body"].read())

    before = stored()
    ran = shim("apply", "-auto-approve", "-input=false", cwd=directory)
    _refused(ran, directory)
    assert f"s3://{bucket}/app/terraform.tfstate?endpoint={moto} matches backends" in ran.stderr
    assert stored() == before
