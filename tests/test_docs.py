"""The documentation against the code: every `safeterraform` command and flag the README
names exists, every config key of its example is one the config accepts, every
docs/design.md section the code cites exists, and nothing cites files the repository does
not have (issue 27 item 8)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from safeterraform import policy
from tests import tfharness

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()
DESIGN = ROOT / "docs" / "design.md"
SAFETERRAFORM = str(Path(sys.executable).parent / "safeterraform")
COMMANDS = ("doctor", "check", "lint", "log", "approve", "rollout", "demo")


def cited_files() -> list[Path]:
    paths = [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]
    for top in ("src", "tests", "scripts", "bench"):
        paths.extend(path for path in (ROOT / top).rglob("*.py"))
    return paths


def anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    words = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return words.replace(" ", "-")


def test_readme_commands_and_flags_exist(home: Path) -> None:
    """Mutation: a flag renamed in cli.py (`--full` -> `--wide`) -> fails."""
    mentioned: dict[str, set[str]] = {}
    for span in re.findall(r"`safeterraform ([a-z]+)([^`]*)`", README):
        command, rest = span
        assert command in COMMANDS, f"README names `safeterraform {command}`"
        mentioned.setdefault(command, set()).update(re.findall(r"(?<![\w-])--[a-z][a-z-]*", rest))
    assert set(mentioned) == set(COMMANDS)
    environment = {**tfharness.clean_env(home), "COLUMNS": "200"}
    for command, flags in mentioned.items():
        result = subprocess.run(
            [SAFETERRAFORM, command, "--help"], env=environment, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
        for flag in flags:
            assert flag in result.stdout, f"README: `safeterraform {command} {flag}`"


def test_readme_config_example_is_accepted(tmp_path: Path, home: Path) -> None:
    """The README's TOML example, commented keys included, read as a system layer (which
    may set everything): no unknown key, no wrong type. Mutation: a key renamed in
    policy.KEYS -> fails."""
    block = README[README.index("```toml\n[production]") + len("```toml\n") :]
    block = block[: block.index("```")]
    uncommented = "\n".join(
        re.sub(r"^# (\w+ = [^#(]*?)\s*(#.*)?$", r"\1", line) for line in block.splitlines()
    )
    assert "max_affected_nodes = 1" in uncommented.splitlines()  # commented, still checked
    system = tmp_path / "config.toml"
    system.write_text(uncommented)
    config = policy.load(tfharness.clean_env(home), str(tmp_path), str(system))
    assert config.error is None, config.error
    assert config.approval_ttl == 3600 and config.max_affected_nodes == 1


def test_design_sections_cited_exist() -> None:
    """Mutation: a heading renamed in docs/design.md -> the comments citing it fail."""
    anchors = {anchor(line[3:]) for line in DESIGN.read_text().splitlines() if line[:3] == "## "}
    cited = set()
    for path in cited_files():
        cited.update(re.findall(r"design\.md#([a-z0-9-]+)", path.read_text()))
        for group in re.findall(r"design\.md#[a-z0-9-]+((?:, #[a-z0-9-]+)+)", path.read_text()):
            cited.update(re.findall(r"#([a-z0-9-]+)", group))
    assert cited, "nothing cites docs/design.md"
    assert cited <= anchors, sorted(cited - anchors)


def test_nothing_cites_files_the_repository_does_not_have() -> None:
    for path in cited_files():
        text = path.read_text()
        for missing in ("PRODUCT" + ".md", "STYLE" + ".md"):  # not spelt out: this file
            assert missing not in text, f"{path.relative_to(ROOT)} cites {missing}"
