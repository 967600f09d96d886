"""Red-team routes around the confirmation (README "Coding agents", "What is enforced").

Each test drives the real shim over a real Terraform; the production state file's bytes
and reset.log (the destroy provisioner's) are the witnesses. An agent here is a copy of
bash under the name a coding agent's process goes by; its command clears its variables
(`env -i`) and states the nodes in SAFETERRAFORM_CONFIRM_NODES, as an agent that copies
what a refusal told it would.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from safeterraform import agents, inert, policy
from tests import tfharness
from tests.conftest import Runner
from tests.test_agent_process import NAMES, run_cleared, shell_named
from tests.test_approve import safeterraform_command
from tests.test_guard import incident, incident_template, reset_log

__all__ = ["incident", "incident_template"]


def refused_as_agent(
    result: subprocess.CompletedProcess[str], incident: Path, before: bytes
) -> None:
    assert result.returncode == 3, result.stdout + result.stderr
    assert "a coding agent runs this command" in result.stderr
    assert tfharness.state_bytes(incident) == before
    assert reset_log(incident) == []


@pytest.mark.parametrize("name", ["claude-code", "Claude", "claude.exe"])
def test_an_agent_under_a_variant_of_its_name(
    name: str, incident: Path, env: dict[str, str], tmp_path: Path
) -> None:
    """Route: the agent's process goes by `claude-code`, `Claude` or `claude.exe`, not the
    exact `claude` of the list. Mutation: agents.is_agent compares names exactly (the old
    `set.intersection`) -> the runbook variable resets the three nodes."""
    before = tfharness.state_bytes(incident)
    result = run_cleared(shell_named(name, tmp_path), incident, env)
    refused_as_agent(result, incident, before)
    assert "it runs under claude (process" in result.stderr


def test_an_agent_reached_through_a_symlink(
    incident: Path, env: dict[str, str], tmp_path: Path
) -> None:
    """Route: the agent is started through a symlink named `mytool`, so its kernel name
    and argv[0] are `mytool`; only the file it runs is `claude`. Mutation: _linux_parent
    without the /proc/PID/exe name -> applied."""
    real = shell_named("claude", tmp_path)
    link = tmp_path / "mytool"
    link.symlink_to(real)
    before = tfharness.state_bytes(incident)
    result = run_cleared(link, incident, env)
    refused_as_agent(result, incident, before)


def test_an_agent_run_as_a_node_script_in_its_package(
    incident: Path, env: dict[str, str], tmp_path: Path
) -> None:
    """Route: `node .../@anthropic-ai/claude-code/cli.js` (an npm install): the script is
    `cli.js`, only its folder names the agent. Mutation: names_of keeps only the script's
    basename -> applied."""
    node = shell_named("node", tmp_path)
    package = tmp_path / "lib" / "node_modules" / "@anthropic-ai" / "claude-code"
    package.mkdir(parents=True)
    kept = " ".join(
        f"{key}={shlex.quote(env[key])}"
        for key in ("PATH", "HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME", "TF_CLI_CONFIG_FILE")
    )
    script = package / "cli.js"
    script.write_text(
        f"env -i {kept} CHECKPOINT_DISABLE=1 NO_COLOR=1 "
        f"SAFETERRAFORM_CONFIRM_NODES={shlex.quote(NAMES)} terraform apply -input=false\n"
        "exit $?\n"
    )
    before = tfharness.state_bytes(incident)
    result = subprocess.run(
        [str(node), str(script)],
        cwd=incident,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )
    refused_as_agent(result, incident, before)
    assert "it runs under claude (process" in result.stderr


@pytest.mark.parametrize(
    ("name", "executable", "expected"),
    [
        ("company-coding-", "company-coding-agent", True),  # the kernel's 15-char cut
        ("CURSOR-AGENT", "cursor-agent", True),
        ("gemini-cli", "gemini", True),
        ("claudette", "claude", False),
        ("bash", "amp", False),
    ],
)
def test_is_agent(name: str, executable: str, expected: bool) -> None:
    """Mutation: is_agent without the COMM_LEN prefix rule -> an added agent whose name
    is longer than 15 characters is missed when argv[0] is rewritten."""
    assert agents.is_agent(name, executable) is expected


# Invisible characters a cloud tag can hold: the Arabic letter mark (bidi), a tag
# character that hides ASCII text, a line separator, a soft hyphen.
HIDDEN = "web\u061cx\U000e0041\u2028\u00ad"
HIDDEN_SHOWN = "web\\u061cx\\U000e0041\\u2028\\xad"
HIDDEN_HCL = '"web\\u061cx\\U000E0041\\u2028\\u00AD"'


@pytest.fixture()
def hidden(terraform_bin: Path, workdir: Path, env: dict[str, str]) -> Path:
    tfharness.make_incident(
        terraform_bin, workdir, env, {"powder": "192.0.2.65", HIDDEN_HCL: "192.0.2.66"}
    )
    return workdir


def test_invisible_format_characters_in_a_name_are_shown(
    hidden: Path, shim: Runner, env: dict[str, str]
) -> None:
    """Route: a node name whose hidden characters are not in inert's list (U+061C, a tag
    character, U+2028, U+00AD) reaches the terminal and the Markdown report raw.
    Mutation: inert._unsafe without the Unicode category check -> they print raw."""
    planned = shim("plan", "-input=false", "-out=review.tfplan")
    assert planned.returncode == 0, planned.stderr
    for form in ("text", "markdown"):
        result = subprocess.run(
            [safeterraform_command(), "check", "review.tfplan", "--format", form],
            cwd=hidden,
            env=env,
            capture_output=True,
            text=True,
        )
        output = result.stdout + result.stderr
        assert not any(char in output for char in HIDDEN[3:] if char != "x"), (form, output)
        assert "web\\" in output, output
    before = tfharness.state_bytes(hidden)
    refused = shim("apply", "-input=false")
    assert refused.returncode == 3
    assert HIDDEN_SHOWN in refused.stderr, refused.stderr
    assert tfharness.state_bytes(hidden) == before
    assert inert.inert(HIDDEN) == HIDDEN_SHOWN


def test_the_default_agents_are_found_in_their_package_folders() -> None:
    """`gemini-cli/dist/index.js`: the package is two folders up."""
    names = agents.names_of(
        "node", ["node", "/usr/lib/node_modules/@google/gemini-cli/dist/index.js"]
    )
    found = agents.agent_process(policy.DEFAULT_AGENT_PROCESSES, [agents.Process(5, names)])
    assert found is not None
