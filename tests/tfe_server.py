"""A small TFE-compatible HTTPS API on 127.0.0.1 for the remote-backend tests (issue 17 item 3).

Enough of HCP Terraform / Terraform Enterprise for `terraform init` with `backend "remote"`
or a `cloud` block (service discovery, ping, entitlements, organization, workspaces, locks,
state versions) and for the start of a remote run (configuration upload, run creation): the
run then stays `pending`, so a test sees Terraform try and stops it. Every request is kept
in `TfeServer.requests`. The certificate is self-signed for 127.0.0.1; Terraform trusts it
through SSL_CERT_FILE. Shapes follow the public API documentation (JSON:API documents).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import itertools
import json
import ssl
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

API = "/api/v2/"
API_VERSION = "2.6"
JSON_API = "application/vnd.api+json"


def write_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (and localhost) and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "tfe.crt", directory / "tfe.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class Request:
    """One request as the server saw it."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    authorization: str | None


@dataclass
class Workspace:
    id: str
    name: str
    organization: str
    tags: list[str] = field(default_factory=list)
    execution_mode: str = "remote"
    terraform_version: str = "latest"
    locked: bool = False
    states: list[dict[str, Any]] = field(default_factory=list)

    def document(self) -> dict[str, Any]:
        permissions = {
            f"can-{what}": True
            for what in (
                "destroy", "force-unlock", "lock", "queue-apply", "queue-destroy", "queue-run",
                "read-settings", "read-state-versions", "read-variable", "unlock", "update",
                "update-variable", "create-state-versions", "read-state-outputs",
            )
        }  # fmt: skip
        current = self.states[-1]["id"] if self.states else None
        return {
            "id": self.id,
            "type": "workspaces",
            "attributes": {
                "name": self.name,
                "execution-mode": self.execution_mode,
                "operations": self.execution_mode == "remote",
                "terraform-version": self.terraform_version,
                "locked": self.locked,
                "auto-apply": False,
                "working-directory": "",
                "structured-run-output-enabled": False,
                "tag-names": self.tags,
                "permissions": permissions,
                "actions": {"is-destroyable": True},
                "setting-overwrites": {"execution-mode": True, "agent-pool": True},
            },
            "relationships": {
                "organization": {"data": {"id": self.organization, "type": "organizations"}},
                "current-state-version": {
                    "data": {"id": current, "type": "state-versions"} if current else None
                },
            },
            "links": {"self": f"{API}workspaces/{self.id}"},
        }


class _NotFound(Exception):
    pass


class TfeServer:
    """The API's data and its routes; `serve()` runs it over HTTPS in a thread."""

    def __init__(self, token: str, organization: str = "o") -> None:
        self.token = token
        self.organization = organization
        self.workspaces: dict[str, Workspace] = {}
        self.requests: list[Request] = []
        self.blobs: dict[str, bytes] = {}
        self.runs: list[dict[str, Any]] = []
        self.port = 0
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    # -- what tests use ---------------------------------------------------------------
    @property
    def hostname(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"https://{self.hostname}"

    def add_workspace(self, name: str, tags: list[str] | None = None) -> Workspace:
        with self._lock:
            return self._add_workspace(name, tags or [])

    def cli_config(self) -> str:
        """The CLI configuration block that gives Terraform this server's token."""
        return f'credentials "{self.hostname}" {{\n  token = "{self.token}"\n}}\n'

    def backend_block(self, workspaces: str = 'name = "prod"', kind: str = "remote") -> str:
        """A `backend "remote"` (kind="remote") or `cloud` block (kind="cloud") for this API;
        `workspaces` is the inside of its `workspaces` block (`name = ...`, `prefix = ...`,
        `tags = [...]`)."""
        opening = 'backend "remote"' if kind == "remote" else "cloud"
        return (
            f'{opening} {{\n    hostname     = "{self.hostname}"\n'
            f'    organization = "{self.organization}"\n'
            f"    workspaces {{\n      {workspaces}\n    }}\n  }}"
        )

    def wait_for_run(self, timeout: float = 60) -> dict[str, Any]:
        """The first run Terraform created, waiting up to `timeout` seconds for it."""
        deadline = time.monotonic() + timeout
        while not self.runs:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no run was created within {timeout} s")
            time.sleep(0.1)
        return self.runs[0]

    def seen(self, method: str, path: str) -> bool:
        return any(r.method == method and r.path == path for r in self.requests)

    def current_state(self, workspace: str) -> dict[str, Any] | None:
        states = self.workspaces[workspace].states
        return json.loads(self.blobs[states[-1]["id"]]) if states else None

    # -- routing ----------------------------------------------------------------------
    def _new_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids):08d}"

    def _add_workspace(self, name: str, tags: list[str]) -> Workspace:
        workspace = Workspace(self._new_id("ws"), name, self.organization, tags)
        self.workspaces[name] = workspace
        return workspace

    def _by_id(self, workspace_id: str) -> Workspace:
        for workspace in self.workspaces.values():
            if workspace.id == workspace_id:
                return workspace
        raise _NotFound

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> Any:
        """The JSON answer (or bytes, or None for 204) for one request; raises _NotFound."""
        with self._lock:
            return self._route(method, path.rstrip("/"), query, body)

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> Any:
        org = f"{API}organizations/{self.organization}"
        parts = path.split("/")
        if path == "/.well-known/terraform.json":
            return {
                "tfe.v2": API,
                "tfe.v2.1": API,
                "tfe.v2.2": API,
                "motd.v1": "/api/terraform/motd",
            }
        if path == "/api/terraform/motd":
            return {"msg": ""}
        if path == f"{API}ping".rstrip("/"):
            return None
        if path == org:
            return {"data": {"id": self.organization, "type": "organizations",
                             "attributes": {"name": self.organization}}}  # fmt: skip
        if path == f"{org}/entitlement-set":
            features = ("operations", "private-module-registry", "sentinel", "state-storage",
                        "teams", "vcs-integrations")  # fmt: skip
            return {"data": {"id": f"org-{self.organization}", "type": "entitlement-sets",
                             "attributes": dict.fromkeys(features, True)}}  # fmt: skip
        if path == f"{org}/workspaces" and method == "GET":
            return self._list_workspaces(query)
        if path == f"{org}/workspaces" and method == "POST":
            attributes = body["data"]["attributes"]
            tags = [tag["attributes"]["name"] for tag in attributes.get("tags", []) or []]
            return {"data": self._add_workspace(attributes["name"], tags).document()}
        if path.startswith(f"{org}/workspaces/") and len(parts) == 7:
            if parts[6] not in self.workspaces:
                raise _NotFound
            return {"data": self.workspaces[parts[6]].document()}
        if path.startswith(f"{API}workspaces/"):
            return self._workspace_route(method, parts[4], parts[5:], body)
        if path.startswith(f"{API}state-versions/") and len(parts) == 6 and parts[5] == "download":
            return self.blobs[parts[4]]
        if path.startswith(f"{API}configuration-versions/"):
            return self._configuration_version(method, parts[4:], body)
        if path == f"{API}runs".rstrip("/") and method == "POST":
            run = {"id": self._new_id("run"), "type": "runs",
                   "attributes": {"status": "pending", "is-destroy": False,
                                  "actions": {"is-cancelable": True, "is-discardable": True},
                                  "permissions": {"can-apply": True, "can-cancel": True,
                                                  "can-discard": True}},
                   "relationships": body["data"].get("relationships", {})}  # fmt: skip
            self.runs.append(run)
            return {"data": run}
        if path == f"{org}/runs/queue":
            return self._page(self.runs)
        if path.startswith(f"{API}runs/") and len(parts) == 6 and parts[5] == "run-events":
            return self._page([])
        if path.startswith(f"{API}runs/") and len(parts) == 5:
            for run in self.runs:
                if run["id"] == parts[4]:
                    return {"data": run}
        raise _NotFound

    @staticmethod
    def _page(items: list[dict[str, Any]]) -> dict[str, Any]:
        """A JSON:API list: one page holding everything."""
        pagination = {"current-page": 1, "next-page": None, "prev-page": None,
                      "total-pages": 1, "total-count": len(items)}  # fmt: skip
        return {"data": items, "meta": {"pagination": pagination}}

    def _list_workspaces(self, query: dict[str, list[str]]) -> Any:
        name = query.get("search[name]", [""])[0]
        tags = [t for t in query.get("search[tags]", [""])[0].split(",") if t]
        chosen = [
            workspace.document()
            for workspace in self.workspaces.values()
            if name in workspace.name and all(tag in workspace.tags for tag in tags)
        ]
        return self._page(chosen)

    def _workspace_route(self, method: str, workspace_id: str, rest: list[str], body: Any) -> Any:
        workspace = self._by_id(workspace_id)
        if not rest:
            if method == "PATCH":
                attributes = body["data"]["attributes"]
                workspace.terraform_version = attributes.get(
                    "terraform-version", workspace.terraform_version
                )
                workspace.execution_mode = attributes.get(
                    "execution-mode", workspace.execution_mode
                )
            return {"data": workspace.document()}
        if rest[0] == "actions" and rest[1] in ("lock", "unlock", "force-unlock"):
            workspace.locked = rest[1] == "lock"
            return {"data": workspace.document()}
        if rest == ["current-state-version"]:
            if not workspace.states:
                raise _NotFound
            return {"data": workspace.states[-1]}
        if rest == ["current-state-version-outputs"]:
            return {"data": []}
        if rest == ["state-versions"] and method == "POST":
            return {"data": self._add_state(workspace, body["data"]["attributes"])}
        if rest == ["runs"] and method == "GET":
            return self._page(self.runs)
        if rest == ["configuration-versions"] and method == "POST":
            version_id = self._new_id("cv")
            return {"data": {"id": version_id, "type": "configuration-versions",
                             "attributes": {"status": "pending", "upload-url":
                                            f"{self.url}{API}configuration-versions/"
                                            f"{version_id}/upload"}}}  # fmt: skip
        raise _NotFound

    def _add_state(self, workspace: Workspace, attributes: Mapping[str, Any]) -> dict[str, Any]:
        state_id = self._new_id("sv")
        raw = base64.b64decode(attributes.get("state", ""))
        if hashlib.md5(raw).hexdigest() != attributes.get("md5"):
            raise ValueError("state md5 does not match")
        self.blobs[state_id] = raw
        version = {
            "id": state_id,
            "type": "state-versions",
            "attributes": {
                "serial": attributes.get("serial"),
                "status": "finalized",
                "hosted-state-download-url": f"{self.url}{API}state-versions/{state_id}/download",
                "resources-processed": True,
            },
        }
        workspace.states.append(version)
        return version

    def _configuration_version(self, method: str, rest: list[str], body: Any) -> Any:
        version_id = rest[0]
        if rest[1:] == ["upload"] and method == "PUT":
            self.blobs[version_id] = body if isinstance(body, bytes) else b""
            return None
        return {"data": {"id": version_id, "type": "configuration-versions",
                         "attributes": {"status": "uploaded"
                                        if version_id in self.blobs else "pending"}}}  # fmt: skip

    # -- HTTPS ------------------------------------------------------------------------
    @contextmanager
    def serve(self, certificate: Path, key: Path) -> Iterator[TfeServer]:
        """Listen on a free 127.0.0.1 port over TLS until the block ends."""
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the requests are kept in `api.requests`."""

            def _answer(self) -> None:
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body: Any = raw
                if raw and "json" in (self.headers.get("Content-Type") or ""):
                    body = json.loads(raw)
                query = parse_qs(split.query)
                authorization = self.headers.get("Authorization")
                api.requests.append(Request(self.command, split.path, query, body, authorization))
                public = split.path in ("/.well-known/terraform.json",) or split.path.endswith(
                    "/upload"
                )
                if not public and authorization != f"Bearer {api.token}":
                    self._send(401, {"errors": [{"status": "401", "title": "unauthorized"}]})
                    return
                try:
                    answer = api.handle(self.command, split.path, query, body)
                except (_NotFound, KeyError, IndexError):
                    self._send(404, {"errors": [{"status": "404", "title": "not found"}]})
                    return
                plain = split.path.startswith(("/.well-known/", "/api/terraform/"))
                self._send(200 if answer is not None else 204, answer, plain)

            def _send(self, status: int, answer: Any, plain: bool = False) -> None:
                data = b""
                if isinstance(answer, bytes):
                    data = answer
                elif answer is not None:
                    data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json" if plain else JSON_API)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("TFP-API-Version", API_VERSION)
                self.send_header("TFP-AppName", "Terraform Enterprise")
                self.send_header("X-TFE-Version", "v202501-1")
                self.send_header("X-RateLimit-Limit", "30")
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _answer

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certificate, key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self.port = server.server_address[1]
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=10)
