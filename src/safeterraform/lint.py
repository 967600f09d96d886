"""`safeterraform lint`: what the post-mortem said never to commit (issue 20). Pure.

Two rules over the files of a repository, given as {path: text}:
- `destroy-provisioner`: every `when = destroy` provisioner in the Terraform configuration
  (the root modules and the local modules they call, `.tf` and `.tf.json`), with its
  address and the command as written; a dangerous command (a regex of
  `[lint] dangerous_commands`) makes it an error rather than a warning.
- `auto-approve`: `-auto-approve` in any spelling Go's flag package accepts as true, on a
  terraform/tofu/terragrunt command line in shell scripts, Makefiles, CI files and the
  shell code blocks of Markdown runbooks.
`# safeterraform: allow <rule> <reason>` on a finding's line or the line above suppresses
that one finding; it is reported as suppressed, with its reason.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from safeterraform.argv import GO_FALSE, flag_name_value
from safeterraform.errors import SafeTerraformError

DESTROY_PROVISIONER = "destroy-provisioner"
AUTO_APPROVE = "auto-approve"
RULES = {  # id: (short description, full description)
    DESTROY_PROVISIONER: (
        "A destroy-time provisioner in the Terraform configuration",
        "A destroy-time provisioner runs its command whenever Terraform destroys or replaces "
        "the resource, e.g. on every node at once when a changed argument forces replacement.",
    ),
    AUTO_APPROVE: (
        "-auto-approve on a terraform command line",
        "-auto-approve applies whatever the plan contains without anyone reading it; the "
        "incident's apply destroyed three control planes that way.",
    ),
}
ERROR = "error"
WARNING = "warning"

# Python regexes, searched in a provisioner's command (backslash-newline continuations
# joined first); `.` stops at a newline, so the words must be on one command line.
DEFAULT_DANGEROUS_COMMANDS = (
    r"\btalosctl\b.*?\breset\b",
    r"\bkubectl\b.*?\b(?:delete|drain)\b",
    r"\brm\s+(?:-[a-zA-Z]*[rR][a-zA-Z]*|--recursive)\b",
    r"\bdd\b.*?\bof=",
    r"\bmkfs\b",
    r"\bwipefs\b",
    r"\bvirsh\b.*?\b(?:destroy|undefine)\b",
    r"\bqm\s+destroy\b",
    r"\bpct\s+destroy\b",
    r"\bblkdiscard\b",
    r"\bsgdisk\b.*?(?:--zap|-Z\b)",
)


class LintError(SafeTerraformError):
    """A file lint cannot read (bad HCL or JSON), named with file:line; exit 1."""

    exit_code = 1


@dataclass(frozen=True)
class Dangerous:
    pattern: str
    match: str  # the text of the command that matched


@dataclass(frozen=True)
class Suppression:
    line: int
    reason: str


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str
    path: str
    line: int
    message: str
    text: str  # the command (provisioner) or the command line (auto-approve) as written
    address: str | None = None
    provisioner: str | None = None
    dangerous: tuple[Dangerous, ...] = ()
    suppression: Suppression | None = None
    first_line: int = field(default=0, compare=False)  # a continued command's first line


@dataclass(frozen=True)
class Report:
    findings: tuple[Finding, ...]  # not suppressed: these fail the check
    suppressed: tuple[Finding, ...]
    files: tuple[str, ...]  # every file that was read


# --- which files are read --------------------------------------------------------------

TERRAFORM = "terraform"
SHELL = "shell"
MAKEFILE = "makefile"
YAML = "ci"
MARKDOWN = "markdown"

_SHEBANG = re.compile(r"#![ \t]*\S*/(?:env[ \t]+(?:-\S+[ \t]+)*)?(?:ba|z|k|da|a)?sh\b")
SKIPPED_DIRECTORIES = frozenset(
    {".terraform", ".terragrunt-cache", "node_modules", "venv", "__pycache__", "vendor"}
)


def kind_by_name(path: str) -> str | None:
    """What a file is by its name alone; None when only a shebang could tell."""
    name = os.path.basename(path)
    parts = path.replace(os.sep, "/").split("/")
    if name.endswith((".tf", ".tf.json")):
        return TERRAFORM
    if name.endswith((".sh", ".bash")):
        return SHELL
    if name in ("Makefile", "makefile", "GNUmakefile") or name.endswith(".mk"):
        return MAKEFILE
    if name.endswith((".md", ".markdown")):
        return MARKDOWN
    if name.endswith((".yml", ".yaml")) and (
        ".gitlab-ci" in name
        or (len(parts) >= 3 and parts[-3:-1] == [".github", "workflows"])
        or name in ("action.yml", "action.yaml")
    ):
        return YAML
    return None


def file_kind(path: str, head: str) -> str | None:
    """What a file is, from its name or, for a script without an extension, its shebang."""
    return kind_by_name(path) or (SHELL if _SHEBANG.match(head) else None)


def skip_directory(name: str) -> bool:
    """Directories a walk does not enter: VCS, caches, vendored code; `.github` is read."""
    return name in SKIPPED_DIRECTORIES or (name.startswith(".") and name != ".github")


# --- the check -------------------------------------------------------------------------


def compile_patterns(patterns: Sequence[str]) -> tuple[re.Pattern[str], ...]:
    """The dangerous-command regexes; a bad one is a LintError naming it."""
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern))
        except re.error as error:
            raise LintError(
                f"safeterraform lint: bad dangerous_commands regex {pattern!r}: {error}"
            ) from None
    return tuple(compiled)


def lint(
    files: Mapping[str, str],
    dangerous: Sequence[str] = DEFAULT_DANGEROUS_COMMANDS,
    load_module: Callable[[str], Mapping[str, str]] | None = None,
) -> Report:
    """Check `files` ({path: text}, read by the caller); a directory that a local module
    call names and `files` lacks is asked of `load_module` ({path: text} of its files)."""
    patterns = compile_patterns(dangerous)
    texts = dict(files)
    raw: list[Finding] = []
    terraform = {path for path in texts if kind_by_name(path) == TERRAFORM}
    raw.extend(_terraform_findings(texts, terraform, patterns, load_module))
    for path in sorted(set(texts) - terraform):
        kind = file_kind(path, texts[path][:200])
        if kind not in (None, TERRAFORM):  # a module read through load_module
            raw.extend(_auto_approve_findings(path, texts[path], kind))
    findings, suppressed = _suppress(raw, texts)
    return Report(tuple(findings), tuple(suppressed), tuple(sorted(texts)))


_SUPPRESSION = re.compile(
    r"(?:#|//)[ \t]*safeterraform:[ \t]*allow[ \t]+([A-Za-z0-9_-]+)(?:[ \t]+(.*?))?[ \t]*\r?$"
)


def _suppressions(text: str) -> dict[int, tuple[str, str]]:
    found = {}
    for number, line in enumerate(text.splitlines(), 1):
        match = _SUPPRESSION.search(line)
        if match:
            found[number] = (match.group(1), (match.group(2) or "").strip())
    return found


def _suppress(
    raw: Sequence[Finding], texts: Mapping[str, str]
) -> tuple[list[Finding], list[Finding]]:
    """Each `allow` comment (with a reason) suppresses one finding of its rule, on its own
    line or the line below; a continued command may carry it above its first line."""
    comments: dict[str, dict[int, tuple[str, str]]] = {}
    used: set[tuple[str, int]] = set()
    findings, suppressed = [], []
    for finding in sorted(raw, key=lambda f: (f.path, f.line, f.rule, f.address or "")):
        if finding.path not in comments:
            comments[finding.path] = _suppressions(texts.get(finding.path, ""))
        candidates = dict.fromkeys(
            (finding.line, finding.line - 1, (finding.first_line or finding.line) - 1)
        )
        for line in candidates:
            rule, reason = comments[finding.path].get(line, ("", ""))
            if rule == finding.rule and reason and (finding.path, line) not in used:
                used.add((finding.path, line))
                suppressed.append(replace(finding, suppression=Suppression(line, reason)))
                break
        else:
            findings.append(_without_reason(finding, comments[finding.path], candidates))
    return findings, suppressed


def _without_reason(
    finding: Finding, comments: Mapping[int, tuple[str, str]], lines: Iterable[int]
) -> Finding:
    """A finding whose `allow` comment has no reason says so: that comment suppresses
    nothing, and silence would let its writer think it did."""
    for line in lines:
        if comments.get(line) == (finding.rule, ""):
            return replace(
                finding,
                message=f"{finding.message} (the allow comment on line {line} has no reason, "
                f"so it suppresses nothing: write `# safeterraform: allow {finding.rule} "
                "<reason>`)",
            )
    return finding


# --- Terraform: HCL through python-hcl2's grammar, with positions ----------------------


@dataclass(frozen=True)
class _Provisioner:
    path: str
    line: int
    resource: str  # `type.name`, or a removed block's `from`, relative to its module
    removed: bool
    type: str
    command: str  # as written
    danger_text: str
    repeated: str | None = None  # "for_each" or "count": runs once per instance


@dataclass(frozen=True)
class _ModuleCall:
    name: str
    directory: str  # normalised path of the local module


@dataclass
class _Module:
    provisioners: list[_Provisioner] = field(default_factory=list)
    calls: list[_ModuleCall] = field(default_factory=list)


COMMAND_ARGUMENTS = ("command", "inline", "script", "scripts")


def _terraform_findings(
    texts: dict[str, str],
    terraform: set[str],
    patterns: Sequence[re.Pattern[str]],
    load_module: Callable[[str], Mapping[str, str]] | None,
) -> Iterator[Finding]:
    modules: dict[str, _Module] = {}

    def module(directory: str) -> _Module:
        if directory not in modules:
            paths = [p for p in terraform if os.path.dirname(p) == directory]
            if not paths and load_module is not None:
                for path, text in load_module(directory).items():
                    texts[path] = text
                    paths.append(path)
            read = _Module()
            for path in sorted(paths):
                _read_terraform(path, texts[path], read)
            modules[directory] = read
        return modules[directory]

    directories = sorted({os.path.dirname(path) for path in terraform})
    for directory in directories:
        module(directory)
    called = {call.directory for d in directories for call in modules[d].calls}
    roots = [d for d in directories if d not in called]
    seen: set[tuple[str, int]] = set()

    def walk(directory: str, prefix: str, stack: tuple[str, ...]) -> Iterator[Finding]:
        read = module(directory)
        for provisioner in read.provisioners:
            if (provisioner.path, provisioner.line) not in seen:
                seen.add((provisioner.path, provisioner.line))
                yield _provisioner_finding(provisioner, prefix, patterns)
        for call in read.calls:
            if call.directory not in stack:  # a module that calls itself: Terraform errors
                yield from walk(
                    call.directory, f"{prefix}module.{call.name}.", (*stack, call.directory)
                )

    for root in roots:
        yield from walk(root, "", (root,))
    for directory in directories:  # only reachable through a cycle
        yield from walk(directory, "", (directory,))


def _provisioner_finding(
    provisioner: _Provisioner, prefix: str, patterns: Sequence[re.Pattern[str]]
) -> Finding:
    joined = re.sub(r"[ \t]*\\\r?\n[ \t]*", " ", provisioner.danger_text)
    dangerous = []
    for pattern in patterns:
        match = pattern.search(joined)
        if match:
            dangerous.append(Dangerous(pattern.pattern, match.group(0)))
    address = prefix + provisioner.resource
    where = f"the removed block for {address}" if provisioner.removed else address
    written = " ".join(provisioner.command.split())
    command = f": {written}" if written else " (no command)"
    message = f"{where} has a destroy-time {provisioner.type} provisioner{command}"
    if provisioner.repeated:
        message += f" (runs for every {provisioner.repeated} instance)"
    if dangerous:
        message += " (dangerous: " + ", ".join(d.match for d in dangerous) + ")"
    return Finding(
        rule=DESTROY_PROVISIONER,
        severity=ERROR if dangerous else WARNING,
        path=provisioner.path,
        line=provisioner.line,
        message=message,
        text=provisioner.command,
        address=address,
        provisioner=provisioner.type,
        dangerous=tuple(dangerous),
    )


def _read_terraform(path: str, text: str, module: _Module) -> None:
    if path.endswith(".tf.json"):
        _read_json(path, text, module)
    else:
        _read_hcl(path, text, module)


def _parse_hcl(path: str, text: str) -> Any:
    """The lark tree of a file, positions included; bad syntax is one LintError line."""
    from hcl2.parser import parser  # the grammar costs ~0.1 s: only when there is HCL
    from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput

    try:
        return parser().parse(text + "\n")  # hcl2 needs the final newline
    except UnexpectedInput as error:
        line, column = getattr(error, "line", -1), getattr(error, "column", -1)
        token = getattr(error, "token", None)
        if isinstance(error, UnexpectedEOF) or line < 0 or getattr(token, "type", "") == "$END":
            where, what = f"{path}:{max(1, len(text.splitlines()))}", "unexpected end of file"
        else:
            if isinstance(error, UnexpectedCharacters):
                shown = text.splitlines()[line - 1][column - 1 : column]
            else:
                shown = str(token).strip().splitlines()[0] if str(token).strip() else ""
            what = f"unexpected {shown!r}" if shown else "unexpected end of line"
            where = f"{path}:{line}:{column}"
        raise LintError(f"safeterraform lint: {where}: invalid HCL: {what}") from None


def _source(text: str, node: Any) -> str:
    return text[node.meta.start_pos : node.meta.end_pos]


def _children(body: Any, kind: str) -> Iterator[Any]:
    from lark import Tree

    for child in body.children:
        if isinstance(child, Tree) and child.data == kind:
            yield child


def _block_parts(text: str, block: Any) -> tuple[str, list[str], Any]:
    """A block's type, its labels (unquoted) and its body."""
    from lark import Token, Tree

    words: list[str] = []
    body = None
    for child in block.children:
        if isinstance(child, Token):
            continue
        if child.data == "body":
            body = child
        elif child.data != "new_line_or_comment":
            words.append(_unquote(_source(text, child)))
    return words[0], words[1:], body if isinstance(body, Tree) else None


def _attributes(text: str, body: Any) -> dict[str, str]:
    """Each argument of a body with its expression as written."""
    found = {}
    for attribute in _children(body, "attribute"):
        name, value = attribute.children[0], attribute.children[-1]
        found[_source(text, name).strip()] = _source(text, value).rstrip()
    return found


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"' and "${" not in value:
        try:
            unquoted = json.loads(value)
        except ValueError:
            return value[1:-1]
        return unquoted if isinstance(unquoted, str) else value[1:-1]
    return value


def is_local_source(source: str) -> bool:
    """Terraform's rule: a module source that starts with ./ or ../ is a local path."""
    return source.startswith(("./", "../", ".\\", "..\\"))


def _read_hcl(path: str, text: str, module: _Module) -> None:
    tree = _parse_hcl(path, text)
    (body,) = list(_children(tree, "body")) or [tree]
    directory = os.path.dirname(path)
    for block in _children(body, "block"):
        kind, labels, inner = _block_parts(text, block)
        if inner is None:
            continue
        if kind == "module" and len(labels) == 1:
            source = _unquote(_attributes(text, inner).get("source", ""))
            if is_local_source(source):
                target = os.path.normpath(os.path.join(directory, source.replace("\\", "/")))
                module.calls.append(_ModuleCall(labels[0], target))
            continue
        if kind == "resource" and len(labels) == 2:
            resource, removed = f"{labels[0]}.{labels[1]}", False
        elif kind == "removed":
            resource, removed = _attributes(text, inner).get("from", "?").strip(), True
        else:
            continue
        arguments = _attributes(text, inner)
        repeated = next((k for k in ("for_each", "count") if k in arguments), None)
        for provisioner in _children(inner, "block"):
            p_kind, p_labels, p_body = _block_parts(text, provisioner)
            if p_kind != "provisioner" or len(p_labels) != 1 or p_body is None:
                continue
            settings = _attributes(text, p_body)
            if settings.get("when", "").strip() != "destroy":
                continue
            command = next((settings[k] for k in COMMAND_ARGUMENTS if k in settings), "")
            module.provisioners.append(
                _Provisioner(
                    path=path,
                    line=provisioner.meta.line,
                    resource=resource,
                    removed=removed,
                    type=p_labels[0],
                    command=command,
                    danger_text=f"{settings.get('interpreter', '')}\n{command}",
                    repeated=repeated,
                )
            )


# --- Terraform JSON syntax: objects located by their offset ----------------------------


class _Located(dict[str, Any]):
    offset = 0


def _parse_json(path: str, text: str) -> Any:
    """json.loads, with each object remembering where it starts (pure-Python scanner)."""
    import json.decoder
    import json.scanner

    decoder = json.JSONDecoder()
    parse_object: Callable[..., tuple[dict[str, Any], int]] = json.decoder.JSONObject  # type: ignore[attr-defined]

    def located(string_and_end: tuple[str, int], *args: Any) -> tuple[_Located, int]:
        value, end = parse_object(string_and_end, *args)
        result = _Located(value)
        result.offset = string_and_end[1] - 1
        return result, end

    # The C scanner ignores parse_object; the pure-Python one calls it for every object.
    decoder.parse_object = located  # type: ignore[attr-defined]
    decoder.scan_once = json.scanner.py_make_scanner(decoder)  # type: ignore[attr-defined]
    try:
        value, end = decoder.raw_decode(text, len(text) - len(text.lstrip()))
        if text[end:].strip():
            raise json.JSONDecodeError("extra data", text, end)
    except json.JSONDecodeError as error:
        raise LintError(
            f"safeterraform lint: {path}:{error.lineno}:{error.colno}: invalid JSON: {error.msg}"
        ) from None
    return value


def _listed(value: Any) -> list[Any]:
    return [item for item in (value if isinstance(value, list) else [value]) if item is not None]


def _objects(value: Any) -> Iterator[tuple[str, Any]]:
    for item in _listed(value):
        if isinstance(item, dict):
            yield from item.items()


def _read_json(path: str, text: str, module: _Module) -> None:
    data = _parse_json(path, text)
    if not isinstance(data, dict):
        return
    directory = os.path.dirname(path)

    def provisioners(body: Any, resource: str, removed: bool) -> None:
        if not isinstance(body, dict):
            return
        repeated = next((k for k in ("for_each", "count") if k in body), None)
        for type_, settings in _objects(body.get("provisioner")):
            for setting in _listed(settings):
                if not isinstance(setting, dict) or setting.get("when") != "destroy":
                    continue
                written = next((setting[k] for k in COMMAND_ARGUMENTS if k in setting), None)
                command = "" if written is None else json.dumps(written)
                interpreter = json.dumps(setting.get("interpreter", ""))
                module.provisioners.append(
                    _Provisioner(
                        path=path,
                        line=text.count("\n", 0, getattr(setting, "offset", 0)) + 1,
                        resource=resource,
                        removed=removed,
                        type=type_,
                        command=command,
                        danger_text=f"{interpreter}\n{'' if written is None else written}",
                        repeated=repeated,
                    )
                )

    for type_, named in _objects(data.get("resource")):
        for name, bodies in _objects(named):
            for body in _listed(bodies):
                provisioners(body, f"{type_}.{name}", removed=False)
    for body in _listed(data.get("removed")):
        if isinstance(body, dict):
            provisioners(body, str(body.get("from", "?")), removed=True)
    for name, bodies in _objects(data.get("module")):
        for body in _listed(bodies):
            source = body.get("source") if isinstance(body, dict) else None
            if isinstance(source, str) and is_local_source(source):
                target = os.path.normpath(os.path.join(directory, source.replace("\\", "/")))
                module.calls.append(_ModuleCall(name, target))


# --- -auto-approve on command lines ----------------------------------------------------

# A word that names the tool: terraform, tofu, terragrunt, cdktf, or a variable such as
# $(TF), ${TF_BIN}, $TERRAFORM that stands for it.
_TOOL = re.compile(r"(?i)terraform|tofu|terragrunt|cdktf|(?<![a-z0-9])tf(?![a-z0-9])")
_VARIABLE = re.compile(r"\$(?:\([A-Za-z_][A-Za-z0-9_]*\)|\{[A-Za-z_][A-Za-z0-9_]*\})")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*[:+?]?=(.*)", re.DOTALL)
CONSOLE_FENCES = frozenset({"console", "shell-session", "terminal"})
SHELL_FENCES = frozenset({"", "sh", "bash", "shell", "zsh"}) | CONSOLE_FENCES
_FENCE = re.compile(r"^[ ]{0,3}(`{3,}|~{3,})[ \t]*([^`\s]*)")
_PROMPT = re.compile(r"^[ \t]*(?:\S*[$%#>])[ \t]+")


@dataclass(frozen=True)
class _Line:
    number: int
    text: str


def is_auto_approve(word: str) -> bool:
    """`-auto-approve`, `--auto-approve`, `-auto-approve=true|1|t|T|TRUE|True`, or a value
    lint cannot know (`=$AUTO`): everything but an explicit false (argv.GO_FALSE)."""
    parsed = flag_name_value(word)
    return parsed is not None and parsed[0] == "auto-approve" and parsed[1] not in GO_FALSE


def _command_lines(kind: str, text: str) -> Iterator[list[_Line]]:
    """The logical command lines of a file (backslash continuations joined), each as
    its physical lines; comment lines are left out, Markdown outside shell fences too."""
    pending: list[_Line] = []
    fence: str | None = None  # the opening ``` or ~~~ of the Markdown code block we are in
    shell = console = False
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw
        if kind == MARKDOWN:
            if fence is None:
                match = _FENCE.match(raw)
                if match:
                    fence, language = match.group(1), match.group(2).lower()
                    shell = language in SHELL_FENCES
                    console = language in CONSOLE_FENCES
                continue
            closing = raw.strip()
            if closing.startswith(fence) and not closing.strip(fence[0]):
                fence, pending = None, []
                continue
            if not shell:
                continue
            prompt = _PROMPT.match(line)
            if prompt and (console or line.lstrip().startswith("$ ")):
                line = line[prompt.end() :]
            elif console and not pending:
                continue  # a console block's output
        if not pending and line.lstrip().startswith("#"):
            continue
        pending.append(_Line(number, line))
        if line.rstrip().endswith("\\"):
            continue
        yield pending
        pending = []
    if pending:
        yield pending


def _words(text: str) -> Iterator[list[tuple[str, int]]]:
    """Command segments (split at ; & | ( ) `) of a shell line, each as its words with
    their offsets. Quotes group words but the words inside them are read too: a quoted
    `"terraform apply -auto-approve"` (a YAML string, an `sh -c`) is a command line."""
    segment: list[tuple[str, int]] = []
    word: list[str] = []
    start = -1
    quote = ""
    position = 0

    def flush() -> None:
        nonlocal word, start
        if word:
            joined = "".join(word)
            parts = joined.split()
            segment.extend((part, start) for part in parts)
            assignment = _ASSIGNMENT.fullmatch(joined)
            if assignment:  # TF_CLI_ARGS="-auto-approve": the value is read too
                segment.extend((part, start) for part in assignment.group(1).split())
        word, start = [], -1

    while position < len(text):
        char = text[position]
        if quote:
            if char == quote:
                quote = ""
            elif char == "\\" and quote == '"' and position + 1 < len(text):
                position += 1
                word.append(text[position])
            else:
                word.append(char)
        elif char in "'\"":
            quote = char
            start = position if start < 0 else start
        elif char == "\\" and position + 1 < len(text):
            position += 1
            if text[position] != "\n":
                word.append(text[position])
                start = position if start < 0 else start
            else:
                flush()
        elif char == "$" and (variable := _VARIABLE.match(text, position)):
            word.append(variable.group())  # $(TF) or ${TF}: a word, not a subshell
            start = position if start < 0 else start
            position = variable.end() - 1
        elif char.isspace():
            flush()
        elif char in ";&|()`":
            flush()
            if segment:
                yield segment
            segment = []
        elif char == "#" and not word:
            break  # a comment
        else:
            word.append(char)
            start = position if start < 0 else start
        position += 1
    flush()
    if segment:
        yield segment


def _auto_approve_findings(path: str, text: str, kind: str) -> Iterator[Finding]:
    for lines in _command_lines(kind, text):
        joined = "\n".join(line.text for line in lines)
        starts = []
        offset = 0
        for line in lines:
            starts.append((offset, line.number))
            offset += len(line.text) + 1
        shown = " ".join(line.text.strip().removesuffix("\\").strip() for line in lines)
        for segment in _words(joined):
            flags = [(word, at) for word, at in segment if is_auto_approve(word)]
            if not flags or not any(_TOOL.search(word) for word, _ in segment):
                continue
            word, at = flags[0]
            number = max(n for o, n in starts if o <= max(at, 0))
            yield Finding(
                rule=AUTO_APPROVE,
                severity=ERROR,
                path=path,
                line=number,
                message=f"{word} on a terraform command line: {shown}",
                text=shown,
                first_line=lines[0].number,
            )
