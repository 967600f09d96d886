"""A real provider: hashicorp/aws 5.100.0 against moto on 127.0.0.1 (issue 17 item 13).

The provider comes from a Terraform provider filesystem mirror (no network); moto serves
EC2, RDS and STS. Skipped, with the reason, where no mirror holds the provider. The EC2
scenarios apply for real: the provider waits ~10 s for each instance to run or stop.
"""

from __future__ import annotations

import glob
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pexpect
import pytest

from tests import tfharness
from tests.conftest import Runner

AWS_VERSION = "5.100.0"
MIRROR_VARIABLE = "SAFETERRAFORM_TEST_PROVIDER_MIRROR"
# Terraform's implied local mirror directories, then any mirror directly under /opt (where
# machine images put one).
MIRROR_CANDIDATES = [
    os.path.expanduser("~/.terraform.d/plugins"),
    "/usr/local/share/terraform/plugins",
    "/usr/share/terraform/plugins",
    "/opt/*",
]
MOTO_SERVER = Path(sys.executable).parent / "moto_server"
RESET = "talosctl reset --nodes"
NODES = ("powder", "poison", "phoebe")
OLD_AMI, NEW_AMI = "ami-12c6146b", "ami-1e749f67"  # both in moto's built-in AMI list
SECRET = "hunter2-Zq81sensitive"


def find_mirror() -> Path | None:
    """The first mirror directory holding hashicorp/aws AWS_VERSION (unpacked or zipped)."""
    chosen = os.environ.get(MIRROR_VARIABLE)
    patterns = [chosen] if chosen else MIRROR_CANDIDATES
    for directory in (Path(d) for pattern in patterns for d in sorted(glob.glob(pattern))):
        # <hostname>/hashicorp/aws/: unpacked <version>/<os_arch>/, or packed .zip files
        unpacked = directory.glob(f"*/hashicorp/aws/{AWS_VERSION}/*/terraform-provider-aws_*")
        packed = directory.glob(f"*/hashicorp/aws/terraform-provider-aws_{AWS_VERSION}_*.zip")
        if next(unpacked, None) or next(packed, None):
            return directory
    return None


MIRROR = find_mirror()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        MIRROR is None,
        reason=f"no Terraform provider filesystem mirror holds hashicorp/aws {AWS_VERSION} "
        f"(looked in {os.environ.get(MIRROR_VARIABLE) or ', '.join(MIRROR_CANDIDATES)}; "
        f"set {MIRROR_VARIABLE})",
    ),
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/moto-api/", timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`moto_server` on a free 127.0.0.1 port for the session; yields its URL."""
    log_path = tmp_path_factory.mktemp("moto") / "moto.log"
    for _ in range(3):  # another process may take the port between probe and bind
        url = f"http://127.0.0.1:{_free_port()}"
        with log_path.open("ab") as log:
            server = subprocess.Popen(
                [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", url.rsplit(":", 1)[1]],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while server.poll() is None and time.monotonic() < deadline and not _answers(url):
            time.sleep(0.2)
        if server.poll() is None and _answers(url):
            try:
                yield url
            finally:
                server.terminate()
                server.wait(timeout=10)
            return
        server.kill()
        server.wait()
    raise RuntimeError(f"moto_server did not start; see {log_path}")


@pytest.fixture()
def aws_env(env: dict[str, str], moto: str) -> dict[str, str]:
    """The shim's environment, with the provider mirror and no AWS settings of the host."""
    for name in [name for name in env if name.startswith("AWS_")]:
        del env[name]
    # Every provider from the mirror, none from the network (terraform_data is built in).
    Path(env["TF_CLI_CONFIG_FILE"]).write_text(
        f'provider_installation {{\n  filesystem_mirror {{\n    path = "{MIRROR}"\n  }}\n}}\n'
    )
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    return env


def provider_block(moto_url: str) -> str:
    return f"""
terraform {{
  required_providers {{
    aws = {{ source = "hashicorp/aws", version = "{AWS_VERSION}" }}
  }}
}}

provider "aws" {{
  region                      = "us-east-1"
  access_key                  = "moto-fake-access-key"
  secret_key                  = "moto-fake-secret-key"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  endpoints {{
    ec2 = "{moto_url}"
    rds = "{moto_url}"
    sts = "{moto_url}"
  }}
}}
"""


def cluster_config(moto_url: str, ami: str) -> str:
    """Three count-indexed instances named by tags.Name, each reset when destroyed."""
    names = ", ".join(f'"{name}"' for name in NODES)
    return (
        provider_block(moto_url)
        + f"""
locals {{
  names = [{names}]
}}

resource "aws_instance" "control_plane" {{
  count         = length(local.names)
  ami           = "{ami}"
  instance_type = "t3.micro"
  tags          = {{ Name = local.names[count.index] }}

  provisioner "local-exec" {{
    when    = destroy
    command = "echo {RESET} ${{self.private_ip}} >> reset.log"
  }}
}}
"""
    )


def instances(directory: Path) -> dict[str, dict[str, Any]]:
    """The instances in the prod workspace's state file, by their Name tag: the state's
    bytes as the witness (`terraform show -json` would start the provider for its schema,
    ~2.5 s of CPU, to print the same attributes)."""
    state = json.loads(
        (directory / "terraform.tfstate.d" / "prod" / "terraform.tfstate").read_text()
    )
    found = {}
    for resource in state["resources"]:
        assert resource["type"] == "aws_instance", resource["type"]
        for instance in resource["instances"]:
            assert "deposed" not in instance, instance  # nothing left half-replaced
            attributes = instance["attributes"]
            found[attributes["tags"]["Name"]] = attributes
    return found


@dataclass
class ClusterTemplate:
    """The applied cluster, made once per module and copied into each test's directory."""

    directory: Path | None = None
    private_ips: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def cluster_template() -> ClusterTemplate:
    return ClusterTemplate()


@pytest.fixture()
def cluster(
    cluster_template: ClusterTemplate, workdir: Path, real: Runner, aws_env: dict[str, str],
    moto: str, tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, str]:  # fmt: skip
    """Three instances applied in workspace prod, then the one-line ami change made.

    Returns each node's private IP, which the destroy-time provisioners will use. A test
    that applies the change sets `cluster_template.directory = None`: its instances are
    gone from moto, so the next test gets a new cluster."""
    template = cluster_template
    if template.directory is None:
        directory = tmp_path_factory.mktemp("aws-cluster")
        (directory / "main.tf").write_text(cluster_config(moto, OLD_AMI))
        for args in (
            ["init", "-input=false"],
            ["workspace", "new", "prod"],
            ["apply", "-auto-approve", "-input=false"],
        ):
            result = real(*args, cwd=directory)
            assert result.returncode == 0, result.stderr
        shown = instances(directory)
        template.private_ips = {name: values["private_ip"] for name, values in shown.items()}
        assert sorted(template.private_ips) == sorted(NODES) and all(template.private_ips.values())
        (directory / "main.tf").write_text(cluster_config(moto, NEW_AMI))
        template.directory = directory
    shutil.copytree(template.directory, workdir, dirs_exist_ok=True, symlinks=True)
    return dict(template.private_ips)


def reset_log(workdir: Path) -> list[str]:
    path = workdir / "reset.log"
    return sorted(path.read_text().splitlines()) if path.exists() else []


def audit_records(home: Path) -> list[dict[str, Any]]:
    path = home / ".local" / "state" / "safeterraform" / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_ami_change_in_a_terminal_lists_the_nodes_and_applies_once_they_are_typed(
    cluster: dict[str, str], cluster_template: ClusterTemplate, shim_bin: Path,
    aws_env: dict[str, str], workdir: Path, home: Path,
) -> None:  # fmt: skip
    """The one-line ami change, applied in a PTY: the review lists the instances by their
    tags.Name with the reset commands resolved to their private IPs (issue 27), nothing is
    destroyed while the prompt waits, and once the names are typed the resets run with the
    old IPs and the state is replaced. One guarded apply for both (each AWS provider start
    is ~2.5 s of CPU; a separate `plan` cost four).

    Mutations: drop `tags.Name` from the default node attributes (names become
    `aws_instance.control_plane[0]`...); stop resolving `self.*` (the IPs vanish); accept
    the prompt's answer without comparing it (nothing typed matters)."""
    cluster_template.directory = None  # these instances are replaced below
    old_ids = {name: values["id"] for name, values in instances(workdir).items()}
    child = pexpect.spawn(
        str(shim_bin),
        ["apply"],
        cwd=str(workdir),
        env={**aws_env, "TERM": "dumb"},
        encoding="utf-8",
        timeout=180,
        dimensions=(50, 200),
    )
    child.expect("Type the names")
    shown = child.before
    summary = shown[shown.index("DESTROY-TIME PROVISIONERS") :]
    for name, ip in cluster.items():
        index = NODES.index(name)
        assert f"  {name}  aws_instance.control_plane[{index}]  local-exec" in summary
        assert f"$ echo {RESET} {ip} >> reset.log" in summary
    # tags.Name names them, private_ip is their address (issue 27).
    listed = ", ".join(f"{name} ({cluster[name]})" for name in sorted(cluster))
    assert f"3 of 3 nodes affected: {listed}" in summary
    assert "forced by: ami" in summary
    assert reset_log(workdir) == []  # planned, nothing destroyed yet
    assert {values["ami"] for values in instances(workdir).values()} == {OLD_AMI}
    child.sendline("phoebe")  # one name on its own line: the prompt reads on (a pasted list)
    child.expect(r"Next name \(2 still to type; Enter ends\)")
    child.sendline("")  # ... and a subset is not a confirmation
    child.expect("Not confirmed: missing poison, powder")
    child.expect("attempt 2 of")
    child.sendline("phoebe, powder poison")
    child.expect("Apply complete!")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert reset_log(workdir) == sorted(f"{RESET} {ip}" for ip in cluster.values())
    after = instances(workdir)
    assert {values["ami"] for values in after.values()} == {NEW_AMI}
    assert all(after[name]["id"] != old_ids[name] for name in NODES)
    applied = audit_records(home)[-1]
    assert applied["verdict"] == "applied" and applied["exit_code"] == 0
    assert sorted(applied["affected_nodes"]) == sorted(NODES)


def database_config(moto_url: str, identifier: str, username: str) -> str:
    """A PostgreSQL RDS instance whose password comes from a sensitive variable."""
    return (
        provider_block(moto_url)
        + f"""
variable "db_password" {{
  type      = string
  sensitive = true
}}

resource "aws_db_instance" "orders" {{
  identifier          = "{identifier}"
  engine              = "postgres"
  instance_class      = "db.t3.micro"
  allocated_storage   = 20
  username            = "{username}"
  password            = var.db_password
  skip_final_snapshot = true
  tags                = {{ Name = "orders-db" }}

  provisioner "local-exec" {{
    when    = destroy
    command = "echo PGPASSWORD=${{self.password}} pg_dump -h ${{self.address}} >> dump.log"
  }}
}}
"""
    )


@pytest.fixture()
def database(workdir: Path, real: Runner, aws_env: dict[str, str], moto: str) -> Path:
    """An RDS instance in prod state whose replacement is planned (a username change).

    Created in moto directly and imported: the provider's create waits 80 s for it."""
    import boto3  # moto brings it

    rds = boto3.client(
        "rds",
        region_name="us-east-1",
        endpoint_url=moto,
        aws_access_key_id="moto-fake-access-key",
        aws_secret_access_key="moto-fake-secret-key",
    )
    identifier = f"orders-{secrets.token_hex(4)}"  # moto lives for the session
    rds.create_db_instance(
        DBInstanceIdentifier=identifier,
        Engine="postgres",
        DBInstanceClass="db.t3.micro",
        AllocatedStorage=20,
        MasterUsername="app",
        MasterUserPassword=SECRET,
        Tags=[{"Key": "Name", "Value": "orders-db"}],
    )
    (workdir / "main.tf").write_text(database_config(moto, identifier, "app"))
    for args in (
        ["init", "-input=false"],
        ["workspace", "new", "prod"],
        [
            "import",
            "-input=false",
            f"-var=db_password={SECRET}",
            "aws_db_instance.orders",
            identifier,
        ],
    ):
        result = real(*args)
        assert result.returncode == 0, result.stderr
    # Import cannot read a password back; after a create it is in state: put it there.
    state = json.loads(real("state", "pull").stdout)
    state["serial"] += 1
    state["resources"][0]["instances"][0]["attributes"]["password"] = SECRET
    (workdir / "created.tfstate").write_text(json.dumps(state))
    pushed = real("state", "push", "created.tfstate")
    assert pushed.returncode == 0, pushed.stderr
    (workdir / "created.tfstate").unlink()
    (workdir / "main.tf").write_text(database_config(moto, identifier, "app_owner"))
    return workdir


def _log_outputs(env: dict[str, str], workdir: Path) -> list[str]:
    """`safeterraform log` as a table and as JSON lines."""
    program = str(Path(sys.executable).parent / "safeterraform")
    outputs = []
    for args in (["log"], ["log", "--json"]):
        result = subprocess.run(
            [program, *args], cwd=workdir, env={**env, "COLUMNS": "80"},
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        outputs += [result.stdout, result.stderr]
    return outputs


def test_sensitive_password_is_never_shown_however_it_is_given(
    database: Path, shim_bin: Path, aws_env: dict[str, str], home: Path
) -> None:
    """The password as TF_VAR_db_password (a plan) and `-var` on the command line (an apply
    in a terminal, three wrong answers): the rendering, the prompt, `safeterraform check`
    (every format), `safeterraform log` and the audit log never show it, while the
    variable's name is in the audit record. With `[nodes] attributes` starting with the
    provider's sensitive `password`, the node is named by the next rule (tags.Name).
    test_secrets.py runs all eight spellings with terraform_data, `TF_CLI_ARGS` and the
    refusal without a terminal included (the shim's redaction does not depend on the
    provider); this one is about the provider's own sensitive attribute (each guarded
    command starts the provider four times, ~2.5 s of CPU each: docs/testing.md).

    Mutations: resolve `self.*` in destroy-time commands without Terraform's sensitivity
    marks (`blast._evaluate` ignoring `before_sensitive`): the dump command shows it;
    ignore the mask in node naming: the password is the name to type."""
    (database / ".safeterraform.toml").write_text(
        '[nodes]\nattributes = ["password", "tags.Name"]\n'
    )
    outputs: list[str] = []
    with_env = {**aws_env, "TF_VAR_db_password": SECRET}
    planned = tfharness.run(shim_bin, ["plan", "-input=false"], database, with_env)
    assert planned.returncode == 0, planned.stderr
    assert "orders-db" in planned.stdout  # named by tags.Name
    shown = " ".join(planned.stdout.split())
    assert "PGPASSWORD=(sensitive value) pg_dump -h orders-" in shown  # resolved, but masked
    outputs += [planned.stdout, planned.stderr]
    (kept,) = (database / ".terraform" / "safeterraform" / "plans").glob("*.tfplan")

    child = pexpect.spawn(
        str(shim_bin), ["apply", "-var", f"db_password={SECRET}"], cwd=str(database),
        env={**aws_env, "TERM": "dumb"}, encoding="utf-8", timeout=120, dimensions=(50, 200),
    )  # fmt: skip
    for attempt, answer in enumerate(("orders", "db", "yes"), start=1):
        child.expect(f"attempt {attempt} of 3")  # keys sent before it is drawn are dropped
        child.sendline(answer)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 4
    outputs.append(str(child.before))

    outputs += _log_outputs(aws_env, database)
    program = str(Path(sys.executable).parent / "safeterraform")
    for output_format in ("text", "json", "markdown"):  # each loads the provider's schema
        checked = subprocess.run(
            [program, "check", str(kept), "--format", output_format],
            cwd=database, env=aws_env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert checked.returncode in (0, 2), checked.stderr
        outputs += [checked.stdout, checked.stderr]
    audit_log = (home / ".local" / "state" / "safeterraform" / "audit.jsonl").read_text()
    for where, text in [*enumerate(outputs), ("audit log", audit_log)]:
        assert SECRET not in text, f"the password is shown in output {where}"
    assert "db_password" in audit_log  # the name keeps the audit useful
