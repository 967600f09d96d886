"""What `terraform init` leaves in the data dir for each kind of backend (issue 17 item 3).

`generate(dest)` runs the real Terraform's `init` against local servers (the TFE API, an
`http` state server, PostgreSQL when installed) and writes, per case, the configuration
(`main.tf`), `.terraform/terraform.tfstate` as `terraform.tfstate`, and
`.terraform/environment` as `environment` when init wrote one. Server ports are replaced
by fixed ones (TFE 8443, http 8080, pg 5432) so the files are stable; the `hash` field is
Terraform's hash of the configuration with the real port. scripts/make_backend_fixtures.py
regenerates tests/fixtures/backends/ with it.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests import pg_server, tfharness
from tests.http_state_server import HttpStateServer
from tests.tfe_server import TfeServer, write_certificate

RESOURCE = 'resource "terraform_data" "node" {\n  input = "a"\n}\n'
FIXED_PORTS = {"tfe": 8443, "http": 8080, "pg": 5432}


@dataclass(frozen=True)
class Case:
    name: str
    block: Callable[[Servers], str]
    select: str | None = None  # init with TF_WORKSPACE set to it, then `workspace select` it


@dataclass
class Servers:
    tfe: TfeServer
    http: HttpStateServer
    pg: str | None  # conn_str, None when PostgreSQL is not installed

    def normalise(self, text: str) -> str:
        text = text.replace(self.tfe.hostname, f"127.0.0.1:{FIXED_PORTS['tfe']}")
        text = text.replace(f"127.0.0.1:{self.http.port}", f"127.0.0.1:{FIXED_PORTS['http']}")
        if self.pg:
            port = pg_server.port_of(self.pg)
            text = text.replace(f"127.0.0.1:{port}", f"127.0.0.1:{FIXED_PORTS['pg']}")
        return re.sub(r'"terraform_version": "[^"]+"', '"terraform_version": "1.15.x"', text)


def _pg_block(servers: Servers) -> str:
    assert servers.pg is not None
    return f'backend "pg" {{\n    conn_str = "{servers.pg}"\n  }}'


CASES = [
    Case("remote-name", lambda s: s.tfe.backend_block('name = "prod"')),
    Case("remote-prefix", lambda s: s.tfe.backend_block('prefix = "app-"'), "prod"),
    Case("cloud-name", lambda s: s.tfe.backend_block('name = "prod"', kind="cloud")),
    Case("cloud-tags", lambda s: s.tfe.backend_block('tags = ["app"]', kind="cloud"), "app-prod"),
    Case("http", lambda s: s.http.backend_block()),
    Case("local-path", lambda s: 'backend "local" {\n    path = "state/prod.tfstate"\n  }'),
    Case("pg", _pg_block),
]


@contextmanager
def servers(base: Path) -> Iterator[Servers]:
    with ExitStack() as stack:
        tfe = stack.enter_context(TfeServer("fixture-token").serve(*write_certificate(base)))
        for name, tags in (("app-prod", ["app"]), ("app-staging", ["app"])):
            tfe.add_workspace(name, tags)
        http = stack.enter_context(HttpStateServer().serve())
        pg = None if pg_server.missing() else stack.enter_context(pg_server.serve())
        yield Servers(tfe, http, pg)


def generate(dest: Path) -> list[str]:
    """Write every case under dest/<case>/; returns the cases skipped (and why)."""
    skipped = []
    with tempfile.TemporaryDirectory(prefix="safeterraform-backends-") as tmp:
        base = Path(tmp)
        terraform = tfharness.build_terraform(base / "bin")
        env = tfharness.clean_env(base / "home")
        with servers(base) as running:
            Path(env["TF_CLI_CONFIG_FILE"]).write_text(running.tfe.cli_config())
            env["SSL_CERT_FILE"] = str(base / "tfe.crt")
            for case in CASES:
                if case.name == "pg" and running.pg is None:
                    skipped.append(f"pg: {pg_server.missing()}")
                    continue
                work = base / "work" / case.name
                work.mkdir(parents=True)
                config = f"terraform {{\n  {case.block(running)}\n}}\n\n{RESOURCE}"
                (work / "main.tf").write_text(config)
                steps = [(["init", "-input=false"], {"TF_WORKSPACE": case.select or ""})]
                if case.select:
                    steps.append((["workspace", "select", case.select], {}))
                for args, extra in steps:
                    step_env = {**env, **{k: v for k, v in extra.items() if v}}
                    result = tfharness.run(terraform, args, work, step_env)
                    if result.returncode != 0:
                        raise RuntimeError(f"{args[0]} for {case.name} failed: {result.stderr}")
                out = dest / case.name
                shutil.rmtree(out, ignore_errors=True)
                out.mkdir(parents=True)
                (out / "main.tf").write_text(running.normalise(config))
                for name in ("terraform.tfstate", "environment"):
                    source = work / ".terraform" / name
                    if source.exists():
                        (out / name).write_text(running.normalise(source.read_text()))
    return skipped
