"""The `terraform` (or `tofu`) entry: decide fast, then exec the real binary or guard.

Standard library only until it knows it must guard (docs/design.md#the-pass-through-path): typer,
rich, questionary, sh and the HCL parser are imported by `flows`, never here. The modules on
this path (shim, argv, policy, realbin, errors) import neither typing, dataclasses,
enum nor even __future__ at run time, and quote annotations that name typing-only
imports: bench/bench_passthrough.py measures the difference.
"""

import os
import sys

from safeterraform import argv as cmdline
from safeterraform import policy, realbin
from safeterraform.errors import Refused, SafeTerraformError, block

TYPE_CHECKING = False  # typing costs milliseconds at start-up; mypy still sees this
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import NoReturn

PROGRAMS = ("terraform", "tofu")
PASS_THROUGH = frozenset(
    {cmdline.CommandClass.READ_ONLY, cmdline.CommandClass.HELP, cmdline.CommandClass.VERSION}
)


def program_name(argv0: str) -> str:
    name = os.path.basename(argv0)
    return name if name in PROGRAMS else "terraform"


def exec_real(path: str, args: "Sequence[str]", env: "Mapping[str, str]") -> "NoReturn":
    """Replace this process with the real binary: same argv, env, fds and exit code."""
    # Python ignores SIGPIPE and SIGXFSZ; ignored dispositions survive exec, so put
    # back the defaults terraform would have had without the shim.
    import _signal  # type: ignore[import-not-found]  # `signal` imports enum: too slow here

    for name in ("SIGPIPE", "SIGXFSZ"):
        if hasattr(_signal, name):
            _signal.signal(getattr(_signal, name), _signal.SIG_DFL)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(path, [path, *args], dict(env))


def main(
    argv: "Sequence[str]",
    env: "Mapping[str, str]",
    recorded_real: str | None = None,
    system_config: str | None = None,
) -> int:
    program = program_name(argv[0])
    typed = list(argv[1:])
    invocation = cmdline.parse(typed, env)
    cwd = os.getcwd()
    workdir = os.path.join(cwd, invocation.chdir) if invocation.chdir else cwd
    refusal = None  # refused whatever the verdict: recorded, never break-glass
    if invocation.command == "init" and invocation.error is None:
        from safeterraform import backend  # only init can migrate state: read its backend

        migration = backend.init_migration(env, invocation.command_args, workdir)
        if migration is not None:
            invocation = cmdline.with_states(
                invocation, migration, cmdline.CommandClass.STATE_CHANGE
            )
    elif invocation.plan_file is not None and invocation.error is None:
        from safeterraform import backend  # a saved plan writes where it was made

        plan_path = os.path.join(workdir, invocation.plan_file)
        try:
            invocation = cmdline.with_states(invocation, backend.plan_states(env, plan_path))
        except Refused as error:  # a malformed plan
            refusal = str(error)
    if invocation.error is not None or invocation.command_class in PASS_THROUGH:
        configured = policy.configured_real(env, workdir, program, system_config)
        real = realbin.find(program, env, argv[0], configured, recorded_real)
        exec_real(real.path, typed, env)
    written = cmdline.written_files(invocation.command_args)
    if written:  # writing over a state file is refused everywhere, production or not
        logical = policy.logical_workdir(env, cwd, invocation.chdir)
        read = cmdline.flag_values(invocation.command_args, "state")
        clobbered = policy.overwritten_state(invocation.command, written, read, logical)
        if clobbered is not None:
            refusal = refusal or block(
                f"refused `{' '.join([program, *typed])}`; nothing ran",
                clobbered,
                "give a path that is not an existing Terraform state.",
            )
    config = policy.load(env, workdir, system_config)
    real = realbin.find(program, env, argv[0], config.real_binaries.get(program), recorded_real)
    verdict = policy.judge(
        config, env, cwd, invocation.chdir, invocation.var_files, invocation.states
    )
    if refusal is not None:
        from safeterraform import flows, session  # records the refusal in the audit trail

        def refuse(guarded: "session.Session") -> int:
            raise guarded.confirmer.refusal(str(refusal))

        built = session.build(invocation, config, verdict, real, env, program)
        return flows.execute(built, refuse)
    if not verdict.production:
        names = [p.glob for p in config.promotion_after] if invocation.command == "apply" else []
        lower = policy.lower_environment(names, verdict.workspace, verdict.workdir)
        if lower is not None:  # an apply in a lower environment: record it (stdlib only)
            from safeterraform import promotion

            return promotion.apply_recorded(invocation, config, verdict, real, env, program, lower)
        exec_real(real.path, typed, env)
    from safeterraform import flows, session  # heavy: only now that we must guard

    return flows.execute(session.build(invocation, config, verdict, real, env, program))


def entry(recorded_real: str | None = None, system_config: str | None = None) -> "NoReturn":
    """Console entry used by the launcher install.sh writes (it bakes in both arguments)."""
    try:
        code = main(sys.argv, os.environ, recorded_real, system_config)
    except SafeTerraformError as error:
        print(str(error), file=sys.stderr)
        code = error.exit_code
    except KeyboardInterrupt:
        code = 130
    # A guarded command (pass-through never comes back here) leaves without Python's
    # teardown of rich, prompt_toolkit and the plan's analysis: 10-30 ms on a quiet machine,
    # several times that on a busy one (docs/perf.md). The audit records are fsynced, the
    # hidden plans removed and the temporary files unnamed already; only stdio is buffered.
    for stream in (sys.stdout, sys.stderr):
        try:  # noqa: SIM105 (contextlib is not imported on the pass-through path)
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
