"""Read a saved plan as terraform will run it: the plan file read natively when planread
can read it exactly (docs/perf.md, "Reading the plan file natively"), else `show -json`,
plus its configuration snapshot.

Used by `safeterraform check` and the guarded apply. When `terraform show -json` is needed,
it is started first and the snapshot's destroy-time provisioners are indexed while
terraform decodes the plan (another process: no thread, no lock), so most of our own work
hides behind terraform's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import IO, Any

from safeterraform import blast, plan
from safeterraform.terraform import ShowJson, Terraform


def analyze_plan_file(
    terraform: Terraform, plan_file: str, local_path: str, node_attributes: Sequence[str]
) -> tuple[blast.Analysis, dict[str, Any]]:
    """(analysis, plan JSON) of a plan file; `plan_file` as terraform sees it (relative to
    its -chdir), `local_path` as this process reads it. Raises PlanError when unreadable."""
    snapshot = plan.read_snapshot(local_path)  # a corrupt zip fails here, before terraform
    reviewed = analyze_natively(local_path, snapshot, node_attributes)
    if reviewed is not None:
        return reviewed
    return analyze_shown(terraform.start_show_json(plan_file), snapshot, node_attributes)


def analyze_natively(
    local_path: str | IO[bytes],
    snapshot: dict[str, str],
    node_attributes: Sequence[str],
    same_terraform: Callable[[str], bool] | None = None,
) -> tuple[blast.Analysis, dict[str, Any]] | None:
    """(analysis, plan JSON) of a plan file planread can read, without terraform; None when
    it cannot, or when the causes need what only `show -json` carries. `same_terraform`
    (`check`): a plan from another terraform version is left to `show -json`, which
    refuses it as `apply` would. The guarded apply passes None: a saved plan it is given
    is shown by `terraform show` before anyone is asked, which refuses such a plan too."""
    from safeterraform import planread

    plan_json = planread.read_file(local_path, snapshot, same_terraform)
    if plan_json is None:
        return None
    try:
        return blast.analyze(plan_json, snapshot, node_attributes, native=True), plan_json
    except blast.ConfigurationNeeded:
        return None


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
