"""The one place that runs the real terraform: typed methods, readable errors.

Captured runs (show -json, state pull) go through `sh`; runs the operator watches
(plan, apply) stay in the foreground with the terminal, and the shim never forwards
a second SIGINT (PRODUCT.md §10).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any

import sh

from safeterraform.errors import PlanError, SafeTerraformError


class TerraformFailed(SafeTerraformError):
    """Terraform itself failed; its own output has been shown; exit with its code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class Terraform:
    """The real binary, the working directory it runs in and its environment."""

    path: str
    cwd: str
    env: Mapping[str, str]
    chdir: str | None = None  # passed on as -chdir= so relative paths mean the same

    def _argv(self, args: Sequence[str]) -> list[str]:
        return [f"-chdir={self.chdir}", *args] if self.chdir else list(args)

    def capture(self, args: Sequence[str]) -> str:
        """Run with output captured; a failure raises with terraform's stderr."""
        try:
            result = sh.Command(self.path)(
                *self._argv(args),
                _cwd=self.cwd,
                _env=dict(self.env),
                _tty_out=False,
                _in="",
            )
        except sh.ErrorReturnCode as error:
            stderr = error.stderr.decode(errors="replace").strip()
            last = stderr.splitlines()[-1] if stderr else f"exit {error.exit_code}"
            raise TerraformFailed(
                f"safeterraform: terraform {' '.join(args)} failed: {last}", error.exit_code
            ) from None
        return str(result)

    def show_json(self, plan_file: str) -> dict[str, Any]:
        """`terraform show -json PLANFILE`, parsed; a corrupt plan is a PlanError."""
        try:
            text = self.capture(["show", "-json", plan_file])
        except TerraformFailed as error:
            raise PlanError(f"safeterraform: cannot read plan {plan_file}: {error}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise PlanError(f"safeterraform: terraform show -json {plan_file}: {error}") from None
        if not isinstance(data, dict):
            raise PlanError(f"safeterraform: {plan_file} did not show as a plan")
        return data

    def state_pull(self) -> bytes:
        return self.capture(["state", "pull"]).encode()

    def foreground(self, args: Sequence[str]) -> int:
        """Run in the foreground with the terminal; return terraform's exit code.

        Ctrl-C at the terminal reaches terraform directly (same process group), so
        the shim ignores SIGINT while waiting and never sends a second one. SIGTERM
        sent to the shim is passed on once.
        """
        process = subprocess.Popen([self.path, *self._argv(args)], cwd=self.cwd, env=dict(self.env))
        forwarded = False

        def on_term(signum: int, frame: FrameType | None) -> None:
            nonlocal forwarded
            if not forwarded:
                forwarded = True
                process.send_signal(signum)

        previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
        previous_term = signal.signal(signal.SIGTERM, on_term)
        try:
            while True:
                try:
                    return process.wait()
                except InterruptedError:  # pragma: no cover - PEP 475 retries for us
                    continue
        finally:
            signal.signal(signal.SIGINT, previous_int)
            signal.signal(signal.SIGTERM, previous_term)


def exit_code_of(returncode: int) -> int:
    """A child killed by signal N exits the shell way: 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


def environ() -> dict[str, str]:
    return dict(os.environ)
