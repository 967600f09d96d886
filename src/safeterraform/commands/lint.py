"""`safeterraform lint [PATH...]`: read the files, check them, render (issue 20).

Exit 0: clean; 2: findings that are not suppressed; 1: a file lint cannot read or a bad
`[lint]` config. The formatters return strings; `run` alone prints.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safeterraform import __version__, launcher, lint, policy
from safeterraform.lint import Finding, LintError, Report

if TYPE_CHECKING:
    from rich.console import Console

EXIT_FINDINGS = 2
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
HOOK_ID = "safeterraform-lint"
PRE_COMMIT_CONFIG = ".pre-commit-config.yaml"


# --- reading ---------------------------------------------------------------------------


def dangerous_commands(env: Mapping[str, str], workdir: str) -> tuple[str, ...]:
    """The default dangerous-command regexes plus `[lint] dangerous_commands` of every
    config layer (system, user, repository): a layer adds patterns, never removes one."""
    config = policy.load(env, workdir, launcher.system_config(dict(env)))
    if config.error:
        raise LintError(config.error)  # lint's errors exit 1, not 3
    patterns = list(lint.DEFAULT_DANGEROUS_COMMANDS)
    for pattern, path in config.dangerous_commands:
        try:
            lint.compile_patterns([pattern])
        except LintError as error:
            raise LintError(f"safeterraform: config {path}: {error}") from None
        if pattern not in patterns:
            patterns.append(pattern)
    return tuple(patterns)


def _shown(path: Path) -> str:
    """A path as findings show it: relative to the current directory."""
    return os.path.relpath(path)


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None  # not a text file lint reads
    except OSError as error:
        raise LintError(
            f"safeterraform lint: cannot read {_shown(path)}: {error.strerror}"
        ) from None


def _head(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            return handle.read(200).decode("utf-8", "replace")
    except OSError:
        return ""


def _candidates(paths: Sequence[Path]) -> Iterator[Path]:
    for given in paths:
        if given.is_dir():
            for directory, subdirectories, names in os.walk(given):
                subdirectories[:] = sorted(d for d in subdirectories if not lint.skip_directory(d))
                for name in sorted(names):
                    yield Path(directory, name)
        elif given.is_file():
            yield given
        else:
            raise LintError(f"safeterraform lint: no such file or directory: {given}")


def collect(paths: Sequence[Path]) -> dict[str, str]:
    """{shown path: text} of every file under `paths` that lint reads."""
    files: dict[str, str] = {}
    for path in _candidates(paths):
        shown = _shown(path)
        if shown in files:
            continue
        if lint.kind_by_name(shown) is None and lint.file_kind(shown, _head(path)) is None:
            continue
        text = _read_text(path)
        if text is not None:
            files[shown] = text
    return files


def load_module(directory: str) -> dict[str, str]:
    """The Terraform files of a local module outside the paths given (`../modules/x`)."""
    found: dict[str, str] = {}
    if not os.path.isdir(directory):
        return found
    for name in sorted(os.listdir(directory)):
        path = Path(directory, name)
        if lint.kind_by_name(name) == lint.TERRAFORM and path.is_file():
            text = _read_text(path)
            if text is not None:
                found[os.path.normpath(os.path.join(directory, name))] = text
    return found


def check(paths: Sequence[Path], env: Mapping[str, str], workdir: str) -> Report:
    return lint.lint(collect(paths), dangerous_commands(env, workdir), load_module)


# --- formats ---------------------------------------------------------------------------


SUPPRESS_HINT = (
    "A finding that is intended, once reviewed: `# safeterraform: allow <rule> <reason>` on "
    'its line or the line above suppresses it (docs/lint.md, "Suppressing one finding").'
)


def _location(finding: Finding) -> str:
    return f"{finding.path}:{finding.line}"


def to_text_lines(report: Report) -> list[tuple[str, str]]:
    """(line, style) pairs; the style is for a terminal and ignored elsewhere."""
    lines = []
    for finding in report.findings:
        style = "bold red" if finding.severity == lint.ERROR else "yellow"
        lines.append(
            (f"{_location(finding)}: {finding.severity} [{finding.rule}] {finding.message}", style)
        )
    for finding in report.suppressed:
        reason = finding.suppression.reason if finding.suppression else ""
        lines.append(
            (
                f"{_location(finding)}: suppressed [{finding.rule}] {finding.message} "
                f"(allowed: {reason})",
                "dim",
            )
        )
    errors = sum(1 for f in report.findings if f.severity == lint.ERROR)
    counts = f"{len(report.findings)} finding{'s' if len(report.findings) != 1 else ''}"
    if report.findings:
        counts += f" ({errors} error{'s' if errors != 1 else ''})"
    checked = f"{len(report.files)} file{'s' if len(report.files) != 1 else ''} checked"
    summary = (
        f"{counts}, {len(report.suppressed)} suppressed, {checked}"
        if report.findings
        else f"lint clean: {checked}, {len(report.suppressed)} suppressed"
    )
    if report.findings:
        lines.append((SUPPRESS_HINT, ""))
    lines.append((summary, "bold" if report.findings else "green"))
    return lines


def _finding_json(finding: Finding) -> dict[str, Any]:
    value: dict[str, Any] = {
        "rule": finding.rule,
        "severity": finding.severity,
        "file": finding.path,
        "line": finding.line,
        "message": finding.message,
        "text": finding.text,
    }
    if finding.rule == lint.DESTROY_PROVISIONER:
        value["address"] = finding.address
        value["provisioner"] = finding.provisioner
        value["dangerous"] = [{"pattern": d.pattern, "match": d.match} for d in finding.dangerous]
    if finding.suppression is not None:
        value["suppression"] = {
            "line": finding.suppression.line,
            "reason": finding.suppression.reason,
        }
    return value


def to_json(report: Report) -> str:
    """The report as JSON; schemas/lint.schema.json describes it."""
    document = {
        "version": 1,
        "tool": {"name": "safeterraform", "version": __version__},
        "findings": [_finding_json(f) for f in report.findings],
        "suppressed": [_finding_json(f) for f in report.suppressed],
        "files": list(report.files),
    }
    return json.dumps(document, indent=2) + "\n"


def _sarif_result(finding: Finding, rule_ids: list[str]) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": finding.rule,
        "ruleIndex": rule_ids.index(finding.rule),
        "level": finding.severity,
        "message": {"text": finding.message},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {
                        "uri": urllib.parse.quote(finding.path.replace(os.sep, "/")),
                        "uriBaseId": "%SRCROOT%",
                    },
                    "region": {"startLine": finding.line},
                }
            }
        ],
        "partialFingerprints": {
            "safeterraform/v1": f"{finding.rule}:{finding.address or finding.text}",
        },
    }
    properties: dict[str, Any] = {}
    if finding.address:
        properties["address"] = finding.address
        properties["provisioner"] = finding.provisioner
    if finding.dangerous:
        properties["dangerous"] = [d.match for d in finding.dangerous]
    if properties:
        result["properties"] = properties
    if finding.suppression is not None:
        result["suppressions"] = [
            {
                "kind": "inSource",
                "justification": finding.suppression.reason,
                "location": {
                    "physicalLocation": {
                        "artifactLocation": {
                            "uri": urllib.parse.quote(finding.path.replace(os.sep, "/")),
                            "uriBaseId": "%SRCROOT%",
                        },
                        "region": {"startLine": finding.suppression.line},
                    }
                },
            }
        ]
    return result


def to_sarif(report: Report, root: str) -> str:
    """SARIF 2.1.0 (what code-scanning UIs read); suppressed findings carry `suppressions`."""
    rule_ids = sorted(lint.RULES)
    rules = [
        {
            "id": rule,
            "name": "".join(part.title() for part in rule.split("-")),
            "shortDescription": {"text": lint.RULES[rule][0]},
            "fullDescription": {"text": lint.RULES[rule][1]},
            "defaultConfiguration": {
                "level": lint.WARNING if rule == lint.DESTROY_PROVISIONER else lint.ERROR
            },
            "help": {
                "text": f"{lint.RULES[rule][1]} Suppress one finding with "
                f"`# safeterraform: allow {rule} <reason>` on its line or the line above."
            },
        }
        for rule in rule_ids
    ]
    run = {
        "tool": {
            "driver": {
                "name": "safeterraform",
                "version": __version__,
                "rules": rules,
            }
        },
        "originalUriBaseIds": {"%SRCROOT%": {"uri": Path(root).absolute().as_uri() + "/"}},
        "results": [
            _sarif_result(finding, rule_ids)
            for finding in sorted(
                (*report.findings, *report.suppressed), key=lambda f: (f.path, f.line, f.rule)
            )
        ],
        "columnKind": "unicodeCodePoints",
    }
    document = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(document, indent=2) + "\n"


# --- the command -----------------------------------------------------------------------


def run(paths: Sequence[Path], output_format: str, console: Console | None = None) -> int:
    env = dict(os.environ)
    workdir = os.getcwd()
    report = check(list(paths) or [Path(".")], env, workdir)
    if output_format == "json":
        sys.stdout.write(to_json(report))
    elif output_format == "sarif":
        sys.stdout.write(to_sarif(report, workdir))
    else:
        from rich.console import Console
        from rich.text import Text

        console = console or Console(highlight=False, soft_wrap=True)
        for line, style in to_text_lines(report):
            console.print(Text(line, style=style))
    sys.stdout.flush()
    return EXIT_FINDINGS if report.findings else 0


# --- doctor ----------------------------------------------------------------------------


def repository_root(workdir: Path) -> Path | None:
    for directory in (workdir, *workdir.parents):
        if (directory / ".git").exists():
            return directory
    return None


def doctor_rows(workdir: Path, env: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """(label, value, style) rows for `safeterraform doctor`: the pre-commit hook and
    whether lint is clean, for the git repository around the working directory."""
    root = repository_root(workdir)
    if root is None:
        return [("pre-commit hook", f"not checked: {workdir} is not in a git repository", "")]
    config = root / PRE_COMMIT_CONFIG
    try:
        hooked = HOOK_ID in config.read_text(encoding="utf-8")
    except OSError:
        hooked = False
    rows = [
        (
            "pre-commit hook",
            f"{HOOK_ID} in {config}"
            if hooked
            else f"no: {config} does not configure {HOOK_ID} (see `safeterraform lint`)",
            "" if hooked else "yellow",
        )
    ]
    try:
        report = check([root], env, str(workdir))
    except LintError as error:
        return [*rows, ("lint", str(error), "red")]
    if report.findings:
        first = report.findings[0]
        where = os.path.relpath(os.path.abspath(first.path), root)
        more = f" (and {len(report.findings) - 1} more)" if len(report.findings) > 1 else ""
        rows.append(
            (
                "lint",
                f"{len(report.findings)} finding(s) in {root}: {where}:{first.line} "
                f"[{first.rule}]{more}; run `safeterraform lint`",
                "red",
            )
        )
    else:
        rows.append(("lint", f"clean: {len(report.files)} files in {root}", ""))
    return rows
