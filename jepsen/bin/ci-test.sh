#!/usr/bin/env bash
# What can be checked of jepsen/ without Jepsen (no Clojars, no Maven Central
# on CI): every .clj file parses, the Jepsen-dependent namespaces load against
# the stand-ins in stubs/, and the clojure.test suites pass (the models, and the
# HTTP client against a real local 3-node cluster that the tests start and
# stop). Installs nothing: needs Debian's `clojure` and `libdata-json-clojure`,
# node, and a built ../dist (npm run build). Ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

DATA_JSON=/usr/share/java/data.json.jar
export PAXOS_ROOT="${PAXOS_ROOT:-$(cd .. && pwd)}"
export PAXOS_TEST_PIDFILE
PAXOS_TEST_PIDFILE=$(mktemp)

cleanup() {
  # Stop any node process the tests started and left behind (by pid only).
  while read -r pid; do
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
  done < "$PAXOS_TEST_PIDFILE"
  sleep 1
  while read -r pid; do
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
  done < "$PAXOS_TEST_PIDFILE"
  rm -f "$PAXOS_TEST_PIDFILE"
}
trap cleanup EXIT

passed=0
failed=0
add() { # add STEP-NAME LOGFILE STATUS
  local line
  line=$(grep -E "^$1 [0-9]+ [0-9]+$" "$2" | tail -1)
  if [ -z "$line" ]; then
    echo "$1: no result line (status $3)"; failed=$((failed + 1)); return
  fi
  set -- $line "$3"
  passed=$((passed + $2)); failed=$((failed + $3))
  if [ "$4" -ne 0 ] && [ "$3" -eq 0 ]; then failed=$((failed + 1)); fi
}

if [ ! -r "$DATA_JSON" ] || ! command -v clojure >/dev/null; then
  echo "needs Debian's clojure and libdata-json-clojure (apt-get install -y clojure libdata-json-clojure)"
  echo "0 passed, 1 failed"
  exit 1
fi

log=$(mktemp)
run() { # run STEP-NAME CLASSPATH ARGS...
  local step=$1 cp=$2; shift 2
  echo "== $step"
  clojure -cp "$cp" "$@" 2>&1 | tee "$log"
  add "$step" "$log" "${PIPESTATUS[0]}"
}

run PARSE   "$DATA_JSON" bin/parse-all.clj project.clj src test bin stubs
run COMPILE "src:stubs:$DATA_JSON" bin/compile-check.clj
run TESTS   "src:test:$DATA_JSON" bin/run-tests.clj \
  jepsen.paxos.model-core-test jepsen.paxos.http-test
rm -f "$log"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
