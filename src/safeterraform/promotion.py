"""Promotion through environments (docs/design.md#the-prevention-list).

A production apply needs its configuration -- the digest of the plan's configuration
snapshot (`tfconfig/` in the plan file), variable values aside -- to have been applied
successfully and in full (no -target) in a lower environment that `[promotion] after`
names, within `[promotion] max_age`, according to the audit log. The shim records applies
in those lower environments itself (`apply_recorded`): only `apply`, only where a
promotion config exists and the workspace or directory is one of the names, so no other
command pays for it. Standard library only: the shim imports this on that path.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from safeterraform.argv import Invocation, bool_flag, flag_values
from safeterraform.errors import PlanError, damaged_zip
from safeterraform.policy import data_dir, lower_environment

if TYPE_CHECKING:
    from safeterraform.planfiles import PrivatePlan
    from safeterraform.policy import Config, Verdict
    from safeterraform.realbin import RealBinary
    from safeterraform.session import Session

SNAPSHOT_PREFIX = "tfconfig/"
SNAPSHOT_MANIFEST = "tfconfig/modules.json"
# Which files of a module directory terraform reads as configuration, as
# internal/configs/parser_file_matcher.go does (`IsIgnoredFile`, `.tf`/`.tf.json`).
CONFIG_SUFFIXES = (".tf", ".tf.json")


def digest(files: Iterable[tuple[str, bytes]]) -> str:
    """SHA-256 over (`m-KEY/FILE`, bytes) pairs in name order: one configuration, one value,
    wherever it was read from (a plan's snapshot or the working directory)."""
    hashed = hashlib.sha256()
    for name, data in sorted(files):
        hashed.update(f"{name}\0{len(data)}\0".encode())
        hashed.update(data)
    return hashed.hexdigest()


def plan_digest(plan_file: str) -> str:
    """The configuration digest of a saved plan: its `tfconfig/` files. The module
    manifest is left out: its `Dir` says where a checkout keeps a module, not what it is."""
    try:
        with zipfile.ZipFile(plan_file) as archive:
            return digest(
                (name[len(SNAPSHOT_PREFIX) :], archive.read(name))
                for name in archive.namelist()
                if name.startswith(SNAPSHOT_PREFIX)
                and name != SNAPSHOT_MANIFEST
                and not name.endswith("/")
            )
    except damaged_zip(OSError) as error:
        raise PlanError(
            f"safeterraform: cannot read the configuration of {plan_file}: {error}"
        ) from None


def _ignored(name: str) -> bool:
    return name.startswith(".") or name.endswith("~") or (name[:1] == "#" and name[-1:] == "#")


def _module_files(key: str, directory: str) -> list[tuple[str, bytes]]:
    files = []
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if name.endswith(CONFIG_SUFFIXES) and not _ignored(name) and os.path.isfile(path):
            with open(path, "rb") as handle:
                files.append((f"m-{key}/{name}", handle.read()))
    return files


def directory_digest(workdir: str, data_dir: str) -> str:
    """The digest terraform's snapshot of this working directory would have: the root
    module's files, and each installed module's (DATA_DIR/modules/modules.json)."""
    files = _module_files("", workdir)
    try:
        with open(os.path.join(data_dir, "modules", "modules.json"), "rb") as handle:
            manifest = json.loads(handle.read())
    except FileNotFoundError:
        manifest = {}
    modules = manifest.get("Modules") if isinstance(manifest, dict) else None
    for module in modules if isinstance(modules, list) else []:
        key = module.get("Key") if isinstance(module, dict) else None
        if isinstance(key, str) and key and isinstance(module.get("Dir"), str):
            files += _module_files(key, os.path.join(workdir, module["Dir"]))
    return digest(files)


def partial_reason(invocation: Invocation) -> str | None:
    """Why an apply does not apply the whole configuration (None: it does)."""
    args = invocation.command_args
    for name in ("target", "exclude"):
        if flag_values(args, name):
            return f"-{name}"
    for name in ("destroy", "refresh-only"):
        if bool_flag(args, name):
            return f"-{name}"
    return None


def _time(record: Mapping[str, Any]) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(record.get("time", "")))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def find_promotion(
    records: Sequence[Mapping[str, Any]],
    config_sha256: str,
    names: Sequence[str],
    max_age: int,
    now: datetime,
) -> tuple[Mapping[str, Any] | None, list[str]]:
    """(the newest record that promotes this configuration, why near misses do not).

    It must be an apply in one of the named environments (workspace or directory
    basename), of this configuration, in full, successful, and at most `max_age` old.
    """
    misses: list[str] = []
    for record in reversed(records):
        where = lower_environment(names, str(record.get("workspace")), str(record.get("cwd")))
        if where is None or not record.get("config_sha256"):
            continue
        when = _time(record)
        stamp = record.get("time", "?")
        if record["config_sha256"] != config_sha256:
            if not misses:
                misses.append(f"{where} last applied another configuration ({stamp})")
            continue
        if when is None or now - when > timedelta(seconds=max_age):
            misses.append(f"the apply in {where} at {stamp} is older than max_age")
        elif record.get("verdict") != "applied" or record.get("exit_code") != 0:
            misses.append(
                f"the apply in {where} at {stamp} failed (exit {record.get('exit_code')})"
            )
        elif record.get("partial"):
            misses.append(
                f"the apply in {where} at {stamp} used {record['partial']}: "
                "only a full apply counts"
            )
        else:
            return record, []
    return None, misses


def age_words(seconds: int) -> str:
    for unit, size in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"


def require(session: Session, private: PrivatePlan) -> None:
    """Refuse a production apply whose configuration was not promoted (break-glass aside);
    elsewhere (a rollout rehearsed in staging) there is nothing to check.

    `terraform destroy` and `-refresh-only` apply no configuration: they need no promotion.
    """
    from safeterraform import audit

    config, invocation = session.config, session.invocation
    if not config.promotion_after or not session.verdict.production or invocation.destroy:
        return
    if invocation.command == "apply" and bool_flag(invocation.command_args, "refresh-only"):
        return
    names = [pattern.glob for pattern in config.promotion_after]
    wanted = plan_digest(private.path)
    try:
        records, _ = audit.read(session.recorder.path)
    except FileNotFoundError:
        records = []
    except OSError as error:
        raise session.confirmer.refusal(
            f"safeterraform: refused: cannot read the audit log {session.recorder.path} to "
            f"check promotion ({error.strerror}); nothing was applied",
            plan_sha256=private.sha256,
        ) from None
    found, misses = find_promotion(
        records, wanted, names, config.promotion_max_age, session.recorder.now()
    )
    if found is not None:
        session.ui.note(
            f"safeterraform: promotion: this configuration was applied in full in "
            f"{lower_environment(names, str(found.get('workspace')), str(found.get('cwd')))} "
            f"at {found.get('time')} ({found.get('cwd')})."
        )
        return
    sources = ", ".join(dict.fromkeys(pattern.source for pattern in config.promotion_after))
    seen = f" ({'; '.join(misses)})" if misses else ""
    session.confirmer.refuse_or_break_glass(
        f"safeterraform: refused `{session.words()}`: this configuration (config sha256 "
        f"{wanted[:12]}) was not applied in full and successfully in "
        f"{' or '.join(names)} within the last {age_words(config.promotion_max_age)}{seen}; "
        f"apply this configuration in {names[0]} first ([promotion] after in {sources}); "
        f"{session.where}.",
        plan_sha256=private.sha256,
    )


def apply_recorded(
    invocation: Invocation,
    config: Config,
    verdict: Verdict,
    real: RealBinary,
    env: Mapping[str, str],
    program: str,
    environment: str,
) -> int:
    """A non-production `apply` in a lower environment: run it as typed (terraform keeps
    the terminal and its own prompt), then record its outcome and configuration digest.
    A record that cannot be written is a warning: the apply has already happened."""
    from safeterraform import audit, terraform

    cwd = os.getcwd()
    workdir = verdict.workdir
    try:
        if invocation.plan_file is not None:
            sha256: str | None = plan_digest(os.path.join(workdir, invocation.plan_file))
        else:
            sha256 = directory_digest(workdir, data_dir(env, workdir))
        problem = None
    except (OSError, PlanError) as error:
        sha256, problem = None, f"; configuration not read: {error}"
    code = terraform.foreground([real.path, *invocation.typed], cwd, env)
    partial = partial_reason(invocation)
    if code == 0 and partial is None and invocation.plan_file is not None:
        runner = terraform.Terraform(real.path, cwd, env, invocation.chdir)
        try:
            if runner.show_json(invocation.plan_file).get("complete") is False:
                partial = "a plan that is not complete (-target)"
        except PlanError as error:
            partial = f"a plan that cannot be shown ({error})"
    user, host = audit.identity(env)
    record = audit.make_record(
        now=datetime.now(UTC),
        user=user,
        host=host,
        cwd=workdir,
        workspace=verdict.workspace,
        argv=invocation.typed,
        verdict="applied" if code == 0 else "failed",
        reason=f"apply in {environment} ([promotion] after): exit {code}{problem or ''}",
        exit_code=code,
        program=program,
        config_sha256=sha256,
        partial=partial,
    )
    try:
        audit.append(audit.default_path(env, config.audit_log), record, syslog=config.audit_syslog)
    except audit.AuditError as error:
        print(
            f"safeterraform: WARNING: this apply in {environment} was not recorded, so it "
            f"cannot promote its configuration: {error}",
            file=sys.stderr,
        )
    return code
