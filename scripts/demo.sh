#!/usr/bin/env bash
# Set up (scripts/setup.sh), then fine-tune a tiny local model on a bundled dataset, start to
# finish on the CPU, with ./demo-home as the ffui home (its database and run outputs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if .venv/bin/ffui demo --help >/dev/null 2>&1; then
  exec .venv/bin/ffui --home demo-home demo "$@"
fi
exec .venv/bin/ffui --home demo-home db info
