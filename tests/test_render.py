"""render.py: golden text/markdown/JSON over the real-plan fixtures, the JSON schema, colour."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from rich.console import Console

from safeterraform import blast, render
from safeterraform.policy import DEFAULT_NODE_ATTRIBUTES
from tests.plan_scenarios import SCENARIOS

HERE = Path(__file__).parent
FIXTURES = HERE / "fixtures" / "plans"
GOLDEN = HERE / "golden"
SCHEMA = json.loads((HERE.parent / "schemas" / "check.schema.json").read_text())
ATTRIBUTES = DEFAULT_NODE_ATTRIBUTES  # as scripts/make_plan_fixtures.py


def analysis_of(name: str) -> blast.Analysis:
    data = json.loads((FIXTURES / f"{name}.json").read_text())
    return blast.analyze(data["plan"], data["snapshot"], ATTRIBUTES)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
@pytest.mark.parametrize("suffix", ["txt", "md", "json"])
def test_golden(name: str, suffix: str) -> None:
    writer = {"txt": render.to_text, "md": render.to_markdown, "json": render.to_json}[suffix]
    expected = (GOLDEN / f"{name}.{suffix}").read_text()
    assert writer(analysis_of(name)) == expected, (
        f"tests/golden/{name}.{suffix} differs; if the change is intended, run "
        "scripts/make_plan_fixtures.py --goldens and review the diff"
    )


def validate(document: Any) -> None:
    """Validate against the published schema file (jsonschema, draft 2020-12)."""
    jsonschema.validate(document, SCHEMA, cls=jsonschema.Draft202012Validator)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_json_validates_against_the_published_schema(name: str) -> None:
    document = json.loads(render.to_json(analysis_of(name)))
    validate(document)
    assert document["schema_version"] == render.SCHEMA_VERSION
    assert SCHEMA["properties"]["schema_version"] == {"const": render.SCHEMA_VERSION}


def test_the_schema_rejects_what_it_forbids() -> None:
    document = json.loads(render.to_json(analysis_of("incident_chain")))
    change = document["changes"][0]
    for broken in (
        {**document, "extra": 1},
        {**document, "nodes_known": -1},
        {**document, "schema_version": 1},
        {**document, "changes": [{**change, "action": "explode"}]},
        {**document, "changes": [{**change, "cause": {**change["cause"], "kind": "magic"}}]},
        {**document, "changes": [{k: v for k, v in change.items() if k != "cause"}]},
        {key: value for key, value in document.items() if key != "affected_nodes"},
    ):
        with pytest.raises(jsonschema.ValidationError):
            validate(broken)


def test_provisioners_come_first_then_changes_then_counts() -> None:
    text = render.to_text(analysis_of("incident"))
    first_command = text.index("talosctl reset --nodes")
    first_change = text.index("replace (destroy, then create)")
    assert first_command < first_change < text.index("3 of 3 nodes affected")


def test_colour_on_a_terminal_and_none_with_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    analysis = analysis_of("incident")
    monkeypatch.delenv("NO_COLOR", raising=False)
    buffer = io.StringIO()
    render.to_console(analysis, Console(file=buffer, force_terminal=True, color_system="standard"))
    coloured = buffer.getvalue()
    command_line = next(line for line in coloured.splitlines() if "talosctl" in line)
    assert "\x1b[1;31m" in command_line  # bold red
    monkeypatch.setenv("NO_COLOR", "1")
    buffer = io.StringIO()
    render.to_console(analysis, Console(file=buffer, force_terminal=True, color_system="standard"))
    assert "\x1b[3" not in buffer.getvalue()  # no colour (bold may stay)
    monkeypatch.delenv("NO_COLOR")
    buffer = io.StringIO()
    render.to_console(analysis, Console(file=buffer))  # not a terminal
    assert "\x1b[" not in buffer.getvalue()
    assert buffer.getvalue() == render.to_text(analysis)


def test_plan_text_is_never_read_as_markup() -> None:
    hostile = blast.Analysis(
        terraform_version="1.15.5",
        changes=(
            blast.DestructiveChange(
                address='x.y["[bold]k[/bold]"]',
                node="[red]n[/red]",
                action="destroy",
                actions=("delete",),
                action_reason=None,
                reason=None,
                replace_paths=(),
                previous_address=None,
                deposed=None,
                create_before_destroy=False,
            ),
        ),
        destroy_provisioners=(
            blast.DestroyProvisioner(
                address='x.y["[bold]k[/bold]"]',
                node="[red]n[/red]",
                type="local-exec",
                command="echo ``` [link=x]a[/link] :smile:",
                unresolved=(),
                source="m-/main.tf",
                removed_block=False,
            ),
        ),
        affected_nodes=("[red]n[/red]",),
        nodes_known=1,
        creates=0,
        updates=0,
        imports=0,
    )
    text = render.to_text(hostile)
    assert "[red]n[/red]" in text and '["[bold]k[/bold]"]' in text
    assert "echo ``` [link=x]a[/link] :smile:" in text
    markdown = render.to_markdown(hostile)
    assert "````sh" in markdown  # a fence longer than any backtick run in the command


def test_no_change_words() -> None:
    analysis = analysis_of("no_change")
    assert render.headline(analysis).startswith("Nothing destructive")
    assert "destructive plan" not in render.to_markdown(analysis)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_a_plain_console_shows_the_plain_text(name: str) -> None:
    """Where stdout shows no colour, the review is written as render.to_text without rich
    (ui.UI.review): that text is what rich's plain console prints, at any width."""
    analysis = analysis_of(name)
    for width in (20, 300):
        buffer = io.StringIO()
        console = Console(
            file=buffer, no_color=True, highlight=False, color_system=None, width=width
        )
        render.to_console(analysis, console)
        assert buffer.getvalue() == render.to_text(analysis)


def test_a_review_to_a_pipe_does_not_import_rich(tmp_path: Path) -> None:
    """A guarded command whose stdout is a pipe (CI, a runbook) writes its review and notes
    as text: rich is not imported (~30 ms of CPU), and a `:name:` stays text as it does at a
    terminal. Mutation: UI.review printing through the console always."""
    import subprocess
    import sys

    fixture = FIXTURES / "incident.json"
    program = f"""
import json, sys
from safeterraform import blast, ui
from safeterraform.redact import Redactor
data = json.loads(open({str(fixture)!r}).read())
analysis = blast.analyze(data["plan"], data["snapshot"], {ATTRIBUTES!r})
shown = ui.make({{}}, Redactor())
assert shown.plain and shown.modules(asks=False) == ()
shown.review(analysis)
shown.note("node :fire: kept")
print(sorted(m for m in sys.modules if m.split(".")[0] == "rich"), file=sys.stderr)
"""
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "[]"
    expected = render.to_text(analysis_of("incident"))
    assert result.stdout == expected + "node :fire: kept\n"
