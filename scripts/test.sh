#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Two test processes (FFUI_TEST_WORKERS to change; 0 runs in this one), each given whole files
# (--dist loadfile): a file's tests share module fixtures and fixed paths (the snapshot home),
# and most tests wait on subprocesses, so two make use of both cores of a 2-core machine.
exec .venv/bin/python -m pytest -q -p no:cacheprovider -n "${FFUI_TEST_WORKERS:-2}" --dist loadfile "$@"
