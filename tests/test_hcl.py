"""blast/hcl.py: block boundaries, attributes and references, checked against a real HCL
parser (python-hcl2) on every fixture's configuration and on text made to confuse a lexer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import hcl2
import pytest

from safeterraform.blast import hcl

FIXTURES = Path(__file__).parent / "fixtures" / "plans"

TRICKY = """
# resource "terraform_data" "commented" { }
/* resource "terraform_data" "also_commented" { } */
locals {
  text  = "a } brace ${ "in" } a string {"
  doc   = <<-EOT
    } closing braces in a heredoc {
    resource "terraform_data" "in_heredoc" {}
  EOT
  list  = [for n in ["a", "b"] : { name = n }]
  url   = "https://example.com/a.b"
}

variable "x" {
  default = { a = "}" }
}

resource "terraform_data" "onyx" {
  input            = { hostname = "onyx", ip = "${"}"}" } // trailing { comment
  triggers_replace = [local.text, var.x]
  lifecycle {
    replace_triggered_by = [terraform_data.other]
  }
  provisioner "local-exec" {
    when    = destroy
    command = "echo ${self.input.ip}"
  }
}

module "node" {
  source = "./node"
  name   = "cp-${count.index}"
}
"""


def _unquote(label: str) -> str:
    return label[1:-1] if label.startswith('"') and label.endswith('"') else label


def hcl2_blocks(text: str) -> list[tuple[str, tuple[str, ...]]]:
    """Top-level (type, labels) as python-hcl2 parses the whole file."""
    found: list[tuple[str, tuple[str, ...]]] = []
    for kind, entries in hcl2.loads(text).items():
        if kind.startswith("__"):  # __comments__
            continue
        for entry in entries:
            labels: list[str] = []
            node: Any = entry
            while isinstance(node, dict) and not node.get("__is_block__") and len(node) == 1:
                ((label, node),) = node.items()
                labels.append(_unquote(label))
            found.append((kind, tuple(labels)))
    return sorted(found)


def _is_block(value: Any) -> bool:
    """hcl2 renders nested blocks as lists of (possibly labelled) dicts marked __is_block__."""
    if not isinstance(value, list) or not value:
        return False
    for item in value:
        node = item
        while isinstance(node, dict) and not node.get("__is_block__") and len(node) == 1:
            ((_, node),) = node.items()
        if not (isinstance(node, dict) and node.get("__is_block__")):
            return False
    return True


def hcl2_attributes(block_text: str) -> set[str]:
    parsed = hcl2.loads(block_text)
    ((_, entries),) = parsed.items()
    node: Any = entries[0]
    while isinstance(node, dict) and not node.get("__is_block__") and len(node) == 1:
        ((_, node),) = node.items()
    return {key for key, value in node.items() if not key.startswith("__") and not _is_block(value)}


def configuration_texts() -> list[tuple[str, str]]:
    texts = [("tricky", TRICKY)]
    for path in sorted(FIXTURES.glob("*.json")):
        snapshot = json.loads(path.read_text())["snapshot"]
        texts += [
            (f"{path.stem}:{name}", text) for name, text in snapshot.items() if name.endswith(".tf")
        ]
    return texts


@pytest.mark.parametrize(("where", "text"), configuration_texts(), ids=lambda v: v[:40])
def test_block_boundaries_agree_with_python_hcl2(where: str, text: str) -> None:
    """Mutation: not skipping heredocs in hcl.skip_comment_or_heredoc splits the tricky
    file's locals block at the brace inside the heredoc, and this fails."""
    blocks = list(hcl.blocks(text))
    assert sorted((block.type, block.labels) for block in blocks) == hcl2_blocks(text), where
    for block in blocks:
        # Each block's text is exactly one block: it parses alone, to the same labels.
        assert hcl2_blocks(block.text) == [(block.type, block.labels)], block.text
        if block.type in ("resource", "data", "module", "locals", "variable", "output"):
            attributes = hcl.attributes(block.text, block.body_start, block.body_end)
            assert set(attributes) == hcl2_attributes(block.text), block.text


def test_attribute_expressions_are_whole() -> None:
    (onyx,) = [block for block in hcl.blocks(TRICKY) if block.labels[-1:] == ("onyx",)]
    attributes = hcl.attributes(onyx.text, onyx.body_start, onyx.body_end)
    assert attributes == {
        "input": '{ hostname = "onyx", ip = "${"}"}" }',
        "triggers_replace": "[local.text, var.x]",
    }
    (locals_block,) = [block for block in hcl.blocks(TRICKY) if block.type == "locals"]
    local = hcl.attributes(locals_block.text, locals_block.body_start, locals_block.body_end)
    assert local["doc"].startswith("<<-EOT") and local["doc"].endswith("EOT")
    assert local["list"] == '[for n in ["a", "b"] : { name = n }]'


def test_traversals() -> None:
    assert hcl.traversals("terraform_data.x[each.key].input.node") == (
        "terraform_data.x[each.key].input.node",
    )
    assert hcl.traversals('"vlan-${each.value}-${var.x}"') == ("each.value", "var.x")
    assert hcl.traversals('module.net["eu"].cidr') == ('module.net["eu"].cidr',)
    assert hcl.traversals("upper(local.a) == local.a") == ("local.a",)


def test_object_items_and_single_interpolation() -> None:
    assert hcl.object_items('{ a = var.x, "b" = "y"\n c = { d = 1 } }') == {
        "a": "var.x",
        "b": '"y"',
        "c": "{ d = 1 }",
    }
    assert hcl.object_items("[1, 2]") is None
    assert hcl.single_interpolation('"talos-${ var.x }"') == ("talos-", "var.x", "")
    assert hcl.single_interpolation('"${var.x}-${var.y}"') is None
    assert hcl.single_interpolation('"plain"') is None
