#!/usr/bin/env bash
# make demo: install the pinned cdktf-cli into ./node_modules, then run the demo (scripts/demo.py).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-cdktf.sh
exec .venv/bin/python scripts/demo.py "$@"
