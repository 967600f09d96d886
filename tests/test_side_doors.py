"""Side doors into a production state (issue 14), each tried against the real Terraform.

The witness is always the production state file's bytes (and the destroy-time
provisioners' log): a route is closed when the shim refuses (exit 3, naming the state
that made it production) and the bytes are unchanged. Each route was first reproduced
against the code before the change (it changed prod's state); the same commands aimed
only at non-production states still pass straight through.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pexpect
import pytest

from tests import tfharness
from tests.conftest import Runner
from tests.test_guard import (
    RESET,
    finish,
    incident,
    incident_template,
    leftover_plans,
    reset_log,
    spawn,
)

__all__ = ["incident", "incident_template"]

PROD_STATE = "terraform.tfstate.d/prod/terraform.tfstate"


@pytest.fixture()
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A temp dir whose path has no production token (tmp_path carries the test's name)."""
    from safeterraform.policy import has_production_token

    directory = tmp_path_factory.mktemp("root")
    assert not any(has_production_token(part) for part in directory.parts)
    return directory


def audit_records(home: Path) -> list[dict[str, object]]:
    path = home / ".local" / "state" / "safeterraform" / "audit.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def user_config(home: Path, text: str) -> None:
    path = home / ".config" / "safeterraform" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


# -- 1. legacy state flags from a non-production workspace ------------------------------

LEGACY_STATE_ROUTES = [
    ["apply", "-auto-approve", "-input=false", f"-state={PROD_STATE}"],
    ["apply", "-input=false", f"-state={PROD_STATE}"],
    ["destroy", "-auto-approve", "-input=false", f"-state={PROD_STATE}"],
    ["apply", "-auto-approve", "-input=false", "-state-out", PROD_STATE],
    ["state", "rm", f"-state={PROD_STATE}", 'terraform_data.reset_on_destroy["powder"]'],
    ["taint", f"-state={PROD_STATE}", 'terraform_data.reset_on_destroy["powder"]'],
]


@pytest.mark.parametrize("args", LEGACY_STATE_ROUTES, ids=" ".join)
def test_legacy_state_flags_from_another_workspace_are_judged_by_that_state(
    args: list[str], incident: Path, shim: Runner, real: Runner
) -> None:
    """Mutation: judge only the current workspace (ignore Invocation.states) -> fails."""
    assert real("workspace", "select", "default").returncode == 0
    before = tfharness.state_bytes(incident)
    result = shim(*args)
    assert result.returncode == 3, result.stdout + result.stderr
    assert PROD_STATE in result.stderr and "workspace 'prod'" in result.stderr
    assert tfharness.state_bytes(incident) == before
    assert reset_log(incident) == []


def test_a_state_flag_naming_a_non_production_state_passes_through(
    incident: Path, shim: Runner, real: Runner
) -> None:
    assert real("workspace", "select", "default").returncode == 0
    result = shim(
        "apply",
        "-auto-approve",
        "-input=false",
        "-state=terraform.tfstate.d/staging/terraform.tfstate",
    )
    assert result.returncode == 0, result.stderr
    assert (incident / "terraform.tfstate.d" / "staging" / "terraform.tfstate").exists()


# -- 2. workspace delete of another workspace -------------------------------------------


def test_deleting_the_prod_workspace_from_another_one_is_refused(
    incident: Path, shim: Runner, real: Runner
) -> None:
    """Mutation: judge `workspace delete` by the current workspace only -> fails."""
    assert real("workspace", "select", "default").returncode == 0
    before = tfharness.state_bytes(incident)
    result = shim("workspace", "delete", "-force", "prod")
    assert result.returncode == 3, result.stderr
    assert "workspace 'prod'" in result.stderr
    assert tfharness.state_bytes(incident) == before


def test_a_confirmed_prod_workspace_delete_backs_up_that_workspace(
    incident: Path, shim: Runner, real: Runner, env: dict[str, str]
) -> None:
    """Mutation: snapshot the current workspace instead of the one deleted -> fails."""
    assert real("workspace", "select", "default").returncode == 0
    prod_state = tfharness.state_bytes(incident)
    env["SAFETERRAFORM_CONFIRM_NODES"] = "prod"
    result = shim("workspace", "delete", "-force", "prod")
    assert result.returncode == 0, result.stderr
    assert not (incident / PROD_STATE).exists()
    backups = list((incident / ".terraform" / "safeterraform" / "state-backups").iterdir())
    assert [json.loads(b.read_bytes()) for b in backups] == [json.loads(prod_state)]


def test_deleting_a_staging_workspace_passes_through(incident: Path, shim: Runner) -> None:
    assert shim("workspace", "new", "staging").returncode == 0
    assert shim("workspace", "select", "prod").returncode == 0
    assert shim("workspace", "select", "default").returncode == 0
    result = shim("workspace", "delete", "staging")
    assert result.returncode == 0, result.stderr


# -- 3. the system layer cannot be moved by the environment -----------------------------


def test_a_users_environment_cannot_move_or_weaken_the_system_layer(
    shim: Runner,
    env: dict[str, str],
    workdir: Path,
    home: Path,
    system_config: Path,
    real: Runner,
) -> None:
    """Mutation: read SAFETERRAFORM_SYSTEM_CONFIG (or any env) for the system layer -> fails."""
    system_config.write_text("[production]\nalways = true\nallow_break_glass = false\n")
    (workdir / "main.tf").write_text('resource "terraform_data" "x" {}\n')
    assert real("init", "-input=false").returncode == 0
    user_config(home, "[production]\nallow_break_glass = true\nalways = false\n")
    env["SAFETERRAFORM_SYSTEM_CONFIG"] = "/dev/null"
    env["SAFETERRAFORM_BREAK_GLASS"] = "my own reason"
    result = shim("apply", "-auto-approve", "-input=false")
    assert result.returncode == 3, result.stderr
    assert f"always = true in {system_config}" in result.stderr
    assert f"break-glass is disabled by {system_config}" in result.stderr
    assert not (workdir / "terraform.tfstate").exists()


# -- 4. a plan swapped between the review and the apply ---------------------------------


def test_a_concurrent_writer_cannot_change_what_is_applied(
    incident: Path, real: Runner, shim_bin: Path, env: dict[str, str], home: Path
) -> None:
    """The operator reviews a harmless plan; once it is confirmed, another process keeps
    overwriting the plan file with the destructive one. Mutation: apply the plan file by
    its path instead of the private copy -> the resets run."""
    destructive = incident / "destructive.tfplan"
    assert real("plan", "-input=false", f"-out={destructive}").returncode == 0
    (incident / "main.tf").write_text(
        tfharness.incident_config(tfharness.INCIDENT_NODES)
        + '\nresource "terraform_data" "pearl" {\n  input = { hostname = "pearl" }\n}\n'
    )
    reviewed = incident / "reviewed.tfplan"
    assert real("plan", "-input=false", f"-out={reviewed}").returncode == 0
    harmless = reviewed.read_bytes()
    swap = destructive.read_bytes()
    audit_log = home / ".local" / "state" / "safeterraform" / "audit.jsonl"
    done = threading.Event()

    def writer() -> None:
        while not done.is_set():
            if audit_log.exists() and b'"confirmed"' in audit_log.read_bytes():
                reviewed.write_bytes(swap)
            time.sleep(0.001)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        result = tfharness.run(
            shim_bin,
            ["apply", "reviewed.tfplan"],
            incident,
            {**env, "SAFETERRAFORM_CONFIRM_NODES": ""},
        )
    finally:
        done.set()
        thread.join()
    assert reviewed.read_bytes() == swap  # the writer did swap the file
    assert result.returncode == 0, result.stderr
    assert "1 added, 0 changed, 0 destroyed" in result.stdout
    assert reset_log(incident) == []
    import hashlib

    confirmed = [r for r in audit_records(home) if r["verdict"] == "confirmed"]
    assert confirmed[-1]["plan_sha256"] == hashlib.sha256(harmless).hexdigest()


# -- 5. init copying another state over prod's ------------------------------------------

BACKEND = 'terraform {{\n  backend "local" {{\n    path = "{path}"\n  }}\n}}\n'


def test_init_that_would_migrate_into_a_prod_state_is_refused(
    root: Path, shim: Runner, real: Runner
) -> None:
    """Mutation: pass plain `init` through as read-only -> prod's state is overwritten."""
    prod = root / "envs" / "prod"
    staging = root / "envs" / "staging"
    for directory, value in ((prod, "prod"), (staging, "staging")):
        directory.mkdir(parents=True)
        (directory / "main.tf").write_text(
            f'resource "terraform_data" "x" {{\n  input = "{value}"\n}}\n'
        )
        assert real("init", "-input=false", cwd=directory).returncode == 0
        assert real("apply", "-auto-approve", "-input=false", cwd=directory).returncode == 0
    before = (prod / "terraform.tfstate").read_bytes()
    (staging / "backend.tf").write_text(BACKEND.format(path="../prod/terraform.tfstate"))
    result = shim("init", cwd=staging, input="yes\n")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "../prod/terraform.tfstate" in result.stderr
    assert (prod / "terraform.tfstate").read_bytes() == before


def test_init_without_a_migration_passes_through_in_production(
    incident: Path, shim: Runner, real: Runner
) -> None:
    result = shim("init", "-input=false")
    assert result.returncode == 0, result.stderr
    assert "Terraform has been successfully initialized" in result.stdout


def test_init_migrating_between_non_production_states_passes_through(
    root: Path, shim: Runner, real: Runner
) -> None:
    staging = root / "envs" / "staging"
    staging.mkdir(parents=True)
    (staging / "main.tf").write_text('resource "terraform_data" "x" {}\n')
    assert real("init", "-input=false", cwd=staging).returncode == 0
    assert real("apply", "-auto-approve", "-input=false", cwd=staging).returncode == 0
    (staging / "backend.tf").write_text(BACKEND.format(path="moved.tfstate"))
    result = shim("init", "-force-copy", "-input=false", cwd=staging)
    assert result.returncode == 0, result.stderr
    assert (staging / "moved.tfstate").exists()


# -- 6. a production path reached through a symlink -------------------------------------


def apply_through_a_link(
    target: Path, link: Path, shim_bin: Path, env: dict[str, str], real: Runner
) -> subprocess.CompletedProcess[str]:
    """An initialised `target` reached as `link` (a symlink): `cd link` in a shell, which
    sets $PWD to the logical path as an operator's shell does, then apply -auto-approve."""
    target.mkdir(parents=True)
    (target / "main.tf").write_text('resource "terraform_data" "x" {}\n')
    assert real("init", "-input=false", cwd=target).returncode == 0
    link.parent.mkdir(parents=True)
    link.symlink_to(target)
    return subprocess.run(
        ["/bin/sh", "-c", f'cd "{link}" && exec "{shim_bin}" apply -auto-approve -input=false'],
        env={k: v for k, v in env.items() if k != "PWD"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_symlink_into_a_prod_tree_is_production(
    root: Path, shim_bin: Path, env: dict[str, str], real: Runner
) -> None:
    """Mutation: match only the resolved path -> fails (the logical path is prod)."""
    target = root / "clusters" / "alpha"
    result = apply_through_a_link(target, root / "envs" / "prod" / "cluster", shim_bin, env, real)
    assert result.returncode == 3, result.stderr
    assert "'prod'" in result.stderr
    assert not (target / "terraform.tfstate").exists()


def test_a_symlink_out_of_a_prod_tree_is_production(
    root: Path, shim_bin: Path, env: dict[str, str], real: Runner
) -> None:
    target = root / "prod" / "cluster"
    result = apply_through_a_link(target, root / "work" / "cluster", shim_bin, env, real)
    assert result.returncode == 3, result.stderr
    assert "resolved" in result.stderr
    assert not (target / "terraform.tfstate").exists()


# -- 7. a workspace name with Unicode space around it -----------------------------------


def test_a_workspace_name_is_trimmed_as_terraform_trims_it(
    incident: Path, shim: Runner, system_config: Path
) -> None:
    """Mutation: strip only ASCII whitespace -> `prod\\u00a0` does not match "prod"."""
    system_config.write_text('[production]\nworkspaces = ["prod"]\n')
    (incident / ".terraform" / "environment").write_bytes("prod\u00a0\n".encode())
    before = tfharness.state_bytes(incident)
    result = shim("apply", "-auto-approve", "-input=false")
    assert result.returncode == 3, result.stderr
    assert "workspace 'prod' matches 'prod'" in result.stderr
    assert tfharness.state_bytes(incident) == before


# -- 8. a repository that tries to choose the binary or the trail -----------------------


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('real_terraform = "./tfwrap"\n', "real_terraform"),
        ('audit_log = "./trail.jsonl"\n', "audit_log"),
        ('[audit]\npath = "./trail.jsonl"\n', "[audit] path"),
        ('[hooks]\nbefore_destructive_apply = "./tfwrap"\n', "hooks"),
        ("[production]\nallow_break_glass = true\n", "[production] allow_break_glass"),
    ],
)
def test_a_repository_cannot_pick_the_binary_the_trail_hooks_or_break_glass(
    text: str, key: str, incident: Path, shim: Runner, real: Runner
) -> None:
    """Mutation: let the repository layer set real_terraform/audit_log/hooks -> fails."""
    wrapper = incident / "tfwrap"
    wrapper.write_text("#!/bin/sh\ntouch ran-the-wrapper\nexit 0\n")
    wrapper.chmod(0o755)
    (incident / ".safeterraform.toml").write_text(text)
    before = tfharness.state_bytes(incident)
    refused = shim("apply", "-input=false")
    assert refused.returncode == 3
    assert ".safeterraform.toml" in refused.stderr and f"`{key}`" in refused.stderr
    assert "cannot be set in a repository file" in refused.stderr
    version = shim("version")
    assert version.returncode == 0
    assert version.stdout == real("version").stdout
    assert not (incident / "ran-the-wrapper").exists()
    assert tfharness.state_bytes(incident) == before


# -- 9. terraform test in production ----------------------------------------------------


def test_terraform_test_with_destroy_provisioners_is_refused_and_lists_them(
    incident: Path, shim: Runner, env: dict[str, str]
) -> None:
    """Mutation: treat `test` like any state command (confirm the workspace) -> resets run."""
    (incident / "tests").mkdir()
    (incident / "tests" / "main.tftest.hcl").write_text('run "apply" {\n  command = apply\n}\n')
    env["SAFETERRAFORM_CONFIRM_NODES"] = "prod"
    before = tfharness.state_bytes(incident)
    result = shim("test")
    assert result.returncode == 3, result.stderr
    assert "terraform_data.reset_on_destroy local-exec" in result.stderr
    assert reset_log(incident) == []
    assert tfharness.state_bytes(incident) == before


def test_terraform_test_without_destroy_provisioners_confirms_the_workspace(
    workdir: Path, shim: Runner, real: Runner, env: dict[str, str]
) -> None:
    (workdir / "main.tf").write_text('resource "terraform_data" "x" {\n  input = "a"\n}\n')
    (workdir / "tests").mkdir()
    (workdir / "tests" / "main.tftest.hcl").write_text('run "apply" {\n  command = apply\n}\n')
    assert real("init", "-input=false").returncode == 0
    assert real("workspace", "new", "prod").returncode == 0
    refused = shim("test")
    assert refused.returncode == 3 and "'prod'" in refused.stderr
    env["SAFETERRAFORM_CONFIRM_NODES"] = "prod"
    ran = shim("test")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "1 passed" in ran.stdout


# -- 10. names the built-in rule must know ----------------------------------------------


@pytest.mark.parametrize("name", ["prod1", "production2", "euProd", "prod:eu", "prod+eu"])
def test_production_tokens_in_workspace_names(
    name: str, workdir: Path, shim: Runner, real: Runner
) -> None:
    (workdir / "main.tf").write_text('resource "terraform_data" "x" {}\n')
    assert real("init", "-input=false").returncode == 0
    assert real("workspace", "new", name).returncode == 0
    result = shim("apply", "-auto-approve", "-input=false")
    assert result.returncode == 3, result.stderr
    assert not (workdir / "terraform.tfstate.d" / name / "terraform.tfstate").exists()


@pytest.mark.parametrize("name", ["preprod", "nonprod", "myprod"])
def test_names_that_only_contain_prod_pass_through(
    name: str, workdir: Path, shim: Runner, real: Runner
) -> None:
    (workdir / "main.tf").write_text('resource "terraform_data" "x" {}\n')
    assert real("init", "-input=false").returncode == 0
    assert real("workspace", "new", name).returncode == 0
    result = shim("apply", "-auto-approve", "-input=false")
    assert result.returncode == 0, result.stderr


def test_an_auto_loaded_var_file_matches_var_file_patterns(
    workdir: Path, shim: Runner, real: Runner, system_config: Path
) -> None:
    """Mutation: match only -var-file arguments -> the auto-loaded file slips through."""
    system_config.write_text('[production]\nvar_files = ["*prod*.tfvars"]\n')
    (workdir / "main.tf").write_text(
        'variable "v" {}\nresource "terraform_data" "x" {\n  input = var.v\n}\n'
    )
    (workdir / "prod.auto.tfvars").write_text('v = "live"\n')
    assert real("init", "-input=false").returncode == 0
    result = shim("apply", "-auto-approve", "-input=false")
    assert result.returncode == 3, result.stderr
    assert "auto-loaded var file 'prod.auto.tfvars'" in result.stderr
    assert not (workdir / "terraform.tfstate").exists()


# -- also seen: the outcome after the apply started, and a closed terminal --------------


def test_an_audit_failure_after_the_apply_started_is_not_a_refusal(
    incident: Path, shim: Runner, env: dict[str, str], home: Path, tmp_path: Path
) -> None:
    """The hook (after "confirmed") turns the audit log into a directory: the outcome
    cannot be recorded. Mutation: let the AuditError propagate -> exit 3 after applying."""
    trail = tmp_path / "trail.jsonl"
    user_config(
        home,
        f'audit_log = "{trail}"\n'
        f'[hooks]\nbefore_destructive_apply = "rm {trail} && mkdir {trail}"\n',
    )
    env["SAFETERRAFORM_CONFIRM_NODES"] = "powder poison phoebe"
    result = shim("apply", "-input=false")
    assert result.returncode == 0, result.stderr
    assert "WARNING: the outcome (exit 0) could not be recorded" in result.stderr
    assert "safeterraform: refused" not in result.stderr
    assert len(reset_log(incident)) == 3


@pytest.mark.parametrize("how", ["close the terminal", "SIGTERM"])
def test_leaving_at_the_prompt_removes_the_hidden_plan_and_is_recorded(
    how: str, incident: Path, shim_bin: Path, env: dict[str, str], home: Path
) -> None:
    """Mutation: no SIGHUP/SIGTERM handler (or no cleanup) -> a plan file stays behind.
    Mutation: the prompt's OSError (prompt_toolkit flushing to the closed terminal) not
    read as no answer -> the shim dies with no record."""
    before = tfharness.state_bytes(incident)
    child = spawn(shim_bin, ["apply"], incident, env)
    child.expect("Type the names")
    assert leftover_plans(incident) != []  # the hidden plan exists while we ask
    if how == "SIGTERM":
        os.kill(child.pid, signal.SIGTERM)
        finish(child)
    else:
        # The terminal goes away: closing the pty master makes the kernel send SIGHUP (and
        # SIGCONT) to the foreground group, nothing else (pexpect's close() would add SIGINT).
        os.close(child.child_fd)
    deadline = time.monotonic() + 30
    while not any(r["verdict"] == "interrupted" for r in audit_records(home)):
        assert time.monotonic() < deadline, audit_records(home)
        if not child.isalive():  # the record is written before the shim exits
            records = audit_records(home)
            assert any(r["verdict"] == "interrupted" for r in records), (
                child.exitstatus,
                child.signalstatus,
                records,
            )
            break
        time.sleep(0.1)
    time.sleep(0.5)
    assert leftover_plans(incident) == []
    assert tfharness.state_bytes(incident) == before
    assert reset_log(incident) == []
    interrupted = [r for r in audit_records(home) if r["verdict"] == "interrupted"]
    assert interrupted[-1]["exit_code"] == 130


def test_the_incident_is_stopped_and_then_confirmed_by_name(
    incident: Path, shim_bin: Path, env: dict[str, str]
) -> None:
    child = spawn(shim_bin, ["apply"], incident, env)
    child.expect("Type the names")
    child.sendline("powder poison phoebe")
    child.expect("Apply complete!")
    assert finish(child) == 0
    assert sorted(reset_log(incident)) == sorted(
        f"{RESET} {ip}" for ip in tfharness.INCIDENT_NODES.values()
    )
    _ = pexpect  # the prompt is a real terminal


def _plan_with_one_more(incident: Path, real: Runner, out: Path, name: str) -> Path:
    """A plan of the incident's change that also creates `terraform_data.NAME`, made from
    the same state (so not stale); the configuration is left as it was."""
    config = incident / "main.tf"
    original = config.read_text()
    config.write_text(original + f'\nresource "terraform_data" "{name}" {{\n  input = "b"\n}}\n')
    assert real("plan", "-input=false", f"-out={out}").returncode == 0
    config.write_text(original)
    return out


def test_a_plan_rewritten_after_terraform_printed_it_is_shown_before_the_question(
    incident: Path, real: Runner, shim: Runner, env: dict[str, str], tmp_path: Path
) -> None:
    """Another process rewrites the shim's hidden plan after terraform wrote and printed
    it, with a plan that also creates `terraform_data.extra`: terraform's output on the
    screen is not the plan under review, so `terraform show` of the reviewed bytes comes
    before anyone is asked, as for a saved plan (found by the outside attack pass on the
    read ahead: the rewritten plan's other changes were never shown). Here the rewriter
    is the terraform the shim runs, once its real plan has exited. Mutation: the read
    ahead's other bytes ignored (`shown` stays True) -> `extra` is applied unseen."""
    other = _plan_with_one_more(incident, real, tmp_path / "other.tfplan", "extra")
    real_terraform = Path(env["PATH"].split(":")[1]) / "terraform"
    wrapper = tmp_path / "terraform"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'"{real_terraform}" "$@" || exit $?\n'
        'for arg in "$@"; do case $arg in -out=*) out=${arg#-out=} ;; esac; done\n'
        f'if [ -n "$out" ]; then sleep 1; cp "{other}" "$out"; fi\n'
    )
    wrapper.chmod(0o755)
    env["SAFETERRAFORM_REAL_TERRAFORM"] = str(wrapper)
    env["SAFETERRAFORM_CONFIRM_NODES"] = "powder poison phoebe"
    result = shim("apply", "-input=false")
    assert result.returncode == 0, result.stdout + result.stderr
    before_question = result.stdout.split("plan that would be applied follows", 1)
    assert len(before_question) == 2, result.stdout
    assert "terraform_data.extra" not in before_question[0]  # terraform printed the first plan
    assert "terraform_data.extra will be created" in before_question[1]
    assert b'"name": "extra"' in tfharness.state_bytes(incident)  # the reviewed plan applied


SWAPS = {
    # another plan renamed over the hidden one as soon as terraform has written it: too
    # fast for the read ahead to see the first one (the second attack pass: applied unseen)
    "renamed over": 'cp "{other}" "$out.new" && mv "$out.new" "$out"',
    # a link put at the name before terraform writes: terraform fills its target, which
    # is then swapped; or the link leads to /dev/zero and the reading never ends
    "link to a file": 'rm "$out" && ln -s "$out.target" "$out"',
    "link to /dev/zero": 'rm "$out" && ln -s /dev/zero "$out"',
}


@pytest.mark.parametrize("swap", sorted(SWAPS))
def test_a_hidden_plan_replaced_by_another_file_is_refused(
    swap: str, incident: Path, real: Runner, shim: Runner, env: dict[str, str], tmp_path: Path
) -> None:
    """Whatever takes the hidden plan's place (a file renamed over it, a link put at its
    name), the shim reads only the very file it created, not through a link: refused,
    exit 3, nothing applied, no traceback, no hang. The same-user rewriter here is the
    terraform the shim runs (before its real plan for the links, after it for the rename).
    Mutation: private_copy without the inode and no-follow checks -> another plan
    applied, or a MemoryError."""
    other = _plan_with_one_more(incident, real, tmp_path / "other.tfplan", "unseen")
    real_terraform = Path(env["PATH"].split(":")[1]) / "terraform"
    action = SWAPS[swap].format(other=other)
    before_plan, after_plan = ("", action) if swap == "renamed over" else (action, "")
    wrapper = tmp_path / "terraform"
    wrapper.write_text(
        "#!/bin/sh\n"
        'for arg in "$@"; do case $arg in -out=*) out=${arg#-out=} ;; esac; done\n'
        f'if [ -n "$out" ]; then {before_plan or ":"}; fi\n'
        f'"{real_terraform}" "$@" || exit $?\n'
        f'if [ -n "$out" ]; then {after_plan or ":"}; fi\n'
        'if [ -n "$out" ] && [ -e "$out.target" ]; then cp "' + str(other) + '" "$out.target"; fi\n'
    )
    wrapper.chmod(0o755)
    env["SAFETERRAFORM_REAL_TERRAFORM"] = str(wrapper)
    env["SAFETERRAFORM_CONFIRM_NODES"] = "powder poison phoebe"
    before = tfharness.state_bytes(incident)
    result = shim("apply", "-input=false", timeout=120)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert tfharness.state_bytes(incident) == before
    assert reset_log(incident) == []
