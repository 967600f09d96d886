"""A throwaway PostgreSQL server on 127.0.0.1 for the `pg` backend tests.

initdb + pg_ctl into a temporary directory (well under a second); run as the `postgres`
user when the tests run as root, since PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PROGRAMS = ("initdb", "pg_ctl", "psql")


def missing() -> str | None:
    """Why no server can be started here, or None."""
    absent = [name for name in PROGRAMS if shutil.which(name) is None]
    if absent:
        return f"PostgreSQL is not installed ({', '.join(absent)} not on PATH)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no `postgres` user to run PostgreSQL as"
    return None


def _as_server_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _run(command: list[str], cwd: Path) -> None:
    result = subprocess.run(_as_server_user(command), cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:1])} failed: {result.stderr.strip()}")


@contextmanager
def serve() -> Iterator[str]:
    """A running server with a `terraform` database; yields the pg backend's conn_str.

    Its directory is its own (pytest's temporary root is closed to the `postgres` user)."""
    directory = Path(tempfile.mkdtemp(prefix="safeterraform-pg-"))
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres")
    data = directory / "data"
    try:
        _run(["initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync",
              "-E", "UTF8"], directory)  # fmt: skip
        for attempt in range(3):  # another test worker may take the port before the server
            port = _free_port()
            options = f"-k {directory} -h 127.0.0.1 -p {port} -F"
            try:
                _run(["pg_ctl", "-D", str(data), "-o", options, "-l",
                      str(directory / "server.log"), "-w", "start"], directory)  # fmt: skip
                break
            except RuntimeError:
                if attempt == 2:
                    raise
        try:
            psql(port, "postgres", "CREATE DATABASE terraform")
            yield f"postgres://postgres@127.0.0.1:{port}/terraform?sslmode=disable"
        finally:
            _run(["pg_ctl", "-D", str(data), "-m", "immediate", "stop"], directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def psql(port: int, database: str, sql: str) -> str:
    """Run one statement; its unaligned, tuples-only output."""
    result = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", database,
         "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return result.stdout


def port_of(conn_str: str) -> int:
    return int(conn_str.split("@127.0.0.1:", 1)[1].split("/", 1)[0])
