"""probe"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import pg_server, tfharness
from tests.conftest import Runner
from tests.http_state_server import HttpStateServer
from tests.test_guard import reset_log


@pytest.fixture()
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from safeterraform.policy import has_production_token

    directory = tmp_path_factory.mktemp("root")
    assert not any(has_production_token(part) for part in directory.parts)
    return directory


def _stack(directory: Path, kind: str) -> None:
    directory.mkdir()
    (directory / "backend.tf").write_text(f'terraform {{\n  backend "{kind}" {{}}\n}}\n')
    (directory / "main.tf").write_text(tfharness.incident_config(tfharness.INCIDENT_NODES))


def _change(directory: Path) -> None:
    (directory / "main.tf").write_text(
        tfharness.incident_config(tfharness.INCIDENT_NODES, talos_version="v1.7.0")
    )


def test_probe_case_keys(root: Path, shim: Runner, real: Runner) -> None:
    with HttpStateServer().serve() as server:
        directory = root / "stack"
        _stack(directory, "http")
        config = f"-backend-config=address={server.url}/state/prod"
        for args in (["init", "-input=false", config], ["apply", "-auto-approve", "-input=false"]):
            done = real(*args, cwd=directory)
            assert done.returncode == 0, done.stderr
        _change(directory)
        before = server.states["/state/prod"]
        recorded = directory / ".terraform" / "terraform.tfstate"
        data = json.loads(recorded.read_text())
        data["backend"]["Type"] = data["backend"].pop("type")
        recorded.write_text(json.dumps(data))
        ran = shim("apply", "-auto-approve", "-input=false", cwd=directory)
        print(ran.returncode, ran.stdout[-800:], ran.stderr[-800:])
        print(reset_log(directory))
        assert server.states["/state/prod"] == before


def test_probe_pg_env(root: Path, shim: Runner, real: Runner, env: dict[str, str]) -> None:
    with pg_server.serve() as conn_str:
        port = pg_server.port_of(conn_str)
        pg_server.psql(port, "postgres", "CREATE DATABASE prod")
        directory = root / "stack"
        _stack(directory, "pg")
        env["PGDATABASE"] = "prod"
        bare = conn_str.replace("/terraform?", "/?")
        config = f"-backend-config=conn_str={bare}"
        for args in (["init", "-input=false", config], ["apply", "-auto-approve", "-input=false"]):
            done = real(*args, cwd=directory)
            assert done.returncode == 0, done.stderr
        sql = "SELECT md5(data) FROM terraform_remote_state.states WHERE name = 'default'"
        before = pg_server.psql(port, "prod", sql)
        assert before.strip()
        _change(directory)
        ran = shim("apply", "-auto-approve", "-input=false", cwd=directory)
        print(ran.returncode, ran.stdout[-800:], ran.stderr[-800:])
        assert pg_server.psql(port, "prod", sql) == before


def test_probe_http_pct(root: Path, shim: Runner, real: Runner, monkeypatch: pytest.MonkeyPatch) -> None:
    import http.server
    from urllib.parse import unquote

    original = http.server.BaseHTTPRequestHandler.parse_request

    def parse_request(self: http.server.BaseHTTPRequestHandler) -> bool:
        ok = original(self)
        self.path = unquote(self.path)
        return ok

    monkeypatch.setattr(http.server.BaseHTTPRequestHandler, "parse_request", parse_request)
    with HttpStateServer().serve() as server:
        directory = root / "stack"
        _stack(directory, "http")
        config = f"-backend-config=address={server.url}/state/prod"
        for args in (["init", "-input=false", config], ["apply", "-auto-approve", "-input=false"]):
            done = real(*args, cwd=directory)
            assert done.returncode == 0, done.stderr
        _change(directory)
        before = server.states["/state/prod"]
        config = f"-backend-config=address={server.url}/state/%70rod"
        assert real("init", "-input=false", "-reconfigure", config, cwd=directory).returncode == 0
        ran = shim("apply", "-auto-approve", "-input=false", cwd=directory)
        print(ran.returncode, ran.stdout[-800:], ran.stderr[-800:])
        assert server.states["/state/prod"] == before


def test_probe_dup(root: Path, shim: Runner, real: Runner) -> None:
    with HttpStateServer().serve() as server:
        directory = root / "stack"
        _stack(directory, "http")
        config = f"-backend-config=address={server.url}/state/prod"
        for args in (["init", "-input=false", config], ["apply", "-auto-approve", "-input=false"]):
            done = real(*args, cwd=directory)
            assert done.returncode == 0, done.stderr
        _change(directory)
        before = server.states["/state/prod"]
        recorded = directory / ".terraform" / "terraform.tfstate"
        text = recorded.read_text()
        text = text.replace(f'"address": "{server.url}/state/prod"', f'"address": "{server.url}/state/prod", "address": "{server.url}/state/staging"', 1)
        recorded.write_text(text)
        print(text)
        ran = shim("apply", "-auto-approve", "-input=false", cwd=directory)
        print(ran.returncode, ran.stdout[-800:], ran.stderr[-800:])
        assert server.states["/state/prod"] == before


def test_probe_utf8(root: Path, shim: Runner, real: Runner) -> None:
    with HttpStateServer().serve() as server:
        directory = root / "stack"
        _stack(directory, "http")
        config = f"-backend-config=address={server.url}/state/prod"
        for args in (["init", "-input=false", config], ["apply", "-auto-approve", "-input=false"]):
            done = real(*args, cwd=directory)
            assert done.returncode == 0, done.stderr
        _change(directory)
        before = server.states["/state/prod"]
        recorded = directory / ".terraform" / "terraform.tfstate"
        raw = recorded.read_bytes()
        recorded.write_bytes(raw.replace(b'{', b'{"x": "\xff",', 1))
        ran = shim("apply", "-auto-approve", "-input=false", cwd=directory)
        print(ran.returncode, ran.stdout[-800:], ran.stderr[-800:])
        assert server.states["/state/prod"] == before


def test_probe_json_array(root: Path, shim: Runner, real: Runner) -> None:
    with HttpStateServer().serve() as server:
        directory = root / "stack"
        _stack(directory, "http")
        config = f"-backend-config=address={server.url}/state/prod"
        for args in (["init", "-input=false", config], ["apply", "-auto-approve", "-input=false"]):
            done = real(*args, cwd=directory)
            assert done.returncode == 0, done.stderr
        before = server.states["/state/prod"]
        other = root / "other"
        other.mkdir()
        (other / "main.tf").write_text('resource "terraform_data" "x" {}\n')
        for args in (["init", "-input=false"], ["apply", "-auto-approve", "-input=false"]):
            done = real(*args, cwd=other)
            assert done.returncode == 0, done.stderr
        address = f"{server.url}/state/prod"
        body = {"address": address, "update_method": "POST"}
        (other / "backend.tf.json").write_text(
            json.dumps({"terraform": {"backend": {"http": [body]}}})
        )
        ran = shim("init", "-input=false", "-migrate-state", "-force-copy", cwd=other)
        print(ran.returncode, ran.stdout[-1500:], ran.stderr[-1500:])
        assert server.states["/state/prod"] == before


@pytest.mark.parametrize("spelling", ["\\u0070rod", 'pr${""}od'])
def test_probe_hcl_escape(root: Path, shim: Runner, real: Runner, spelling: str) -> None:
    with HttpStateServer().serve() as server:
        directory = root / "stack"
        _stack(directory, "http")
        config = f"-backend-config=address={server.url}/state/prod"
        for args in (["init", "-input=false", config], ["apply", "-auto-approve", "-input=false"]):
            done = real(*args, cwd=directory)
            assert done.returncode == 0, done.stderr
        before = server.states["/state/prod"]
        other = root / "other"
        other.mkdir()
        (other / "main.tf").write_text('resource "terraform_data" "x" {}\n')
        for args in (["init", "-input=false"], ["apply", "-auto-approve", "-input=false"]):
            done = real(*args, cwd=other)
            assert done.returncode == 0, done.stderr
        (other / "backend.tf").write_text(
            f'terraform {{\n  backend "http" {{\n    address = "{server.url}/state/{spelling}"\n  }}\n}}\n'
        )
        ran = shim("init", "-input=false", "-migrate-state", "-force-copy", cwd=other)
        print(ran.returncode, ran.stdout[-1500:], ran.stderr[-1500:])
        assert server.states["/state/prod"] == before
