#!/usr/bin/env bash
# Builds paxos-ts and packs what a worker needs into jepsen/paxos-ts.tgz
# (the default --package): package.json, package-lock.json (for
# `npm ci --omit=dev` on the worker), bin/, dist/, proto/, gen/, all under
# package/ as npm pack does. npm pack itself never includes package-lock.json.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"
npm ci
npm run build
out="$here/paxos-ts.tgz"
tar -czf "$out" --transform 's,^,package/,' \
  package.json package-lock.json bin dist proto gen
echo "wrote $out"
tar -tzf "$out" | grep -q '^package/dist/src/cli/main.js$'
