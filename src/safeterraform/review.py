"""Read a saved plan as terraform will run it: `show -json` plus its configuration snapshot.

Used by `safeterraform check` and the guarded apply. `terraform show -json` is started
first and the snapshot's destroy-time provisioners are indexed while terraform decodes the
plan (another process: no thread, no lock), so most of our own work hides behind terraform's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from safeterraform import blast, plan
from safeterraform.terraform import ShowJson, Terraform


def analyze_plan_file(
    terraform: Terraform, plan_file: str, local_path: str, node_attributes: Sequence[str]
) -> tuple[blast.Analysis, dict[str, Any]]:
    """(analysis, plan JSON) of a plan file; `plan_file` as terraform sees it (relative to
    its -chdir), `local_path` as this process reads it. Raises PlanError when unreadable."""
    snapshot = plan.read_snapshot(local_path)  # a corrupt zip fails here, before terraform
    return analyze_shown(terraform.start_show_json(plan_file), snapshot, node_attributes)


def analyze_started(
    shown: ShowJson, local_path: str, node_attributes: Sequence[str]
) -> tuple[blast.Analysis, dict[str, Any]]:
    """As analyze_plan_file, with `show -json` already started on the plan file (the
    guarded apply starts it before importing this module); terraform is stopped when the
    snapshot cannot be read."""
    try:
        snapshot = plan.read_snapshot(local_path)
    except BaseException:
        shown.cancel()
        raise
    return analyze_shown(shown, snapshot, node_attributes)


def analyze_shown(
    shown: ShowJson, snapshot: dict[str, str], node_attributes: Sequence[str]
) -> tuple[blast.Analysis, dict[str, Any]]:
    """Index `snapshot` while `shown` (started on the plan file it came from) runs, then
    analyse; terraform is stopped if indexing fails."""
    index = blast.ConfigIndex(snapshot)
    try:
        index.preload()
    except BaseException:
        shown.cancel()
        raise
    plan_json = shown.result()
    return blast.analyze(plan_json, snapshot, node_attributes, index), plan_json
