"""`safeterraform approve PLANFILE`: for a person at a terminal
(docs/design.md#coding-agents-and-approvals).

Refused (exit 3) without a terminal and in a coding agent's environment: the approval is
the one thing an agent cannot give itself. The real binary, the config layers and the
production verdict come from the same functions the shim uses (launcher.resolve,
policy.load, policy.judge), so the binary that made a plan is the one that reads it.
Exit codes: 0 approved (or nothing to approve), 3 refused, 4 not confirmed, 130 Ctrl-C.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from pathlib import Path

from safeterraform import argv, flows, launcher, policy, realbin, session, ui
from safeterraform.errors import Refused, block
from safeterraform.flows import approve as flow


def run(
    plan: Path,
    chdir: Path | None,
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    system_config: str | None = None,
    recorded_real: str | None = None,
    interactive: bool | None = None,
) -> int:
    """Approve `plan` (relative to the working directory, like terraform's own -chdir).

    The keyword arguments let `safeterraform demo` run it in its sandbox; otherwise the
    install record decides the system layer and the real binary, as for the shim.
    """
    env = dict(os.environ if env is None else env)
    cwd = cwd or os.getcwd()
    typed = [*([f"-chdir={chdir}"] if chdir else []), "apply", str(plan)]
    invocation = argv.parse(typed, env)
    workdir = os.path.join(cwd, invocation.chdir) if invocation.chdir else cwd
    if system_config is None:
        system_config = launcher.system_config(env)
    config = policy.load(env, workdir, system_config)
    configured = config.real_binaries.get("terraform")
    if recorded_real is None:
        real = launcher.resolve("terraform", env, configured)
    else:
        real = realbin.find("terraform", env, None, configured, recorded_real)
    verdict = policy.judge(config, env, cwd, invocation.chdir, invocation.var_files, ())
    guarded = session.build(invocation, config, verdict, real, env, "terraform", cwd=cwd)
    guarded.recorder.argv = ("approve", *([f"--chdir={chdir}"] if chdir else []), str(plan))
    guarded.recorder.program = "safeterraform"
    command = f"cd {shlex.quote(workdir)} && safeterraform approve {shlex.quote(str(plan))}"
    agents = guarded.confirmer.agents
    if agents:
        raise guarded.confirmer.refusal(
            block(
                "refused: a coding agent cannot approve a plan",
                f"{agents[0]}, so a coding agent runs this; an approval is what a "
                "person gives after reviewing the plan",
                f"stop here and ask a person to run, in their own terminal: {command}",
            )
        )
    no_terminal = ui.no_terminal()
    if not (no_terminal is None if interactive is None else interactive):
        raise guarded.confirmer.refusal(
            block(
                "refused: approve needs a terminal",
                f"{no_terminal or 'stdin is not a terminal'}; approving is for a person "
                "who reviews the plan and types the node names",
                f"in a terminal, run: {command}",
            )
        )
    if config.error is not None:
        raise Refused(f"{config.error}; approvals are refused until it is fixed")
    if not verdict.production:
        guarded.ui.note(
            f"safeterraform approve: not production ({verdict.reason}): "
            f"`terraform apply {plan}` needs no approval here."
        )
        return 0
    return flows.execute(guarded, flow.run)
