"""A tiny Terraform `http` backend state server on 127.0.0.1 (GET/POST/DELETE, LOCK/UNLOCK).

The protocol is the one Terraform's http backend speaks: GET returns the state (404 when
there is none), POST stores it, LOCK/UNLOCK take and release a lock (409 when taken).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class HttpStateServer:
    """States by URL path; `serve()` runs it in a thread on a free port."""

    def __init__(self) -> None:
        self.states: dict[str, bytes] = {}
        self.locks: dict[str, bytes] = {}
        self.methods: list[str] = []
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def backend_block(self, path: str = "/state/prod") -> str:
        address = f"{self.url}{path}"
        return (
            f'backend "http" {{\n    address        = "{address}"\n'
            f'    lock_address   = "{address}"\n    unlock_address = "{address}"\n  }}'
        )

    def state(self, path: str = "/state/prod") -> dict[str, Any]:
        return dict(json.loads(self.states[path]))

    @contextmanager
    def serve(self) -> Iterator[HttpStateServer]:
        store = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

            def _reply(self, status: int, body: bytes = b"") -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_GET(self) -> None:
                store.methods.append("GET")
                state = store.states.get(self.path.split("?")[0])
                self._reply(200, state) if state is not None else self._reply(404)

            def do_POST(self) -> None:
                store.methods.append("POST")
                store.states[self.path.split("?")[0]] = self._body()
                self._reply(200)

            def do_DELETE(self) -> None:
                store.methods.append("DELETE")
                store.states.pop(self.path.split("?")[0], None)
                self._reply(200)

            def do_LOCK(self) -> None:
                store.methods.append("LOCK")
                body = self._body()
                if self.path in store.locks:
                    self._reply(409, store.locks[self.path])
                    return
                store.locks[self.path] = body
                self._reply(200)

            def do_UNLOCK(self) -> None:
                store.methods.append("UNLOCK")
                self._body()
                store.locks.pop(self.path, None)
                self._reply(200)

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = server.server_address[1]
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=10)
