"""Plan scenarios made with the real Terraform: configurations, the steps that change them,
and the plan file at the end. scripts/make_plan_fixtures.py turns them into fixtures; tests
may run them on the fly.
"""

from __future__ import annotations

from pathlib import Path

from tests import tfharness

Step = tuple[str, object]  # ("write", {path: text}) | ("tf", [args]) | ("incident", None)


def node(name: str, ip: str, body: str = "") -> str:
    return f"""
resource "terraform_data" "{name}" {{
  input = {{ hostname = "{name}", ip = "{ip}" }}
{body}}}
"""


RESET = """  provisioner "local-exec" {
    when    = destroy
    command = "echo talosctl reset --nodes ${self.input.ip}"
  }
"""

APPLY = ("tf", ["apply", "-auto-approve", "-input=false"])

CONTROL_PLANES = '{ powder = "192.0.2.65", poison = "192.0.2.66", phoebe = "192.0.2.67" }'


def machine_configs(node: str, workers: str) -> str:
    """Close to the incident: a per-node machine config whose `node` argument changes, and a
    reset-on-destroy resource per control plane that is replaced when it does."""
    return f"""
locals {{
  control_planes = {CONTROL_PLANES}
  workers        = {workers}
}}

resource "terraform_data" "machine_config_apply" {{
  for_each = local.control_planes
  input    = {{ hostname = each.key, node = {node} }}
}}

resource "terraform_data" "cp_reset_on_destroy" {{
  for_each         = local.control_planes
  input            = {{ hostname = each.key, ip = each.value }}
  triggers_replace = terraform_data.machine_config_apply[each.key].input.node

  provisioner "local-exec" {{
    when    = destroy
    command = "echo talosctl reset --nodes ${{self.input.ip}}"
  }}
}}

resource "terraform_data" "worker" {{
  for_each = local.workers
  input    = {{ hostname = each.key, ip = each.value }}
}}
"""


def upgrade(version_note: str = "") -> str:
    """A chain through a local and a variable: the installer image follows the Talos version."""
    return f"""
variable "talos_version" {{
  type = string{version_note}
}}

locals {{
  image = "ghcr.io/siderolabs/installer:${{var.talos_version}}"
}}

resource "terraform_data" "upgrade" {{
  for_each         = {{ jade = "192.0.2.91", opal = "192.0.2.92" }}
  input            = {{ hostname = each.key, ip = each.value }}
  triggers_replace = {{ image = local.image }}
{RESET}}}
"""


NETWORK = """
resource "terraform_data" "network" {{
  input = {{ cidr = "{cidr}" }}
}}

module "phoebe" {{
  source = "./modules/node"
  subnet = terraform_data.network.output.cidr
}}

module "poison" {{
  source = "./modules/node"
  subnet = terraform_data.network.output.cidr
}}
"""

MODULE_NODE = """
variable "subnet" {}

resource "terraform_data" "machine" {
  input            = { subnet = var.subnet }
  triggers_replace = var.subnet

  provisioner "local-exec" {
    when    = destroy
    command = "echo talosctl reset --subnet ${self.input.subnet}"
  }
}
"""


def vault(release: str) -> str:
    """A node whose hostname attribute is sensitive: it must never become the node's name."""
    return f"""
variable "vault_host" {{
  default   = "vault-7f3a.internal"
  sensitive = true
}}

resource "terraform_data" "vault" {{
  for_each         = {{ primary = "192.0.2.95" }}
  input            = {{ hostname = var.vault_host, ip = each.value }}
  triggers_replace = "{release}"
{RESET}}}
"""


def spaced(release: str) -> str:
    """Node names with spaces and commas (for_each keys), as AWS tags.Name values often are."""
    return f"""
resource "terraform_data" "cp" {{
  for_each         = {{ "Control Plane 1" = "192.0.2.96", "db,primary" = "192.0.2.97" }}
  input            = {{ ip = each.value }}
  triggers_replace = "{release}"
{RESET}}}
"""


SCENARIOS: dict[str, list[Step]] = {
    "create": [
        ("write", {"main.tf": node("pearl", "192.0.2.68") + node("opal", "192.0.2.69")}),
    ],
    "update": [
        ("write", {"main.tf": node("pearl", "192.0.2.68")}),
        APPLY,
        ("write", {"main.tf": node("pearl", "192.0.2.99")}),
    ],
    "no_change": [
        ("write", {"main.tf": node("pearl", "192.0.2.68", RESET)}),
        APPLY,
    ],
    "destroy": [  # a delete with no provisioner: the resource block is gone
        ("write", {"main.tf": node("pearl", "192.0.2.68") + node("jade", "192.0.2.70")}),
        APPLY,
        ("write", {"main.tf": node("pearl", "192.0.2.68")}),
    ],
    "replace_cannot_update": [
        ("write", {"main.tf": node("onyx", "192.0.2.71", '  triggers_replace = "v1"\n' + RESET)}),
        APPLY,
        ("write", {"main.tf": node("onyx", "192.0.2.71", '  triggers_replace = "v2"\n' + RESET)}),
    ],
    "replace_triggers": [
        (
            "write",
            {
                "main.tf": node("ruby", "192.0.2.72")
                + node(
                    "topaz",
                    "192.0.2.73",
                    "  lifecycle {\n    replace_triggered_by = [terraform_data.ruby]\n  }\n",
                )
            },
        ),
        APPLY,
        (
            "write",
            {
                "main.tf": node("ruby", "192.0.2.99")
                + node(
                    "topaz",
                    "192.0.2.73",
                    "  lifecycle {\n    replace_triggered_by = [terraform_data.ruby]\n  }\n",
                )
            },
        ),
    ],
    "replace_request": [
        ("write", {"main.tf": node("amber", "192.0.2.74", RESET)}),
        APPLY,
        ("plan-args", ["-replace=terraform_data.amber"]),
    ],
    "taint": [
        ("write", {"main.tf": node("coral", "192.0.2.75", RESET)}),
        APPLY,
        ("tf", ["taint", "terraform_data.coral"]),
    ],
    "create_before_destroy": [
        (
            "write",
            {
                "main.tf": node(
                    "beryl",
                    "192.0.2.76",
                    '  triggers_replace = "v1"\n'
                    + RESET
                    + "  lifecycle {\n    create_before_destroy = true\n  }\n",
                )
            },
        ),
        APPLY,
        (
            "write",
            {
                "main.tf": node(
                    "beryl",
                    "192.0.2.76",
                    '  triggers_replace = "v2"\n'
                    + RESET
                    + "  lifecycle {\n    create_before_destroy = true\n  }\n",
                )
            },
        ),
    ],
    "forget": [
        ("write", {"main.tf": node("pearl", "192.0.2.68") + node("agate", "192.0.2.77")}),
        APPLY,
        (
            "write",
            {
                "main.tf": node("pearl", "192.0.2.68")
                + """
removed {
  from = terraform_data.agate
  lifecycle {
    destroy = false
  }
}
"""
            },
        ),
    ],
    "removed_provisioner": [
        ("write", {"main.tf": node("pearl", "192.0.2.68") + node("flint", "192.0.2.78", RESET)}),
        APPLY,
        (
            "write",
            {
                "main.tf": node("pearl", "192.0.2.68")
                + """
removed {
  from = terraform_data.flint
  lifecycle {
    destroy = true
  }
  provisioner "local-exec" {
    when    = destroy
    command = "echo wipe ${self.input.ip} ${upper(self.input.hostname)}"
  }
}
"""
            },
        ),
    ],
    "moved": [
        (
            "write",
            {
                "main.tf": node("old", "192.0.2.79", '  triggers_replace = "v1"\n' + RESET)
                + node("stays", "192.0.2.80")
            },
        ),
        APPLY,
        (
            "write",
            {
                "main.tf": node("new", "192.0.2.79", '  triggers_replace = "v2"\n' + RESET)
                + node("renamed", "192.0.2.80")
                + "\nmoved {\n  from = terraform_data.old\n  to   = terraform_data.new\n}\n"
                + "\nmoved {\n  from = terraform_data.stays\n  to   = terraform_data.renamed\n}\n"
            },
        ),
    ],
    "count_for_each": [
        (
            "write",
            {
                "main.tf": """
variable "workers" {
  default = 3
}

variable "edges" {
  type    = map(string)
  default = { north = "192.0.2.81", south = "192.0.2.82" }
}

resource "terraform_data" "worker" {
  count = var.workers
  input = { ip = "192.0.2.${90 + count.index}" }

  provisioner "local-exec" {
    when    = destroy
    command = "echo drain worker ${count.index} at ${self.input.ip}"
  }
}

resource "terraform_data" "edge" {
  for_each = var.edges
  input    = { ip = each.value }
}
"""
            },
        ),
        APPLY,
        ("plan-args", ["-var=workers=1", '-var=edges={north="192.0.2.81"}']),
    ],
    "module": [
        (
            "write",
            {
                "main.tf": """
variable "release" {
  default = "v1"
}

module "node" {
  count   = 3
  source  = "./modules/node"
  name    = "cp-${count.index}"
  ip      = "192.0.2.${100 + count.index}"
  release = count.index == 0 ? var.release : "v1"
}
""",
                "modules/node/main.tf": """
variable "name" {}
variable "ip" {}
variable "release" {}

resource "terraform_data" "machine" {
  input            = { hostname = var.name, ip = var.ip }
  triggers_replace = var.release

  provisioner "local-exec" {
    when    = destroy
    command = "echo talosctl reset --nodes ${self.input["ip"]}"
  }
}

module "disk" {
  source = "./disk"
  name   = var.name
}
""",
                "modules/node/disk/main.tf": """
variable "name" {}

resource "terraform_data" "disk" {
  input = { hostname = var.name }
}
""",
            },
        ),
        APPLY,
        (
            "write",
            {
                "main.tf": """
variable "release" {
  default = "v2"
}

module "node" {
  count   = 2
  source  = "./modules/node"
  name    = "cp-${count.index}"
  ip      = "192.0.2.${100 + count.index}"
  release = count.index == 0 ? var.release : "v1"
}
"""
            },
        ),
    ],
    "import": [
        (
            "write",
            {
                "main.tf": node("quartz", "192.0.2.84")
                + '\nimport {\n  to = terraform_data.quartz\n  id = "quartz-1"\n}\n'
            },
        ),
    ],
    "module_removed": [
        (
            "write",
            {
                "main.tf": 'module "rack" {\n  source = "./rack"\n}\n',
                "rack/main.tf": node("blade", "192.0.2.85", RESET)
                + node("spare", "192.0.2.86", RESET),
            },
        ),
        APPLY,
        (
            "write",
            {
                "main.tf": 'module "rack" {\n  source = "./rack"\n}\n'
                + """
removed {
  from = module.rack.terraform_data.spare
  provisioner "local-exec" {
    when    = destroy
    command = "echo power off ${self.input.hostname} at ${self.input.ip}"
  }
}
""",
                "rack/main.tf": """
removed {
  from = terraform_data.blade
  lifecycle {
    destroy = true
  }
  provisioner "local-exec" {
    when    = destroy
    command = <<-EOT
      echo evacuate ${self.input.hostname}
      echo talosctl reset --nodes ${self.input.ip}
    EOT
  }
}
""",
            },
        ),
    ],
    "incident": [("incident", None)],
    "incident_chain": [
        ("write", {"main.tf": machine_configs("each.value", "{}")}),
        APPLY,
        (
            "write",
            {"main.tf": machine_configs('"vlan-${each.value}"', '{ pearl = "192.0.2.68" }')},
        ),
    ],
    "chain_local_variable": [
        ("write", {"main.tf": upgrade()}),
        ("tf", ["apply", "-auto-approve", "-input=false", "-var=talos_version=v1.6.0"]),
        ("plan-args", ["-var=talos_version=v1.7.0"]),
    ],
    "chain_module": [
        (
            "write",
            {
                "main.tf": NETWORK.format(cidr="192.0.2.0/26"),
                "modules/node/main.tf": MODULE_NODE,
            },
        ),
        APPLY,
        ("write", {"main.tf": NETWORK.format(cidr="192.0.2.64/26")}),
    ],
    "sensitive_name": [
        ("write", {"main.tf": vault("v1")}),
        APPLY,
        ("write", {"main.tf": vault("v2")}),
    ],
    "spaced_names": [
        ("write", {"main.tf": spaced("v1")}),
        APPLY,
        ("write", {"main.tf": spaced("v2")}),
    ],
}


def run(tf: Path, args: list[str], workdir: Path, env: dict[str, str]) -> str:
    result = tfharness.run(tf, args, workdir, env)
    if result.returncode != 0:
        raise RuntimeError(f"terraform {' '.join(args)} failed in {workdir}:\n{result.stderr}")
    return result.stdout


def make_plan(tf: Path, workdir: Path, env: dict[str, str], steps: list[Step]) -> Path:
    """Run a scenario's steps in workdir and plan to a file; return the plan file."""
    initialised = False
    plan_args: list[str] = []
    for kind, payload in steps:
        if kind == "incident":
            tfharness.make_incident(tf, workdir, env)
            initialised = True
        elif kind == "write":
            assert isinstance(payload, dict)
            for name, text in payload.items():
                path = workdir / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
        elif kind == "plan-args":
            assert isinstance(payload, list)
            plan_args = payload
        else:
            assert isinstance(payload, list)
            if not initialised:
                run(tf, ["init", "-input=false"], workdir, env)
                initialised = True
            run(tf, payload, workdir, env)
    if not initialised:
        run(tf, ["init", "-input=false"], workdir, env)
    run(tf, ["plan", "-input=false", "-out=plan.tfplan", *plan_args], workdir, env)
    return workdir / "plan.tfplan"
