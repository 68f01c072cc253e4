#!/usr/bin/env bash
# Make (or reuse) .venv with CPU torch and ffui with its training and test extras.
# CPU torch is installed first, by exact version, so no multi-GB CUDA build is pulled
# in; on a GPU box install the CUDA torch you want before running this.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
# (this machine's pip.conf names local wheel folders that may be absent: hide those warnings)
pip_q() {
  .venv/bin/python -m pip install -q --disable-pip-version-check "$@" 2>&1 | { grep -v "^WARNING: Location" || true; }
  return "${PIPESTATUS[0]}"
}
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
  pip_q "torch==2.13.0"
fi
pip_q -e ".[train,dev]"
.venv/bin/python -c "import ffui, torch, transformers, peft" || { echo "setup: the install is incomplete (see pip's messages above)"; exit 1; }
