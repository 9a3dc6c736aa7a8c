#!/usr/bin/env bash
# usage: bin/e2e-local.sh [--nemesis NAME[,NAME...]] [--package TGZ] [--out DIR] [--min-gap S] [JEPSEN OPTION...]
#
# Runs this project's Jepsen test (real Jepsen 0.3.5, `jepsen.paxos.core
# test`) end to end on this machine, against the three namespace "workers" of
# ../shared/jepsen-offline (n1..n3 on bridge jbr0, 10.77.0.0/24, reached as
# the non-root user admin with sudo, as on a Debian AMI), then checks from
# outside Jepsen that the fault really happened (bin/fault-evidence.clj, from
# what bin/fault-watch.sh saw on the workers during the run).
#
# Run as root. The kit is $JEPSEN_OFFLINE, else ../shared/jepsen-offline next
# to the checkout, else /work/shared/jepsen-offline. Without --package it
# builds one with bin/package.sh (dist/ must be built: npm run build). Other
# options go to `lein run test` as they are (--time-limit, --healthy,
# --faulty, --rate, --tls, --reads, ...). The workers always come down again
# (nodes-down.sh), also on failure or Ctrl-C, and two runs never share them.
#
# Exit 0 when Jepsen said valid (exit 0) and the evidence holds; the last
# line says "e2e <nemesis>: ok" or "e2e <nemesis>: FAILED (...)".
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "$here/.." && pwd)

nemesis=partition-random-halves
package=
out=
min_gap=8
jargs=()
while [ $# -gt 0 ]; do
  case "$1" in
    --nemesis) nemesis=$2; shift 2 ;;
    --package) package=$(readlink -f "$2"); shift 2 ;;
    --out) out=$2; shift 2 ;;
    --min-gap) min_gap=$2; shift 2 ;;
    *) jargs+=("$1"); shift ;;
  esac
done

fail() { echo "e2e $nemesis: FAILED ($*)"; exit 1; }

[ "$(id -u)" = 0 ] || fail "run as root: the workers are network namespaces"
kit=${JEPSEN_OFFLINE:-}
if [ -z "$kit" ]; then
  for k in "$root/../shared/jepsen-offline" /work/shared/jepsen-offline; do
    if [ -x "$k/run-e2e.sh" ]; then kit=$k; break; fi
  done
fi
if [ -n "${JEPSEN_OFFLINE:-}" ]; then
  [ -x "$kit/run-e2e.sh" ] && [ -x "$kit/classpath.sh" ] \
    || fail "JEPSEN_OFFLINE=$JEPSEN_OFFLINE is not a jepsen-offline kit (no run-e2e.sh, classpath.sh)"
fi
[ -n "$kit" ] && [ -x "$kit/run-e2e.sh" ] && [ -x "$kit/classpath.sh" ] \
  || fail "no jepsen-offline kit (set JEPSEN_OFFLINE; looked in $root/../shared/jepsen-offline and /work/shared/jepsen-offline)"
kit=$(cd "$kit" && pwd)
for cmd in java ip iptables sudo gnuplot start-stop-daemon; do
  command -v "$cmd" >/dev/null || fail "$cmd is missing (see jepsen/README.md, 'Running it here')"
done

[ -n "$out" ] || out=$(mktemp -d "${TMPDIR:-/tmp}/paxos-jepsen-e2e.$nemesis.XXXXXX")
mkdir -p "$out"
out=$(cd "$out" && pwd)
started=$(date +%s)

# One run at a time on the shared workers.
mkdir -p /run/lock
exec 9>/run/lock/paxos-jepsen-e2e.lock
flock -w 1800 9 || fail "another e2e run holds /run/lock/paxos-jepsen-e2e.lock"

watcher=
workers_down() {
  # Everything left inside the workers' namespaces (a node of a run that
  # died) is ours: end it by pid, then remove the workers.
  for w in n1 n2 n3; do
    for p in $(ip netns pids "$w" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
  done
  "$kit/nodes-down.sh" >/dev/null 2>&1
  # A worker's veth can outlive its namespace for a while (the kernel frees
  # a namespace lazily); it would stop the next nodes-up.sh.
  for w in n1 n2 n3; do ip link del "v$w" 2>/dev/null; done
  true
}
cleanup() {
  [ -n "$watcher" ] && kill "$watcher" 2>/dev/null && wait "$watcher" 2>/dev/null
  workers_down
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "$package" ]; then
  package="$out/paxos-ts.tgz"
  bash "$here/bin/package.sh" --no-build "$package" >"$out/package.log" 2>&1 \
    || { cat "$out/package.log"; fail "bin/package.sh failed"; }
fi
[ -r "$package" ] || fail "no package $package"

workers_down                        # leftovers of a run that was killed
"$kit/nodes-up.sh" >"$out/nodes-up.log" 2>&1 || { cat "$out/nodes-up.log"; fail "nodes-up.sh failed"; }

# The watcher asks each node's GET /status too (over HTTPS with the run's
# client certificate once Jepsen made one under $out/store, for --tls).
http_port=5000
for ((i = 0; i < ${#jargs[@]}; i++)); do
  [ "${jargs[$i]}" = --http-port ] && http_port=${jargs[$((i + 1))]}
done
WATCH_HTTP_PORT=$http_port WATCH_CERTS_UNDER="$out/store" \
  bash "$here/bin/fault-watch.sh" "$out/watch.log" 0.3 n1 n2 n3 &
watcher=$!

t0=$(date +%s)
"$kit/run-e2e.sh" "$root" "$out" "$package" --nemesis "$nemesis" --paxos-root "$root" "${jargs[@]}" >/dev/null
t1=$(date +%s)
kill "$watcher" 2>/dev/null; wait "$watcher" 2>/dev/null; watcher=

jexit=$(sed -n 's/^EXIT=//p' "$out/console.log" | tail -1)
run=$(readlink -f "$out/store/latest" 2>/dev/null)
grep -E "jepsen.core - (Run complete|Analysis invalid)|Everything looks good|Analysis invalid|:valid\? " "$out/console.log" | tail -3
echo "jepsen: exit ${jexit:-?} in $((t1 - t0)) s; store $run"

evidence=1
if [ -n "$run" ] && [ -r "$run/history.edn" ]; then
  concurrency=$(grep -oE ':concurrency [0-9]+' "$out/console.log" | head -1 | cut -d' ' -f2)
  java -cp "$("$kit/classpath.sh")" clojure.main "$here/bin/fault-evidence.clj" \
    "$run" "$out/watch.log" "$nemesis" "$min_gap" "${concurrency:-5}"
  evidence=$?
else
  echo "no history in $out/store (see $out/console.log)"
  tail -n 30 "$out/console.log"
fi

total=$(( $(date +%s) - started ))
if [ "${jexit:-x}" = 0 ] && [ "$evidence" = 0 ]; then
  echo "e2e $nemesis: ok (valid, fault evidenced; ${total} s; $out)"
else
  echo "e2e $nemesis: FAILED (jepsen exit ${jexit:-?}, evidence $([ "$evidence" = 0 ] && echo ok || echo missing); ${total} s; $out)"
  exit 1
fi
