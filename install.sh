#!/usr/bin/env bash
# Install (or uninstall) safeterraform: a virtualenv with the package, the `terraform`
# shim in a bin dir that should come before the real terraform on PATH, and a summary.
# `./install.sh --help` lists the options.
#
# Exit codes: 0 done (or nothing to do), 1 refused or failed (one line on stderr),
# 2 bad usage.
#
# --system (a bastion) uses $SAFETERRAFORM_PREFIX/venv (default /opt/safeterraform),
# $SAFETERRAFORM_SYSTEM_BIN (default /usr/local/bin), writes $SAFETERRAFORM_ETC/config.toml
# (default /etc/safeterraform) unless it already exists, and creates the shared approvals
# directory $SAFETERRAFORM_VAR_LIB/approvals (default /var/lib/safeterraform) for the group
# `safeterraform`. It finishes by running `terraform version` and `safeterraform doctor`
# as the unprivileged user `nobody`; when either fails, the install is undone.
#
# Everything install.sh creates is listed in a manifest inside the venv dir
# (VENV/safeterraform-install.manifest); --uninstall removes exactly that:
# - the launcher and the `safeterraform` symlink, only while they are still ours;
# - a terraform that --take-over moved aside is put back, byte for byte, mode included;
# - the system config only if this script created it and nobody changed it since
#   (its SHA-256 is recorded): an edited or pre-existing config is policy an admin
#   owns, so it is kept and the summary says so;
# - the group it created, the venv dir, and the directories install.sh had to create,
#   once they are empty. Audit logs are never removed; the summary says where they are.
set -euo pipefail

MARKER="safeterraform-shim"
MANIFEST_NAME="safeterraform-install.manifest"
SOURCE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

die() {
    printf 'install.sh: %s\n' "$*" >&2
    exit 1
}

usage_text() {
    cat <<'EOF'
Usage: ./install.sh [OPTIONS]

Install the safeterraform `terraform` shim (or remove it again with --uninstall).

Options:
  --venv DIR             virtualenv to install into
                         (default ~/.local/share/safeterraform/venv; --system: /opt/safeterraform/venv)
  --bin-dir DIR          where the `terraform` shim and `safeterraform` go
                         (default ~/.local/bin; --system: /usr/local/bin)
  --real-terraform PATH  the real terraform the shim runs (default: the first one on PATH
                         that is not a shim)
  --python PATH          the interpreter the virtualenv is made from, Python >= 3.11
                         (default $PYTHON, else python3; --system: /usr/bin/python3)
  --system               a production bastion: install for every user, /etc/safeterraform
                         config with always = true, break-glass off and the syslog trail
                         on, a shared approvals directory; verified as the user nobody
  --take-over            with --system: move a real terraform found where the shim goes
                         into /opt/safeterraform/real/ and put it back on --uninstall
  --demo                 also install the bundled Terraform engine for `safeterraform demo`
                         (automatic when no terraform is found)
  --uninstall            remove what install.sh installed (pass --system or --venv as used)
  -h, --help             show this help and exit

Exit codes: 0 done, 1 refused or failed, 2 bad usage.
EOF
}

usage() {
    usage_text >&2
    exit 2
}

say() {
    printf '%s\n' "$*"
}

venv="" bin_dir="" real="" python="" system=0 uninstall=0 demo=0 take_over=0
while (($#)); do
    case "$1" in
        --venv) (($# >= 2)) || usage; venv="$2"; shift 2 ;;
        --venv=*) venv="${1#*=}"; shift ;;
        --bin-dir) (($# >= 2)) || usage; bin_dir="$2"; shift 2 ;;
        --bin-dir=*) bin_dir="${1#*=}"; shift ;;
        --real-terraform) (($# >= 2)) || usage; real="$2"; shift 2 ;;
        --real-terraform=*) real="${1#*=}"; shift ;;
        --python) (($# >= 2)) || usage; python="$2"; shift 2 ;;
        --python=*) python="${1#*=}"; shift ;;
        --system) system=1; shift ;;
        --take-over) take_over=1; shift ;;
        --uninstall) uninstall=1; shift ;;
        --demo) demo=1; shift ;;
        -h | --help) usage_text; exit 0 ;;
        *) printf 'install.sh: unknown option %s\n' "$1" >&2; usage ;;
    esac
done

if ((take_over && !system)); then
    printf 'install.sh: --take-over is for --system installs\n' >&2
    usage
fi

etc_dir="" prefix="" var_lib=""
if ((system)); then
    prefix="${SAFETERRAFORM_PREFIX:-/opt/safeterraform}"
    etc_dir="${SAFETERRAFORM_ETC:-/etc/safeterraform}"
    var_lib="${SAFETERRAFORM_VAR_LIB:-/var/lib/safeterraform}"
    venv="${venv:-$prefix/venv}"
    bin_dir="${bin_dir:-${SAFETERRAFORM_SYSTEM_BIN:-/usr/local/bin}}"
else
    venv="${venv:-$HOME/.local/share/safeterraform/venv}"
    bin_dir="${bin_dir:-$HOME/.local/bin}"
fi

# Absolute paths without requiring them to exist yet.
absolute() {
    case "$1" in
        /*) printf '%s\n' "$1" ;;
        *) printf '%s/%s\n' "$PWD" "$1" ;;
    esac
}
venv="$(absolute "$venv")"
bin_dir="$(absolute "$bin_dir")"
manifest="$venv/$MANIFEST_NAME"
launcher="$bin_dir/terraform"
cli_link="$bin_dir/safeterraform"

has_marker() {
    # Same test as realbin.is_shim: the marker within the first 1024 bytes.
    [[ -f "$1" ]] || return 1
    local head
    head="$(head -c 1024 -- "$1" | tr -d '\0')"
    [[ "$head" == *"$MARKER"* ]]
}

sha256() {
    sha256sum -- "$1" | cut -d' ' -f1
}

# Where each user's audit log is (the per-user file that `safeterraform log` reads).
audit_log_note() {
    local path=""
    if ((system)); then
        say "kept the audit trail: the system log (journalctl -t safeterraform, or the file your syslog daemon writes for the auth facility) and each user's own file (~/.local/state/safeterraform/audit.jsonl unless their config moves it)"
        return 0
    fi
    if [[ -x "$venv/bin/python" ]]; then
        path="$("$venv/bin/python" -c '
import os
from safeterraform import audit, policy
config = policy.load(os.environ, os.getcwd())
print(audit.default_path(os.environ, config.audit_log))' 2>/dev/null || true)"
    fi
    path="${path:-${XDG_STATE_HOME:-$HOME/.local/state}/safeterraform/audit.jsonl}"
    if [[ -e "$path" ]]; then
        say "kept the audit log $path (read it with a later install's \`safeterraform log\`, or delete it yourself)"
    else
        say "kept the audit log location $path (no records were written)"
    fi
}

# Remove what the manifest lists (also used to undo an install whose check failed).
uninstall_from_manifest() {
    local kept=() dirs=() kind path sum group_made=""
    local -a takeovers=()
    while IFS=$'\t' read -r kind path sum; do
        case "$kind" in
            launcher)
                if has_marker "$path"; then rm -f -- "$path"; say "removed $path"
                elif [[ -e "$path" ]]; then kept+=("$path (no longer the shim)"); fi ;;
            link)
                if [[ -L "$path" && "$(readlink -- "$path")" == "$venv/"* ]]; then
                    rm -f -- "$path"; say "removed $path"
                elif [[ -e "$path" || -L "$path" ]]; then kept+=("$path (no longer ours)"); fi ;;
            config)
                if [[ -f "$path" && "$(sha256 "$path")" == "$sum" ]]; then
                    rm -f -- "$path"; say "removed $path"
                elif [[ -e "$path" ]]; then kept+=("$path (changed since install)"); fi ;;
            takeover | takeover-link) takeovers+=("$kind"$'\t'"$path"$'\t'"$sum") ;;
            group) group_made="$path" ;;
            dir) dirs+=("$path") ;;
        esac
    done <"$manifest"
    # The terraform that --take-over moved aside goes back where it was, once the shim is gone.
    local entry original stored
    for entry in "${takeovers[@]}"; do
        IFS=$'\t' read -r kind original stored <<<"$entry"
        if [[ -e "$original" || -L "$original" ]]; then
            kept+=("the real terraform ${stored} ($original is not the shim any more, so it was not put back)")
        elif [[ "$kind" == takeover-link ]]; then
            ln -s -- "$stored" "$original"
            say "put back $original -> $stored"
        elif [[ -e "$stored" ]]; then
            mv -- "$stored" "$original"
            say "put back the real terraform $original"
        else
            kept+=("nothing at $original: the real terraform moved aside to $stored is gone")
        fi
    done
    rm -rf -- "$venv"
    say "removed $venv"
    # Directories install.sh created, children before parents, only when empty.
    if ((${#dirs[@]})); then
        while IFS= read -r dir; do
            if rmdir -- "$dir" 2>/dev/null; then say "removed $dir/"
            elif [[ -d "$dir" ]]; then kept+=("$dir/ (not empty)"); fi
        done < <(printf '%s\n' "${dirs[@]}" | LC_ALL=C sort -r)
    fi
    if [[ -n "$group_made" ]] && getent group "$group_made" >/dev/null; then
        if groupdel -- "$group_made" 2>/dev/null; then say "removed group $group_made"
        else kept+=("group $group_made (could not be removed)"); fi
    fi
    for item in "${kept[@]}"; do say "kept $item"; done
}

# ---------------------------------------------------------------- uninstall
if ((uninstall)); then
    [[ -f "$manifest" ]] || die "nothing to uninstall: no $manifest (pass the --venv/--system used to install)"
    audit_log_note_text="$(audit_log_note)"
    uninstall_from_manifest
    say "$audit_log_note_text"
    exit 0
fi

# ---------------------------------------------------------------- install
if ((system)); then
    # Everything below must be readable by every user, whatever root's umask is.
    umask 022
    ((EUID == 0)) || die "--system installs for every user and needs root (run it with sudo)"
fi

# The interpreter: --python, else $PYTHON, else the system's for a bastion.
if [[ -z "$python" ]]; then
    if [[ -n "${PYTHON:-}" ]]; then python="$PYTHON"
    elif ((system)) && [[ -x /usr/bin/python3 ]]; then python=/usr/bin/python3
    else python=python3; fi
fi
python_path="$(command -v -- "$python" 2>/dev/null || true)"
[[ -n "$python_path" ]] || die "no Python interpreter $python (pass --python /path/to/python3.11)"
python="$(absolute "$python_path")"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
    || die "$python is not Python >= 3.11 (pass --python /path/to/python3.11)"

# Why other users could not run `path` (a directory on the way they cannot enter, or the
# file itself not executable by them); nothing when they can.
not_usable_by_others() {
    local path="$1" mode candidate dir
    for candidate in "$path" "$(readlink -f -- "$path")"; do
        dir="$(dirname -- "$candidate")"
        while :; do
            mode="$(stat -L -c '%A' -- "$dir")"
            if [[ "${mode:9:1}" != [xt] ]]; then
                printf '%s is not searchable by other users (mode %s)' "$dir" "$mode"
                return 0
            fi
            [[ "$dir" == / ]] && break
            dir="$(dirname -- "$dir")"
        done
    done
    mode="$(stat -L -c '%A' -- "$path")"
    if [[ "${mode:9:1}" != x ]]; then
        printf '%s is not executable by other users (mode %s)' "$path" "$mode"
    fi
}

if ((system)); then
    why="$(not_usable_by_others "$python")"
    [[ -z "$why" ]] || die "--system needs an interpreter every user can run, but $why; pass --python /usr/bin/python3"
    [[ -S /dev/log ]] || die "no system log socket /dev/log: --system sends every audit record to syslog, where users cannot erase it; start journald or rsyslog first"
fi

if [[ -e "$venv" && ! -f "$manifest" && -n "$(ls -A -- "$venv")" ]]; then
    die "$venv exists and was not created by install.sh; choose another --venv"
fi

# Carried over from the previous manifest: what an earlier run created stays ours.
previous_dirs=() previous_config="" previous_config_sum="" previous_source=""
previous_takeover="" previous_group="" previous_real=""
if [[ -f "$manifest" ]]; then
    while IFS=$'\t' read -r kind path sum; do
        case "$kind" in
            dir) previous_dirs+=("$path") ;;
            config) previous_config="$path" previous_config_sum="$sum" ;;
            source) previous_source="$path" ;;
            takeover | takeover-link) previous_takeover="$kind"$'\t'"$path"$'\t'"$sum" ;;
            group) previous_group="$path" ;;
            real) previous_real="$path" ;;
        esac
    done <"$manifest"
fi

# A terraform in the bin dir that is not our shim: a real binary (or a version manager's
# shim). Only a bastion install takes it over, and only when told to.
takeover_kind="" takeover_stored=""
if [[ -e "$launcher" || -L "$launcher" ]] && ! has_marker "$launcher"; then
    if ((!system)); then
        die "$launcher exists and is not the safeterraform shim; move the real terraform elsewhere and pass --real-terraform"
    elif ((!take_over)); then
        die "$launcher exists and is not the safeterraform shim; pass --take-over to move it to $prefix/real/ (it is put back on --uninstall), or move it yourself and pass --real-terraform"
    fi
    if [[ -L "$launcher" ]]; then
        # A symlink (tfswitch, tfenv, Homebrew) is put back as the same link text.
        takeover_kind="takeover-link" takeover_stored="$(readlink -- "$launcher")"
        [[ -x "$(readlink -f -- "$launcher")" ]] \
            || die "$launcher is a symlink to $takeover_stored, which is not an executable file"
    else
        [[ -f "$launcher" && -x "$launcher" ]] || die "$launcher is not an executable file; remove it first"
        takeover_kind="takeover" takeover_stored="$prefix/real/terraform"
        [[ ! -e "$takeover_stored" ]] || die "$takeover_stored already exists; move it away first"
    fi
fi
if [[ -e "$cli_link" && ! -L "$cli_link" ]]; then
    die "$cli_link exists and is not a symlink install.sh made; remove it first"
fi

# The real terraform: given, or the first on PATH that is neither a shim nor in the bin dir.
find_real() {
    local dir candidate
    local -a dirs
    IFS=: read -r -a dirs <<<"${PATH:-}"
    for dir in "${dirs[@]}"; do
        [[ -n "$dir" && -d "$dir" ]] || continue
        [[ "$(cd "$dir" && pwd -P)" == "$(cd "$bin_dir" 2>/dev/null && pwd -P)" ]] && continue
        candidate="$dir/terraform"
        if [[ -f "$candidate" && -x "$candidate" ]] && ! has_marker "$candidate"; then
            printf '%s\n' "$(absolute "$candidate")"
            return 0
        fi
    done
    return 1
}

real_source="given with --real-terraform"
if [[ -n "$real" ]]; then
    [[ -f "$real" && -x "$real" ]] || die "--real-terraform $real is not an executable file"
    has_marker "$real" && die "--real-terraform $real is a safeterraform shim, not the real terraform"
    real="$(absolute "$real")"
elif [[ "$takeover_kind" == takeover ]]; then
    real="$takeover_stored" real_source="taken over from $launcher"
elif [[ "$takeover_kind" == takeover-link ]]; then
    real="$(readlink -f -- "$launcher")" real_source="taken over from $launcher (a symlink)"
elif [[ -n "$previous_takeover" && -n "$previous_real" && -x "$previous_real" ]]; then
    real="$previous_real" real_source="taken over from $launcher at the first install"
elif real="$(find_real)"; then
    real_source="found on PATH"
elif ((system)); then
    die "no real terraform found on PATH; install it first, or pass --real-terraform PATH (or --take-over for one at $launcher)"
else
    real="" real_source="none found"
    demo=1
fi
if ((system)) && [[ -n "$real" ]]; then
    # A bastion pins the binary it guards: follow tfswitch-style symlinks to the file.
    # (On a workstation the symlink itself is recorded, so switching versions works.)
    runnable="$real"
    if [[ "$takeover_kind" == takeover ]]; then runnable="$launcher"  # moved there below
    else real="$(readlink -f -- "$real")" runnable="$real"; fi
    why="$(not_usable_by_others "$runnable")"
    [[ -z "$why" ]] || die "the real terraform $real cannot be run by other users: $why"
fi

# Directories that do not exist yet are recorded so uninstall can remove them again.
created_dirs=()
make_dir() {
    local dir="$1" missing=() parent
    parent="$dir"
    while [[ ! -e "$parent" ]]; do
        missing=("$parent" "${missing[@]}")
        parent="$(dirname -- "$parent")"
    done
    mkdir -p -- "$dir"
    created_dirs+=("${missing[@]}")
}

# What is being installed: a digest of the source tree, so a re-run with the same
# source skips pip and is a no-op.
source_digest() {
    (cd "$SOURCE_DIR" && find pyproject.toml src -type f \
        ! -path '*/__pycache__/*' ! -path '*.egg-info/*' ! -name '*.pyc' -print0 \
        | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
}
digest="$(source_digest)"
extras=""
((demo)) && extras="[demo]"
wanted="$digest$extras"

changes=()
if [[ ! -x "$venv/bin/python" ]]; then
    make_dir "$(dirname -- "$venv")"
    "$python" -m venv -- "$venv" || die "could not create the virtualenv $venv"
    changes+=("created virtualenv $venv from $python")
fi

if [[ "$previous_source" != "$wanted" ]] || ! "$venv/bin/python" -c 'import safeterraform' 2>/dev/null; then
    # Build from a copy: a non-editable install must not leave build/ in the source.
    build="$(mktemp -d)"
    trap 'rm -rf -- "$build"' EXIT
    find "$SOURCE_DIR" -maxdepth 1 -type f -exec cp -- {} "$build/" \;
    cp -R -- "$SOURCE_DIR/src" "$build/src"
    find "$build/src" \( -name '__pycache__' -o -name '*.egg-info' \) -prune -exec rm -rf -- {} +
    log="$venv/safeterraform-pip.log"
    # pip always reinstalls a package given as a directory, so a changed source with
    # an unchanged version number is picked up.
    if ! "$venv/bin/python" -m pip install --disable-pip-version-check --quiet \
        -- "$build$extras" >"$log" 2>&1; then
        tail -n 20 -- "$log" >&2
        die "pip install of $SOURCE_DIR$extras into $venv failed (log: $log)"
    fi
    rm -f -- "$log"
    # python-hcl2 builds its grammar's parser tables on first use (~1.4 s of CPU) and keeps
    # them in its package directory. Build them now, as the installer: in a system install
    # no user can write there, and every command that reads HCL would build them again
    # (README, "Decisions"). A failure only costs that time later.
    "$venv/bin/python" -c 'from hcl2.parser import parser; parser()' >/dev/null 2>&1 || true
    if ((system)); then
        # Every user imports from here: readable by all, writable by root alone.
        chmod -R a+rX,go-w -- "$venv"
    fi
    version="$("$venv/bin/python" -c 'import safeterraform; print(safeterraform.__version__)' 2>/dev/null || echo '?')"
    changes+=("installed safeterraform $version$extras into $venv")
fi

# Take over: move the real terraform out of the shim's place (put back by --uninstall).
# Until the manifest lists it, a failure moves it straight back.
takeover_pending=""
# shellcheck disable=SC2329 # called from the EXIT trap
put_back_takeover() {
    [[ -n "$takeover_pending" ]] || return 0
    rm -f -- "$launcher"
    if [[ "$takeover_kind" == takeover-link ]]; then
        ln -s -- "$takeover_stored" "$launcher"
    else
        mv -- "$takeover_stored" "$launcher"
    fi
    takeover_pending=""
}
trap 'put_back_takeover; [[ -z "${build:-}" ]] || rm -rf -- "$build"' EXIT
if [[ "$takeover_kind" == takeover ]]; then
    make_dir "$prefix/real"
    mv -- "$launcher" "$takeover_stored"
    takeover_pending=1
    changes+=("moved the real terraform $launcher to $takeover_stored (--uninstall puts it back)")
elif [[ "$takeover_kind" == takeover-link ]]; then
    rm -f -- "$launcher"
    takeover_pending=1
    changes+=("removed the symlink $launcher -> $takeover_stored (--uninstall puts it back)")
fi

# The launcher: render into the bin dir's filesystem, replace only when it differs.
make_dir "$bin_dir"
stage="$(mktemp -d -- "$bin_dir/.safeterraform.XXXXXX")"
launcher_args=(--bin-dir "$stage" --name terraform --record)
[[ -n "$real" ]] && launcher_args+=(--real "$real")
# The system layer's location is baked into the launcher: no environment variable moves it.
if ((system)); then
    launcher_args+=(--system-config "$etc_dir/config.toml")
fi
if ! "$venv/bin/python" -m safeterraform.launcher "${launcher_args[@]}" >/dev/null; then
    rm -rf -- "$stage"
    die "could not write the terraform launcher into $bin_dir"
fi
if cmp -s -- "$stage/terraform" "$launcher"; then
    rm -rf -- "$stage"
else
    mv -f -- "$stage/terraform" "$launcher"
    rmdir -- "$stage"
    changes+=("wrote the terraform shim $launcher")
fi

if [[ "$(readlink -- "$cli_link" 2>/dev/null || true)" != "$venv/bin/safeterraform" ]]; then
    ln -sfn -- "$venv/bin/safeterraform" "$cli_link"
    changes+=("linked $cli_link")
fi

# Two-person approvals on a bastion: a directory every member of the group can add an
# approval to (setgid: the files stay in the group), where the sticky bit keeps anyone
# but its owner from renaming or removing one; approvals are written 0640.
group="" approvals=""
if ((system)); then
    group="safeterraform" approvals="$var_lib/approvals"
    case "$approvals" in *'"'* | *\\*) die "$approvals: a path with a quote or backslash cannot go into the config" ;; esac
    if ! getent group "$group" >/dev/null; then
        groupadd --system -- "$group" || die "could not create the group $group"
        previous_group="$group"
        changes+=("created the group $group (its members take part in two-person approvals)")
    fi
    if [[ ! -d "$approvals" ]]; then
        make_dir "$approvals"
        changes+=("created $approvals (group $group, setgid and sticky)")
    fi
    chown root:"$group" -- "$approvals"
    chmod 3770 -- "$approvals"
fi

config="" config_sum="" config_note=""
if ((system)); then
    config="$etc_dir/config.toml"
    if [[ -e "$config" ]]; then
        if [[ "$config" == "$previous_config" ]]; then
            config_sum="$previous_config_sum"
        else
            config="" # pre-existing: not ours, never removed
        fi
        config_note="kept existing $etc_dir/config.toml"
    else
        make_dir "$etc_dir"
        cat >"$config" <<EOF
# Written by safeterraform install.sh --system: this host is a production bastion.
# Later config layers may add production patterns but cannot weaken these.
[production]
always = true
allow_break_glass = false

[audit]
# Every decision also goes to syslog (facility auth, tag safeterraform), which users
# cannot erase; a record that syslog does not accept refuses the command.
syslog = true

[confirm]
# Shared directory for approvals (group $group, setgid and sticky).
approvals_dir = "$approvals"
# The approver must be another user than the one who applies:
# two_person = true
EOF
        chmod 0644 "$config"
        config_sum="$(sha256 "$config")"
        changes+=("wrote $config (always = true, allow_break_glass = false, syslog = true)")
    fi
fi

# The manifest: written once everything it lists exists.
{
    printf 'source\t%s\n' "$wanted"
    printf 'real\t%s\n' "$real"
    for dir in "${previous_dirs[@]}" "${created_dirs[@]}"; do printf 'dir\t%s\n' "$dir"; done
    if [[ -n "$takeover_kind" ]]; then
        printf '%s\t%s\t%s\n' "$takeover_kind" "$launcher" "$takeover_stored"
    elif [[ -n "$previous_takeover" ]]; then
        printf '%s\n' "$previous_takeover"
    fi
    printf 'launcher\t%s\n' "$launcher"
    printf 'link\t%s\n' "$cli_link"
    if [[ -n "$config" ]]; then printf 'config\t%s\t%s\n' "$config" "$config_sum"; fi
    if [[ -n "$previous_group" ]]; then printf 'group\t%s\n' "$previous_group"; fi
} | awk '!seen[$0]++' >"$manifest.tmp"
if cmp -s -- "$manifest.tmp" "$manifest"; then
    rm -f -- "$manifest.tmp"
else
    mv -f -- "$manifest.tmp" "$manifest"
fi
takeover_pending=""

# A bastion install is only done when an ordinary user can use it: run the shim and the
# tool as `nobody`, from /, with a minimal environment. A failure undoes the install.
as_nobody() {
    local gid
    gid="$(id -g nobody)"
    if command -v setpriv >/dev/null; then
        setpriv --reuid=nobody --regid="$gid" --clear-groups -- "$@"
    elif command -v runuser >/dev/null; then
        runuser -u nobody -- "$@"
    else
        # shellcheck disable=SC2016 # expanded by the shell su starts
        su -s /bin/sh nobody -c 'exec "$0" "$@"' "$@"
    fi
}
verify_as_nobody() {
    local output status label
    local -a command
    id nobody >/dev/null 2>&1 || { printf 'there is no user nobody to check with'; return 0; }
    for label in "terraform version" "safeterraform doctor"; do
        if [[ "$label" == "terraform version" ]]; then command=("$launcher" version)
        else command=("$cli_link" doctor); fi
        status=0
        output="$(cd / && as_nobody env -i PATH="$bin_dir:/usr/local/bin:/usr/bin:/bin" \
            HOME=/nonexistent LANG=C.UTF-8 CHECKPOINT_DISABLE=1 COLUMNS=120 \
            "${command[@]}" 2>&1)" || status=$?
        if ((status)); then
            printf '%s\n' "$output" | tail -n 20 >&2
            printf '%s as the user nobody exited %s' "\`$label\`" "$status"
            return 0
        fi
    done
}
if ((system)); then
    failure="$(verify_as_nobody)"
    if [[ -n "$failure" ]]; then
        say "The check as an ordinary user failed; undoing the install:" >&2
        uninstall_from_manifest >&2
        die "$failure; the install was undone"
    fi
fi

# Does the shim shadow the real terraform? Walk PATH as a shell would.
path_line() {
    # shellcheck disable=SC2016 # $PATH is meant literally: it is the line to paste.
    case "${SHELL##*/}" in
        zsh) printf 'add this line to ~/.zshrc: export PATH="%s:$PATH"' "$bin_dir" ;;
        fish) printf 'add this line to ~/.config/fish/config.fish: fish_add_path --move %s' "$bin_dir" ;;
        *) printf 'add this line to ~/.bashrc: export PATH="%s:$PATH"' "$bin_dir" ;;
    esac
}
path_warning=""
shadow_check() {
    local dir candidate here first=""
    local -a dirs
    here="$(cd "$bin_dir" && pwd -P)"
    IFS=: read -r -a dirs <<<"${PATH:-}"
    for dir in "${dirs[@]}"; do
        [[ -n "$dir" && -d "$dir" ]] || continue
        if [[ "$(cd "$dir" && pwd -P)" == "$here" ]]; then
            if [[ -n "$first" ]]; then
                path_warning="WARNING: $first comes before $bin_dir on PATH, so \`terraform\` is not guarded; $(path_line)"
            fi
            return 0
        fi
        candidate="$dir/terraform"
        if [[ -z "$first" && -f "$candidate" && -x "$candidate" ]] && ! has_marker "$candidate"; then
            first="$candidate"
        fi
    done
    path_warning="WARNING: $bin_dir is not on PATH, so \`terraform\` is not guarded; $(path_line)"
}
shadow_check

if ((${#changes[@]} == 0)); then
    say "safeterraform is already installed and up to date:"
else
    say "safeterraform installed:"
    for change in "${changes[@]}"; do say "  - $change"; done
fi
say "  venv:      $venv"
say "  shim:      $launcher"
if [[ -n "$real" ]]; then
    say "  real:      $real [$real_source]"
else
    say "  real:      none found on PATH yet; the shim looks for terraform on PATH each time it runs (or re-run with --real-terraform PATH); \`safeterraform demo\` needs none"
fi
if ((system)); then
    say "  config:    ${config_note:-$etc_dir/config.toml}"
    say "  approvals: $approvals (add operators to the group: usermod -aG $group USER)"
    if [[ -n "$config_note" ]]; then
        say "  trail:     as the kept config says ([audit] syslog = true makes it central)"
    else
        say "  trail:     syslog, facility auth, tag safeterraform (journalctl -t safeterraform)"
    fi
    say "  checked:   \`terraform version\` and \`safeterraform doctor\` run as the user nobody"
    say "  uninstall: $0 --uninstall --system"
else
    say "  uninstall: $0 --uninstall --venv $venv"
fi
if [[ -n "$path_warning" ]]; then
    say "$path_warning" >&2
fi
exit 0
