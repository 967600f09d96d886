"""Who says go: typed node names, the runbook variable, approvals, break-glass
(docs/design.md#confirmation, #break-glass-and-audit).

The pure part reads and compares names. `Confirmer` applies the rules to one guarded
command: at a terminal the operator types every affected node name (or `yes` when
nothing is destroyed); without one, SAFETERRAFORM_CONFIRM_NODES must state the set, or a
person's approval (`safeterraform approve`) of exactly this plan file is used, once;
break-glass stands in for either where config allows. Under a coding agent (a variable of
`[confirm] agent_env` is set, or an ancestor process is one: safeterraform.agents) nothing
destructive is confirmed by anything but a person's approval: no prompt, no variable, no
break-glass. Every refusal is recorded first.
"""

from __future__ import annotations

import datetime
import os
import shlex
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from safeterraform import agents
from safeterraform.approvals import NoApproval, PlanRef, Store
from safeterraform.audit import Recorder
from safeterraform.errors import (
    EXIT_INTERRUPTED,
    EXIT_NOT_CONFIRMED,
    EXIT_REFUSED,
    Refused,
    SafeTerraformError,
    block,
)
from safeterraform.inert import inert
from safeterraform.policy import Config
from safeterraform.ui import UI

ATTEMPTS = 3
CONFIRM_VAR = "SAFETERRAFORM_CONFIRM_NODES"
BREAK_GLASS_VAR = "SAFETERRAFORM_BREAK_GLASS"
SEPARATORS = " \t\r\n,"


@dataclass(frozen=True)
class Outcome:
    confirmed: bool
    typed: tuple[str, ...]  # the last answer, split into names
    interrupted: bool = False
    reason: str = ""


class Stop(SafeTerraformError):
    """The operator did not confirm (exit 4) or interrupted (130); already recorded."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.exit_code = code


def normalise(name: str) -> str:
    """A name as it is compared: NFC, and control characters as they are displayed
    (safeterraform.inert), so a name holding ESC is confirmed by typing what was shown."""
    return inert(unicodedata.normalize("NFC", name))


def display_name(name: str) -> str:
    """A name as it is typed: shell-quoted when it holds a separator, a quote or (shown
    inert) a control character."""
    name = inert(name)
    if name and not any(char in SEPARATORS or char in "'\"\\" for char in name):
        return name
    return shlex.quote(name)


def display_names(names: Sequence[str]) -> str:
    return " ".join(display_name(name) for name in names)


def split_names(answer: str) -> tuple[str, ...]:
    """The names in an answer: one per line when there are several lines, else separated
    by spaces and/or commas, with shell-style quoting for names that contain them."""
    lines = [line.strip() for line in answer.strip().splitlines() if line.strip()]
    if len(lines) > 1:
        return tuple(normalise(line) for line in lines)
    lexer = shlex.shlex(answer, posix=True)
    lexer.whitespace = SEPARATORS
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        names = list(lexer)
    except ValueError:  # an unbalanced quote: take the words as they are
        names = answer.replace(",", " ").split()
    return tuple(normalise(name) for name in names if name)


Aliases = Mapping[str, Sequence[str]]  # node name -> its addresses (blast.usable_addresses)


def _words(expected: Sequence[str], aliases: Aliases | None) -> dict[str, str]:
    """Every word that names an affected node -> that node: its name, and its addresses
    (an address that is also an affected node's name names that node)."""
    nodes = {normalise(name): name for name in expected}
    words = dict(nodes)
    for name, addresses in (aliases or {}).items():
        if name in expected:
            for address in addresses:
                words.setdefault(normalise(address), name)
    return words


def _reading(
    typed: Sequence[str], expected: Sequence[str], aliases: Aliases | None
) -> tuple[list[str], list[str], list[str]]:
    """(missing nodes, nodes named more than once, words that name no affected node)."""
    words = _words(expected, aliases)
    named: dict[str, list[str]] = {}
    extra: list[str] = []
    for word in map(normalise, typed):
        if word in words:
            named.setdefault(words[word], []).append(word)
        elif word not in extra:
            extra.append(word)
    missing = sorted(name for name in expected if name not in named)
    twice = sorted(name for name, said in named.items() if len(said) > 1)
    return missing, twice, extra


def matches(typed: Sequence[str], expected: Sequence[str], aliases: Aliases | None = None) -> bool:
    """Every affected node named exactly once, by its name or one of its addresses, and
    nothing else (any order; exact spelling after NFC)."""
    return _reading(typed, expected, aliases) == ([], [], [])


def _difference(typed: Sequence[str], expected: Sequence[str], aliases: Aliases | None) -> str:
    missing, twice, extra = _reading(typed, expected, aliases)
    parts = []
    if missing:
        parts.append(f"missing {', '.join(map(display_name, missing))}")
    if twice:
        parts.append(f"named more than once: {', '.join(map(display_name, twice))}")
    if extra:
        parts.append(f"not affected: {', '.join(map(display_name, sorted(extra)))}")
    return "; ".join(parts)


def _line_name(line: str, words: Mapping[str, str]) -> tuple[str, str] | None:
    """(node, word) when a line names one affected node on its own (as typed, or
    shell-quoted), else None."""
    whole = normalise(line.strip())
    if whole in words:
        return words[whole], whole
    names = split_names(line)
    if len(names) == 1 and names[0] in words:
        return words[names[0]], names[0]
    return None


def _read_on(
    answer: str,
    typed: tuple[str, ...],
    expected: Sequence[str],
    ask: Callable[[str], str],
    aliases: Aliases | None = None,
) -> tuple[str, ...]:
    """One name per line (a list pasted into the prompt): while each line is one affected
    node and nodes are missing, the next line is read as the next name. An empty line, or
    one that is not a missing node, ends the list; it is then compared as a whole."""
    words = _words(expected, aliases)
    wanted = set(expected)
    first = _line_name(answer, words) if len(answer.strip().splitlines()) == 1 else None
    if first is None or matches(typed, expected, aliases):
        return typed
    nodes, said = [first[0]], [first[1]]
    while set(nodes) != wanted:
        try:
            line = ask(f"Next name ({len(wanted - set(nodes))} still to type; Enter ends):")
        except EOFError:
            break
        found = _line_name(line, words)
        if found is None:
            said.extend(split_names(line))
            break
        said.append(found[1])
        if found[0] in nodes:
            break
        nodes.append(found[0])
    return tuple(said)


def confirm_nodes(
    expected: Sequence[str],
    ask: Callable[[str], str],
    tell: Callable[[str], None],
    attempts: int = ATTEMPTS,
    purpose: str = "to apply",
    aliases: Aliases | None = None,
    ask_more: Callable[[str], str] | None = None,
) -> Outcome:
    """Ask for the affected node names (`purpose`: what typing them does); an empty answer
    stops at once. `ask_more` reads the next line of a list pasted into the answer
    (default: `ask`)."""
    typed: tuple[str, ...] = ()
    for attempt in range(1, attempts + 1):
        left = attempts - attempt
        try:
            answer = ask(
                f"Type the names of the {len(expected)} affected node(s) {purpose}"
                f" (attempt {attempt} of {attempts}):"
            )
        except KeyboardInterrupt:
            return Outcome(False, typed, interrupted=True, reason="interrupted")
        except EOFError:
            answer = ""
        typed = split_names(answer)
        if not typed:
            return Outcome(False, typed, reason="empty answer")
        try:
            typed = _read_on(answer, typed, expected, ask_more or ask, aliases)
        except KeyboardInterrupt:
            return Outcome(False, typed, interrupted=True, reason="interrupted")
        if matches(typed, expected, aliases):
            return Outcome(True, typed)
        tell(
            f"Not confirmed: {_difference(typed, expected, aliases)}."
            + (f" {left} attempt(s) left." if left else "")
        )
    return Outcome(False, typed, reason=f"{attempts} failed attempts")


def confirm_plain(ask: Callable[[str], str], purpose: str = "to apply these changes") -> Outcome:
    """Nothing destructive: type `yes`, as Terraform itself asks (one key is not enough)."""
    try:
        answer = ask(f"Nothing is destroyed or replaced. Type `yes` {purpose}:")
    except KeyboardInterrupt:
        return Outcome(False, (), interrupted=True, reason="interrupted")
    except EOFError:
        answer = ""
    confirmed = answer.strip() == "yes"
    return Outcome(confirmed, (answer.strip(),), reason="" if confirmed else "did not type yes")


def confirm_from_env(
    expected: Sequence[str], env: Mapping[str, str], aliases: Aliases | None = None
) -> Outcome | None:
    """Non-interactive: SAFETERRAFORM_CONFIRM_NODES must name the affected set, each node
    once, by its name or its address.

    None when the variable is not set at all. An empty value means "I expect nothing
    destructive". The refusal names the difference, never the value to copy.
    """
    if CONFIRM_VAR not in env:
        return None
    typed = split_names(env[CONFIRM_VAR])
    if matches(typed, expected, aliases):
        return Outcome(True, typed)
    difference = _difference(typed, expected, aliases)
    return Outcome(
        False, typed, reason=f"{CONFIRM_VAR} does not state the affected nodes ({difference})"
    )


@dataclass
class Confirmer:
    """The go-ahead rules for one guarded command; refusals are recorded, then raised."""

    ui: UI
    env: Mapping[str, str]
    config: Config
    recorder: Recorder
    where: str = "this is production"  # and why: every refusal says it
    approvals: Store | None = None
    now: Callable[[], datetime.datetime] = field(
        default=lambda: datetime.datetime.now(datetime.UTC)
    )
    _agents: list[str] | None = field(default=None, init=False, repr=False)

    @property
    def agents(self) -> list[str]:
        """What says a coding agent runs this command (agents.markers: a variable, or an
        ancestor process); looked up once per command."""
        if self._agents is None:
            self._agents = agents.markers(self.config, self.env)
        return self._agents

    def needs_approval(self, expected: Sequence[str], plan: bool = True) -> bool:
        """Only a person's approval can confirm this: something is destroyed, replaced or
        forgotten, and a coding agent runs the command (or, for a plan, two_person)."""
        if not expected:
            return False
        return bool(self.agents) or (plan and self.config.two_person is not None)

    def refusal(self, message: str, **fields: Any) -> Refused:
        """Record a refusal (if even that fails, say so: it is refused anyway)."""
        try:
            self.recorder.record("refused", message, exit_code=EXIT_REFUSED, **fields)
        except Refused as error:
            self.ui.say(str(error))
        return Refused(message)

    def break_glass(self) -> str | None:
        """The break-glass reason when set and allowed; raises Refused when unusable."""
        if BREAK_GLASS_VAR not in self.env:
            return None
        if self.agents:
            raise Refused(f"break-glass is not available to a coding agent ({self.agents[0]})")
        reason = self.env[BREAK_GLASS_VAR].strip()
        if not reason:
            raise Refused(f"{BREAK_GLASS_VAR} is set but empty; give the reason")
        if not self.config.allow_break_glass:
            raise Refused(f"break-glass is disabled by {self.config.break_glass_disabled_by}")
        return reason

    def refuse_or_break_glass(self, message: str, **fields: Any) -> None:
        """Raise the refusal unless break-glass is set and allowed; then go on, loudly."""
        try:
            reason = self.break_glass()
        except Refused as error:
            raise self.refusal(f"{message}\n  break-glass not used: {error}", **fields) from None
        if reason is None:
            raise self.refusal(message, **fields)
        self.recorder.break_glass_reason = reason
        self.recorder.record("break-glass", message, **fields)
        shown = self.ui.redactor.scrub_typed(reason)  # a pasted token is shown as recorded
        self.ui.banner(break_glass_banner(message, shown))
        self.ui.say(f"safeterraform: break-glass recorded in {self.recorder.path}")

    def how(self) -> str:
        """How the go-ahead was given, for the audit record."""
        if self.recorder.break_glass_reason is not None:
            return "break-glass instead of a confirmation"
        if self.recorder.approved_by is not None:
            return f"approved by {self.recorder.approved_by}"
        return "operator confirmed" if self.ui.interactive else f"{CONFIRM_VAR} matched"

    def confirm(
        self,
        expected: Sequence[str],
        what: str,
        *,
        plan: PlanRef | None = None,
        next_step: str = "",
        purpose: str = "to apply",
        aliases: Aliases | None = None,
        **fields: Any,
    ) -> Outcome:
        """The go-ahead for `what` (one phrase naming what is at stake). With `plan`, a
        person's approval of exactly that plan may give it; `next_step` tells the reader
        how a person approves it when only an approval can; `purpose` ends the prompt;
        `aliases`: each node's addresses, which may be typed instead of its name."""
        expected = list(expected)
        fields = {"affected_nodes": expected, "expected_nodes": expected, **fields}
        needs_approval = self.needs_approval(expected, plan=plan is not None)
        if plan is not None and (needs_approval or not self.ui.interactive):
            missing = self._approved(plan, expected)
            if missing is None:
                return Outcome(True, tuple(expected))
            if needs_approval:
                raise self.refusal(self._for_a_person(expected, what, next_step, missing), **fields)
        elif needs_approval:
            raise self.refusal(self._for_a_person(expected, what, next_step, None), **fields)
        if not self.ui.interactive:
            return self._from_env(expected, what, fields, aliases)
        if expected:
            outcome = confirm_nodes(
                expected,
                self.ui.ask,
                self.ui.say,
                purpose=purpose,
                aliases=aliases,
                ask_more=lambda message: self.ui.ask(message, fresh=False),
            )
        else:
            outcome = confirm_plain(
                self.ui.ask, "to apply these changes" if purpose == "to apply" else purpose
            )
        if outcome.interrupted:
            self.recorder.record(
                "interrupted",
                "Ctrl-C at the confirmation",
                exit_code=EXIT_INTERRUPTED,
                typed_nodes=list(outcome.typed),
                **fields,
            )
            raise Stop(EXIT_INTERRUPTED, "safeterraform: interrupted; nothing was changed")
        if not outcome.confirmed:
            self.recorder.record(
                "not-confirmed",
                outcome.reason,
                exit_code=EXIT_NOT_CONFIRMED,
                typed_nodes=list(outcome.typed),
                **fields,
            )
            raise Stop(
                EXIT_NOT_CONFIRMED,
                f"safeterraform: not confirmed ({outcome.reason}); nothing was changed",
            )
        return outcome

    def _approved(self, plan: PlanRef, expected: list[str]) -> str | None:
        """Take the approval of this plan (recorded as `approved_by` from now on); None
        when taken, else why there is none."""
        if self.approvals is None:
            return "no approvals directory"
        try:
            approval = self.approvals.take(plan, self.now(), os.getuid(), self.config.two_person)
        except NoApproval as error:
            return str(error)
        if not matches(approval.affected_nodes, expected):
            return (
                f"the approval by {approval.approver} named other nodes "
                f"({display_names(approval.affected_nodes)})"
            )
        self.recorder.approved_by = approval.names()
        return None

    def _for_a_person(
        self, expected: list[str], what: str, next_step: str, missing: str | None
    ) -> str:
        """The refusal when only a person can approve: it speaks to an agent as much as to
        a person, and offers nothing that an agent could copy to get through."""
        shown = display_names(expected)
        if self.agents:
            headline = f"refused: a coding agent cannot confirm what production loses: {shown}"
            who = f"{self.agents[0]}, so a coding agent runs this command"
        else:
            headline = f"refused: another user must approve what production loses: {shown}"
            who = f"two_person = true in {self.config.two_person}"
        reasons = [who, self.where.removeprefix("this is ")]
        if missing:
            reasons.append(f"no usable approval: {missing}")
        if self.agents and BREAK_GLASS_VAR in self.env:
            reasons.append(f"break-glass is not available to a coding agent ({BREAK_GLASS_VAR})")
        ask = next_step or "a person runs this command in their own terminal."
        return block(headline, "; ".join(reasons), f"stop here and ask a person. {ask}")

    def _from_env(
        self, expected: list[str], what: str, fields: dict[str, Any], aliases: Aliases | None
    ) -> Outcome:
        outcome = confirm_from_env(expected, self.env, aliases) if self.config.allow_env else None
        if outcome is not None and outcome.confirmed:
            return outcome
        shown = display_names(expected) if expected else "nothing destructive"
        in_a_terminal = "run it in a terminal, read the plan and type the node names"
        from safeterraform.ui import no_terminal

        why = no_terminal() or "stdin is not a terminal"
        if outcome is not None:  # set, but not to what this plan destroys
            message = block(
                f"refused: {CONFIRM_VAR} does not match what this plan destroys ({shown})",
                f"{_difference(outcome.typed, expected, aliases)}; {self.where}",
                f"nothing was applied. The runbook expected another blast radius: {in_a_terminal}"
                " before changing the runbook.",
            )
        elif not self.config.allow_env:
            message = block(
                f"refused: no terminal to confirm the {what} ({shown})",
                f"{why} and {CONFIRM_VAR} is turned off by "
                f"{self.config.allow_env_disabled_by}; {self.where}",
                f"{in_a_terminal}.",
            )
        else:
            message = block(
                f"refused: no terminal to confirm the {what} ({shown})",
                f"{why} and {CONFIRM_VAR} is not set; {self.where}",
                f"{in_a_terminal}; a runbook states the nodes it expects to lose in "
                f"{CONFIRM_VAR} (`safeterraform doctor` says more).",
            )
        self.refuse_or_break_glass(
            message,
            typed_nodes=list(outcome.typed) if outcome is not None else None,
            **fields,
        )
        return Outcome(True, ())


def break_glass_banner(refusal: str, reason: str) -> str:
    """The banner of a refused command that runs anyway: it says first that it runs
    despite the policy, then what the policy said and why, and the reason given."""
    lines = refusal.splitlines()
    said = lines[0].removeprefix("safeterraform: ").strip()
    if said.startswith("refused: "):
        said = f"The policy refused it: {said.removeprefix('refused: ')}"
    else:
        said = f"The policy {said}"
    why = next((line.strip() for line in lines[1:] if line.strip().startswith("why:")), "")
    shown = [
        "BREAK-GLASS: this command runs DESPITE the production policy.",
        said,
        *([f"The policy's {why}"] if why else []),
        f"Break-glass reason: {reason}",
    ]
    return "\n".join(shown)
