"""What a rollout says (issue 27 items 3 and 5): Terraform's -target warnings announced once
as expected, "No changes." said once (by Terraform), a final line that says what was done,
and every step -- also after `--resume` -- explaining its replacement by the origin the
rollout's first plan traced (var.talos_version), not "in its own configuration"."""

from __future__ import annotations

import os
from pathlib import Path

from safeterraform.flows.rollout import TARGET_WARNINGS, finished_line
from tests.test_prevention import user_config
from tests.test_rollout import incident, incident_template, resets, rollout

__all__ = ["incident", "incident_template"]

GOLDEN = Path(__file__).parent / "golden" / "rollout_resumed_why.txt"
ORIGIN = 'var.talos_version changed from "v1.6.0" to "v1.7.0"'


def why_blocks(text: str) -> list[str]:
    """Each WHY block of a rollout's output, up to the blank line that ends it."""
    blocks = []
    for part in text.split("\nWHY\n")[1:]:
        blocks.append("WHY\n" + part.split("\n\n", 1)[0] + "\n")
    return blocks


def test_a_rollout_says_what_to_expect_and_how_it_ended(
    incident: Path, env: dict[str, str]
) -> None:
    """Mutations: pass no recalled causes to a step (flows/rollout.py _step) -> the second
    and third steps read "in its own configuration" and this fails; print the -target note
    per step -> it is counted more than once."""
    env["SAFETERRAFORM_CONFIRM_NODES"] = "powder poison phoebe"
    result = rollout([], incident, env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.count(TARGET_WARNINGS) == 1
    assert out.index(TARGET_WARNINGS) < out.index("=== rollout: node 1 of 3")
    assert out.count("Warning: Resource targeting is in effect") == 3  # Terraform's own
    assert out.count("No changes.") == 1  # Terraform's own; the shim does not repeat it
    assert "safeterraform: nothing to apply." in out
    assert out.rstrip("\n").splitlines()[-1] == finished_line(["phoebe", "poison", "powder"])
    steps = out.split("=== rollout: node ")[1:]
    assert len(steps) == 3
    for step in steps:
        (block,) = why_blocks(step.split("=== rollout: the rest")[0])
        assert ORIGIN in block, block
        assert "in its own configuration" not in block
    assert sorted(resets(incident)) == ["phoebe", "poison", "powder"]


def test_a_resumed_rollout_keeps_the_original_cause(
    incident: Path, env: dict[str, str], home: Path
) -> None:
    """Golden: the resumed rollout's WHY (80 columns, NO_COLOR: not a terminal here).
    Mutation: drop the causes from the progress file (flows/rollout.py _progress) -> the
    resumed plan reads "triggers_replace.version ... in its own configuration"."""
    user_config(home, '[hooks]\nafter_node = "test -e healthy"\n')
    env["SAFETERRAFORM_CONFIRM_NODES"] = "powder poison phoebe"
    stopped = rollout(["--order", "powder"], incident, env)
    assert stopped.returncode == 3, stopped.stderr
    assert resets(incident) == ["powder"]
    (incident / "healthy").touch()
    env["SAFETERRAFORM_CONFIRM_NODES"] = "poison phoebe"
    resumed = rollout(["--resume"], incident, env)
    assert resumed.returncode == 0, resumed.stderr
    blocks = why_blocks(resumed.stdout)
    assert len(blocks) == 3  # the resumed plan, then poison's and phoebe's steps
    for block in blocks:
        assert ORIGIN in block, block
        assert "in its own configuration" not in block
    text = blocks[0]
    if os.environ.get("SAFETERRAFORM_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text(), (
        f"{GOLDEN} differs; if intended, rerun with SAFETERRAFORM_UPDATE_GOLDEN=1 and review"
    )


def test_order_may_name_a_node_by_its_address(incident: Path, env: dict[str, str]) -> None:
    """Mutation: compare --order with the names only -> "--order names 192.0.2.65, which
    this plan does not destroy or replace" (exit 1)."""
    env["SAFETERRAFORM_CONFIRM_NODES"] = "192.0.2.65 poison phoebe"
    result = rollout(["--order", "192.0.2.65"], incident, env)
    assert result.returncode == 0, result.stderr
    assert "1. powder, 2. phoebe, 3. poison" in result.stdout
    assert resets(incident) == ["powder", "phoebe", "poison"]
