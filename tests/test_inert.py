"""Strings from state are shown inert (README "What is enforced", issue 26).

A node whose name in state holds ESC sequences and a newline (a cloud tag set by someone
else): `\\x1b[1A\\x1b[2K` erases the line above and could print a fake verdict. No output
of safeterraform carries the raw ESC, and the name is confirmed by typing it as shown.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from safeterraform import blast, confirm, inert, render
from safeterraform.blast import nodes
from tests import tfharness
from tests.conftest import Runner
from tests.test_approve import safeterraform_command
from tests.test_guard import RESET, finish, reset_log, spawn

HOSTILE = "evil\x1b[1A\x1b[2Kfake\nname"
SHOWN = "'evil\\x1b[1A\\x1b[2Kfake\\nname'"
# The HCL spelling of HOSTILE, as an object key and so as each.key and input.hostname.
HCL_KEY = '"evil\\u001b[1A\\u001b[2Kfake\\nname"'
NODES = {"powder": "192.0.2.65", HCL_KEY: "192.0.2.66"}


@pytest.fixture()
def hostile(terraform_bin: Path, workdir: Path, env: dict[str, str]) -> Path:
    tfharness.make_incident(terraform_bin, workdir, env, NODES)
    return workdir


def no_raw_escape(text: str) -> None:
    assert "\x1b[1A" not in text and "\x1b[2K" not in text, repr(text)


def safeterraform(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run(
        [safeterraform_command(), *args], cwd=cwd, env=env, capture_output=True, text=True
    )
    return result.stdout + result.stderr


def test_the_hostile_name_is_inert_everywhere_and_typed_as_shown(
    hostile: Path, shim: Runner, shim_bin: Path, env: dict[str, str]
) -> None:
    """Mutation: Terraform.foreground without inert_output -> terraform's own plan prints
    the raw ESC. Mutation: confirm.normalise without inert -> the name as shown does not
    match. Mutation: log._text without inert -> `safeterraform log` prints it raw."""
    planned = shim("plan", "-input=false", "-out=review.tfplan")
    assert planned.returncode == 0, planned.stderr
    for form in ("text", "markdown", "json"):
        output = safeterraform(["check", "review.tfplan", "--format", form], hostile, env)
        assert "\x1b" not in output, (form, output)
        if form == "json":
            assert HOSTILE in json.loads(output)["affected_nodes"]  # JSON keeps the value
    refused = shim("apply", "-input=false")  # no terminal: the refusal lists the nodes
    assert refused.returncode == 3
    assert "\x1b" not in refused.stdout + refused.stderr
    assert SHOWN in refused.stderr

    child = spawn(shim_bin, ["apply"], hostile, env)
    child.expect("Type the names")
    no_raw_escape(child.before or "")
    assert SHOWN in (child.before or "")
    child.sendline(f"powder {SHOWN}")
    child.expect("Apply complete!")
    assert finish(child) == 0
    assert sorted(reset_log(hostile)) == [f"{RESET} 192.0.2.6{n}" for n in (5, 6)]

    log = safeterraform(["log"], hostile, {**env, "COLUMNS": "200"})
    assert "\x1b" not in log
    assert "evil\\x1b[1A" in log


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain-name", "plain-name"),
        ("a\x1b[2Kb", "a\\x1b[2Kb"),
        ("tab\there\r\n", "tab\\there\\r\\n"),
        ("bell\x07del\x7fcsi\x9b", "bell\\x07del\\x7fcsi\\x9b"),
        ("rtl\u202eevil", "rtl\\u202eevil"),
        ("ünïcode-ok", "ünïcode-ok"),
    ],
)
def test_inert_makes_control_characters_visible(raw: str, shown: str) -> None:
    """Mutation: inert leaves C1 controls or bidi overrides alone."""
    assert inert.inert(raw) == shown
    assert inert.changed(raw) == (raw != shown)


def test_markdown_escapes_outside_code_spans() -> None:
    """The ESC shows as `\\x1b` (its backslash escaped, so Markdown renders `\\x1b`)."""
    assert inert.markdown("<img src=x> *bold* [a](b) x\x1b") == (
        "&lt;img src=x&gt; \\*bold\\* \\[a\\](b) x\\\\x1b"
    )


def test_a_name_typed_as_shown_or_raw_matches() -> None:
    assert nodes.display_name(HOSTILE) == SHOWN
    assert confirm.display_name(HOSTILE) == SHOWN
    assert confirm.matches(confirm.split_names(SHOWN), [HOSTILE])
    assert confirm.matches([HOSTILE], [HOSTILE])
    assert not confirm.matches(confirm.split_names("evilx1b"), [HOSTILE])


def test_render_keeps_our_own_lines() -> None:
    """The rendering's own text (no control characters) is unchanged by inert."""
    assert render.inert is inert.inert


def test_terraforms_output_keeps_its_colours_and_loses_the_rest() -> None:
    """Mutation: Stream passes every ESC -> the cursor-up reaches the terminal."""
    stream = inert.Stream()
    chunks = ["\x1b[1m# a\x1b[0m evil\x1b", "[1A\x1b[2", "Km\n\x1b[3", "2mok\x1b[0m\rX", "\x1b"]
    shown = "".join(stream.feed(chunk) for chunk in chunks) + stream.end()
    assert shown == "\x1b[1m# a\x1b[0m evil\\x1b[1A\\x1b[2Km\n\x1b[32mok\x1b[0m\\rX\\x1b"


def test_the_stream_shows_the_same_in_any_chunks() -> None:
    """Plain runs are passed on whole (a plan prints 200 KB of them): however the output
    is cut, what is shown is what one character at a time shows.
    Mutation: a plain run that also takes \\r, DEL or C1 characters."""
    text = (
        "terraform_data.x[1]: Refreshing state... [id=ab]\n\t\x1b[1mbold\x1b[0m caf\u00e9 "
        "\u202eevil\u202c \x07\x7f\x85 \x1b[2K\x1b[31\rX\x1b]0;title\x07 end\n"
    ) * 3
    one_by_one = inert.Stream()
    expected = "".join(one_by_one.feed(char) for char in text) + one_by_one.end()
    assert "\\x1b[2K" in expected and "\\r" in expected and "\\x7f" in expected
    for size in (1, 2, 3, 7, 64, len(text)):
        stream = inert.Stream()
        shown = "".join(stream.feed(text[i : i + size]) for i in range(0, len(text), size))
        assert shown + stream.end() == expected, size


def test_renderings_of_a_hostile_value_hold_no_escape() -> None:
    """A value from state in a destroy-time command (the incident's IP, with ESC in it).
    Mutation: render._lines (or to_markdown) without inert -> raw ESC in the text."""
    fixture = Path(__file__).parent / "fixtures" / "plans" / "incident.json"
    text = fixture.read_text().replace("192.0.2.65", "192.0.2.65\\u001b[1A\\u001b[2K")
    data = json.loads(text)
    analysis = blast.analyze(data["plan"], data["snapshot"], ("hostname", "node", "name"))
    plain = render.to_text(analysis)
    assert "192.0.2.65\\x1b[1A" in plain
    for shown in (plain, render.to_markdown(analysis)):
        assert "\x1b" not in shown
    assert "\\u001b" in render.to_json(analysis)  # JSON keeps its own escaping
