#!/usr/bin/env bash
# Set up (scripts/setup.sh), then fine-tune a tiny local model on a bundled dataset, start to
# finish on the CPU, with demo-home (in the repository) as the ffui home (its database and run
# outputs). ffui runs from the caller's directory, so the commands it prints work from there.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
(cd "$repo" && bash scripts/setup.sh)
ffui="$repo/.venv/bin/ffui"
if "$ffui" demo --help >/dev/null 2>&1; then
  exec "$ffui" --home "$repo/demo-home" demo "$@"
fi
exec "$ffui" --home "$repo/demo-home" db info
