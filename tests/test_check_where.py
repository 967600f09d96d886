"""`safeterraform check` reads the configuration layers where the prompt does (issue 27 item 4):
--chdir when given, else the plan's own directory, not the directory check runs from."""

from __future__ import annotations

from pathlib import Path

from tests import plan_scenarios
from tests.test_check import check

LABELLED = """
variable "release" {{
  default = "{release}"
}}

resource "terraform_data" "cp" {{
  for_each         = {{ powder = "192.0.2.65", poison = "192.0.2.66" }}
  input            = {{ hostname = each.key, label = "cp-${{each.key}}" }}
  triggers_replace = var.release
}}
"""


def test_a_gate_at_the_repository_root_names_nodes_as_the_prompt_does(
    terraform_bin: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    """Mutation: read the config from the current directory (as before issue 27) and the
    subdirectory's `[nodes] attributes = ["label"]` is ignored: the names read
    poison, powder and this fails."""
    prod = tmp_path / "repo" / "envs" / "prod"
    prod.mkdir(parents=True)
    (prod / ".safeterraform.toml").write_text('[nodes]\nattributes = ["label"]\n')
    steps: list[plan_scenarios.Step] = [
        ("write", {"main.tf": LABELLED.format(release="v1")}),
        plan_scenarios.APPLY,
        ("write", {"main.tf": LABELLED.format(release="v2")}),
    ]
    plan_scenarios.make_plan(terraform_bin, prod, env, steps)
    root = tmp_path / "repo"
    expected = "2 of 2 nodes affected: cp-poison, cp-powder"

    from_root = check("envs/prod/plan.tfplan", cwd=root, env=env)
    assert from_root.returncode == 2, from_root.stderr
    assert expected in from_root.stdout

    in_place = check("plan.tfplan", cwd=prod, env=env)
    assert expected in in_place.stdout

    # --chdir names the directory whose layers apply (here: none, the built-in names).
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    chdir = check(str(prod / "plan.tfplan"), "--chdir", str(elsewhere), cwd=root, env=env)
    assert chdir.returncode == 2, chdir.stderr
    assert "2 of 2 nodes affected: poison, powder" in chdir.stdout
