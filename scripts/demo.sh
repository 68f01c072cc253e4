#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the main job on embedded defaults in ./demo-home.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if .venv/bin/ffui demo --help >/dev/null 2>&1; then
  exec .venv/bin/ffui --home demo-home demo "$@"
fi
exec .venv/bin/ffui --home demo-home db info
