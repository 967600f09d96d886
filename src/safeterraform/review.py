"""Read a saved plan as terraform will run it: `show -json` plus its configuration snapshot.

Used by `safeterraform check` and the guarded apply. `terraform show -json` is started
first and the snapshot's destroy-time provisioners are indexed while terraform decodes the
plan (another process: no thread, no lock), so most of our own work hides behind terraform's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from safeterraform import blast, plan
from safeterraform.terraform import ShowJson, Terraform


def analyze_plan_file(
    terraform: Terraform,
    plan_file: str,
    local_path: str,
    node_attributes: Sequence[str],
    meanwhile: Callable[[], object] | None = None,
) -> tuple[blast.Analysis, dict[str, Any]]:
    """(analysis, plan JSON) of a plan file; `plan_file` as terraform sees it (relative to
    its -chdir), `local_path` as this process reads it. Raises PlanError when unreadable."""
    snapshot = plan.read_snapshot(local_path)  # a corrupt zip fails here, before terraform
    shown = terraform.start_show_json(plan_file)
    return analyze_shown(shown, snapshot, node_attributes, meanwhile)


def analyze_shown(
    shown: ShowJson,
    snapshot: dict[str, str],
    node_attributes: Sequence[str],
    meanwhile: Callable[[], object] | None = None,
) -> tuple[blast.Analysis, dict[str, Any]]:
    """Index `snapshot` (and run `meanwhile`) while `shown` (started on the plan file it
    came from) runs, then analyse; terraform is stopped if either fails."""
    index = blast.ConfigIndex(snapshot)
    try:
        index.preload()
        if meanwhile is not None:
            meanwhile()
    except BaseException:
        shown.cancel()
        raise
    plan_json = shown.result()
    return blast.analyze(plan_json, snapshot, node_attributes, index), plan_json
