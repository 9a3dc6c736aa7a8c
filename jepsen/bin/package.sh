#!/usr/bin/env bash
# usage: bin/package.sh [--no-build] [OUT.tgz]
# Packs what a worker needs into jepsen/paxos-ts.tgz (the default --package),
# self-contained: package.json, package-lock.json, bin/, dist/, proto/, gen/,
# ui/ (the live page's static files)
# and the production node_modules, all under package/ as npm pack does. The
# workers then need no npm registry (the runtime dependencies are pure
# JavaScript, so node_modules built here runs on any x86-64 or arm64 worker).
#
# dist/ comes from the checkout: `npm run build` there first (it needs the dev
# dependencies: `npm ci` once in the checkout), unless --no-build says dist/ is
# already built. node_modules is made by `npm ci --omit=dev` in a staging copy
# in a temporary directory, never in the checkout, whose node_modules stays as
# it is.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "$here/.." && pwd)

build=1
if [ "${1:-}" = "--no-build" ]; then build=0; shift; fi
out=${1:-"$here/paxos-ts.tgz"}
case "$out" in /*) ;; *) out="$(pwd)/$out" ;; esac

cd "$root"
if [ "$build" = 1 ]; then
  if [ ! -x node_modules/.bin/tsc ]; then
    echo "package.sh: no TypeScript in $root/node_modules: run 'npm ci' there once (or pass --no-build with dist/ built)" >&2
    exit 1
  fi
  npm run build --silent
fi
if [ ! -f dist/src/cli/main.js ]; then
  echo "package.sh: $root/dist is not built: run 'npm run build' there" >&2
  exit 1
fi

stage=$(mktemp -d "${TMPDIR:-/tmp}/paxos-ts-package.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir "$stage/package"
cp -R package.json package-lock.json bin dist proto gen ui "$stage/package/"
(cd "$stage/package" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error)

# The node must start from the staged copy alone (no dev dependency, nothing
# from the checkout).
(cd "$stage/package" && node bin/paxos.js --help >/dev/null)

tar -czf "$out.tmp" -C "$stage" package
# List to a file, then look: grep -q on a pipe exits at the first match and
# would kill tar with SIGPIPE (pipefail then fails a good tarball).
tar -tzf "$out.tmp" > "$stage/list"
for f in package/dist/src/cli/main.js package/bin/paxos.js package/ui/index.html package/node_modules/fastify/package.json; do
  if ! grep -qx "$f" "$stage/list"; then
    echo "package.sh: $f missing from the tarball" >&2
    exit 1
  fi
done
mv "$out.tmp" "$out"
echo "wrote $out ($(du -h "$out" | cut -f1), $(grep -c '^package/node_modules/[^/]*/$' "$stage/list") top-level entries in node_modules)"
