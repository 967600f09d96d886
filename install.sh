#!/usr/bin/env bash
# Install (or uninstall) safeterraform: a virtualenv with the package, the `terraform`
# shim in a bin dir that should come before the real terraform on PATH, and a summary.
#
#   ./install.sh [--venv DIR] [--bin-dir DIR] [--real-terraform PATH] [--system]
#                [--demo] [--uninstall]
#
# PYTHON (default python3) is the interpreter the virtualenv is made from (>= 3.11).
# Exit codes: 0 done (or nothing to do), 1 refused or failed (one line on stderr),
# 2 bad usage.
#
# --system (a bastion) uses $SAFETERRAFORM_PREFIX/venv (default /opt/safeterraform),
# $SAFETERRAFORM_SYSTEM_BIN (default /usr/local/bin) and writes
# $SAFETERRAFORM_ETC/config.toml (default /etc/safeterraform) unless it already exists.
# The overrides exist so the system layout can be tested in a throwaway root.
#
# Everything install.sh creates is listed in a manifest inside the venv dir
# (VENV/safeterraform-install.manifest); --uninstall removes exactly that:
# - the launcher and the `safeterraform` symlink, only while they are still ours;
# - the system config only if this script created it and nobody changed it since
#   (its SHA-256 is recorded): an edited or pre-existing config is policy an admin
#   owns, so it is kept and the summary says so;
# - the venv dir, and the directories install.sh had to create, once they are empty.
set -euo pipefail

MARKER="safeterraform-shim"
MANIFEST_NAME="safeterraform-install.manifest"
SOURCE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON="${PYTHON:-python3}"

die() {
    printf 'install.sh: %s\n' "$*" >&2
    exit 1
}

usage() {
    sed -n '4,5p' "${BASH_SOURCE[0]}" | sed 's/^#//' >&2
    exit 2
}

say() {
    printf '%s\n' "$*"
}

venv="" bin_dir="" real="" system=0 uninstall=0 demo=0
while (($#)); do
    case "$1" in
        --venv) (($# >= 2)) || usage; venv="$2"; shift 2 ;;
        --venv=*) venv="${1#*=}"; shift ;;
        --bin-dir) (($# >= 2)) || usage; bin_dir="$2"; shift 2 ;;
        --bin-dir=*) bin_dir="${1#*=}"; shift ;;
        --real-terraform) (($# >= 2)) || usage; real="$2"; shift 2 ;;
        --real-terraform=*) real="${1#*=}"; shift ;;
        --system) system=1; shift ;;
        --uninstall) uninstall=1; shift ;;
        --demo) demo=1; shift ;;
        -h | --help) usage ;;
        *) printf 'install.sh: unknown option %s\n' "$1" >&2; usage ;;
    esac
done

etc_dir=""
if ((system)); then
    prefix="${SAFETERRAFORM_PREFIX:-/opt/safeterraform}"
    etc_dir="${SAFETERRAFORM_ETC:-/etc/safeterraform}"
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

# ---------------------------------------------------------------- uninstall
if ((uninstall)); then
    [[ -f "$manifest" ]] || die "nothing to uninstall: no $manifest (pass the --venv/--system used to install)"
    kept=()
    dirs=()
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
            dir) dirs+=("$path") ;;
        esac
    done <"$manifest"
    rm -rf -- "$venv"
    say "removed $venv"
    # Directories install.sh created, children before parents, only when empty.
    if ((${#dirs[@]})); then
        while IFS= read -r dir; do
            if rmdir -- "$dir" 2>/dev/null; then say "removed $dir/"; fi
        done < <(printf '%s\n' "${dirs[@]}" | LC_ALL=C sort -r)
    fi
    for item in "${kept[@]}"; do say "kept $item"; done
    exit 0
fi

# ---------------------------------------------------------------- install
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
    || die "$PYTHON is not Python >= 3.11 (set PYTHON=/path/to/python3.11)"

if [[ -e "$venv" && ! -f "$manifest" && -n "$(ls -A -- "$venv")" ]]; then
    die "$venv exists and was not created by install.sh; choose another --venv"
fi

# Refuse to replace a terraform in the bin dir that is not our shim (a real binary).
if [[ -e "$launcher" || -L "$launcher" ]] && ! has_marker "$launcher"; then
    die "$launcher exists and is not the safeterraform shim; move the real terraform elsewhere and pass --real-terraform"
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
elif real="$(find_real)"; then
    real_source="found on PATH"
else
    real="" real_source="none found on PATH"
    demo=1
fi
if ((system)) && [[ -n "$real" ]]; then
    # A bastion pins the binary it guards: follow tfswitch-style symlinks to the file.
    # (On a workstation the symlink itself is recorded, so switching versions works.)
    real="$(readlink -f -- "$real")"
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

# Carried over from the previous manifest: what an earlier run created stays ours.
previous_dirs=() previous_config="" previous_config_sum="" previous_source=""
if [[ -f "$manifest" ]]; then
    while IFS=$'\t' read -r kind path sum; do
        case "$kind" in
            dir) previous_dirs+=("$path") ;;
            config) previous_config="$path" previous_config_sum="$sum" ;;
            source) previous_source="$path" ;;
        esac
    done <"$manifest"
fi

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
    "$PYTHON" -m venv -- "$venv" || die "could not create the virtualenv $venv"
    changes+=("created virtualenv $venv")
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
    version="$("$venv/bin/python" -c 'import safeterraform; print(safeterraform.__version__)' 2>/dev/null || echo '?')"
    changes+=("installed safeterraform $version$extras into $venv")
fi

# The launcher: render into the bin dir's filesystem, replace only when it differs.
make_dir "$bin_dir"
stage="$(mktemp -d -- "$bin_dir/.safeterraform.XXXXXX")"
launcher_args=(--bin-dir "$stage" --name terraform --record)
[[ -n "$real" ]] && launcher_args+=(--real "$real")
# The system layer's location is baked into the launcher: no environment variable moves it.
if ((system)) && [[ "$etc_dir" != /etc/safeterraform ]]; then
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
        cat >"$config" <<'EOF'
# Written by safeterraform install.sh --system: this host is a production bastion.
# Later config layers may add production patterns but cannot weaken these.
[production]
always = true
allow_break_glass = false
EOF
        chmod 0644 "$config"
        config_sum="$(sha256 "$config")"
        changes+=("wrote $config (always = true, allow_break_glass = false)")
    fi
fi

# The manifest: written last, so it only lists what really exists.
{
    printf 'source\t%s\n' "$wanted"
    printf 'real\t%s\n' "$real"
    for dir in "${previous_dirs[@]}" "${created_dirs[@]}"; do printf 'dir\t%s\n' "$dir"; done
    printf 'launcher\t%s\n' "$launcher"
    printf 'link\t%s\n' "$cli_link"
    if [[ -n "$config" ]]; then printf 'config\t%s\t%s\n' "$config" "$config_sum"; fi
} | awk '!seen[$0]++' >"$manifest.tmp"
if cmp -s -- "$manifest.tmp" "$manifest"; then
    rm -f -- "$manifest.tmp"
else
    mv -f -- "$manifest.tmp" "$manifest"
fi

# Does the shim shadow the real terraform? Walk PATH as a shell would.
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
                path_warning="WARNING: $first comes before $bin_dir on PATH, so \`terraform\` is not guarded; put $bin_dir first on PATH"
            fi
            return 0
        fi
        candidate="$dir/terraform"
        if [[ -z "$first" && -f "$candidate" && -x "$candidate" ]] && ! has_marker "$candidate"; then
            first="$candidate"
        fi
    done
    path_warning="WARNING: $bin_dir is not on PATH, so \`terraform\` is not guarded; add it in front of PATH"
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
say "  real:      ${real:-(none: found on PATH at run time)} [$real_source]"
((system)) && say "  config:    ${config_note:-$etc_dir/config.toml}"
if ((system)); then
    say "  uninstall: $0 --uninstall --system"
else
    say "  uninstall: $0 --uninstall --venv $venv"
fi
if [[ -n "$path_warning" ]]; then
    say "$path_warning" >&2
fi
exit 0
