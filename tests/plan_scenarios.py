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
