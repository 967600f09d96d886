"""`safeterraform rollout [--order a,b,c] [--resume] [TERRAFORM PLAN FLAGS]`: node by node.

Exit codes: 0 every node and the rest applied; 3 refused (policy, a failed after_node
health check, a step whose plan affects another node); 4 not confirmed; 130 interrupted;
terraform's own code when a plan or apply fails.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence
from pathlib import Path

from safeterraform import argv, flows, launcher, policy, session
from safeterraform.errors import SafeTerraformError
from safeterraform.flows import rollout
from safeterraform.redact import redact_argv


def run(flags: Sequence[str], order: str | None, resume: bool, chdir: Path | None) -> int:
    env = dict(os.environ)
    typed = [*([f"-chdir={chdir}"] if chdir else []), "apply", *flags]
    invocation = argv.parse(typed, env)
    if invocation.error is not None or invocation.command != "apply":
        raise SafeTerraformError(
            f"safeterraform: rollout: {invocation.error or 'give terraform plan flags only'}"
        )
    if invocation.plan_file is not None:
        raise SafeTerraformError(
            f"safeterraform: rollout plans for itself; unexpected argument "
            f"{invocation.plan_file!r} (give terraform plan flags, e.g. -var-file=prod.tfvars)"
        )
    cwd = os.getcwd()
    workdir = os.path.join(cwd, invocation.chdir) if invocation.chdir else cwd
    if not os.path.isdir(workdir):
        raise SafeTerraformError(f"safeterraform: --chdir {chdir} is not a directory")
    config = policy.load(env, workdir, launcher.system_config(env))
    real = launcher.resolve("terraform", env, config.real_binaries.get("terraform"))
    verdict = policy.judge(
        config, env, cwd, invocation.chdir, invocation.var_files, invocation.states
    )
    guarded = session.build(invocation, config, verdict, real, env, "terraform")
    options = [*(["--chdir", str(chdir)] if chdir else []), *(["--order", order] if order else [])]
    guarded.recorder.program = "safeterraform"
    guarded.recorder.argv = ("rollout", *options, *(["--resume"] if resume else []), *flags)
    if not verdict.production:
        guarded.confirmer.where = f"not production ({verdict.reason}), rolled out all the same"
    request = rollout.Request(
        order=tuple(name.strip() for name in (order or "").split(",") if name.strip()),
        resume=resume,
        command=shlex.join(["safeterraform", "rollout", *redact_argv(options)]),
    )
    return flows.execute(guarded, lambda s: rollout.run(s, request))
