"""Read a saved plan as terraform will run it: `show -json` plus its configuration snapshot.

Used by `safeterraform check` and the guarded apply. The snapshot's destroy-time
provisioners are indexed in a thread while terraform decodes the plan (the subprocess
wait releases the GIL), so most of our own work hides behind terraform's.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from safeterraform import blast, plan
from safeterraform.terraform import Terraform


def analyze_plan_file(
    terraform: Terraform, plan_file: str, local_path: str, node_attributes: Sequence[str]
) -> tuple[blast.Analysis, dict[str, Any]]:
    """(analysis, plan JSON) of a plan file; `plan_file` as terraform sees it (relative to
    its -chdir), `local_path` as this process reads it. Raises PlanError when unreadable."""
    snapshot = plan.read_snapshot(local_path)  # a corrupt zip fails here, before terraform
    index = blast.ConfigIndex(snapshot)
    indexing = threading.Thread(target=index.preload, daemon=True)
    indexing.start()
    try:
        plan_json = terraform.show_json(plan_file)
    finally:
        indexing.join()
    return blast.analyze(plan_json, snapshot, node_attributes, index), plan_json
