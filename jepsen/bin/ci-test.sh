#!/usr/bin/env bash
# The checks of jepsen/ that need no workers, on the real Jepsen 0.3.5 and
# Knossos 0.3.10 of ../shared/jepsen-offline (no stand-ins):
#
#   PARSE    every .clj file here reads (all forms);
#   COMPILE  every namespace under src/ and test/ loads (compiles) against
#            real Jepsen, as `lein run` would;
#   TESTS    the clojure.test suites: the models, the HTTP client against real
#            local 3-node clusters (plain and TLS, and membership changes with
#            a real joining node), the test map and command line, and
#            jepsen.paxos.db on real jepsen.control (as whom each command runs;
#            kill, pause and stop of real local processes; how a node starts
#            after the member nemesis removed it or brought it back).
#
# The end-to-end runs on the namespace workers (bin/e2e-local.sh, as root) are
# .ci/run's, one per nemesis, member included.
#
# The kit is $JEPSEN_OFFLINE, else ../shared/jepsen-offline next to the
# checkout, else /work/shared/jepsen-offline; without it COMPILE and the
# Jepsen suites FAIL (the Jepsen-free suites still run, with Debian's clojure
# and libdata-json-clojure). Needs node and a built ../dist (npm run build).
# Java runs in a scratch directory: Jepsen's dom-top writes classes/ into the
# working directory. Ends with "N passed, N failed".
set -uo pipefail
jdir=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "$jdir/.." && pwd)
cd "$jdir"

export PAXOS_ROOT="${PAXOS_ROOT:-$root}"
export PAXOS_TEST_PIDFILE
PAXOS_TEST_PIDFILE=$(mktemp)
scratch=$(mktemp -d "${TMPDIR:-/tmp}/paxos-jepsen-ci.XXXXXX")
log=$(mktemp)

cleanup() {
  # Stop any node process the tests started and left behind (by pid only).
  while read -r pid; do
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
  done < "$PAXOS_TEST_PIDFILE"
  sleep 1
  while read -r pid; do
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
  done < "$PAXOS_TEST_PIDFILE"
  rm -rf "$PAXOS_TEST_PIDFILE" "$scratch" "$log"
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

run() { # run STEP-NAME CLASSPATH SCRIPT ARGS...: clojure.main in the scratch directory
  local step=$1 cp=$2; shift 2
  echo "== $step"
  (cd "$scratch" && java -Djava.awt.headless=true -cp "$cp" clojure.main "$@") 2>&1 | tee "$log"
  add "$step" "$log" "${PIPESTATUS[0]}"
}

kit=${JEPSEN_OFFLINE:-}
if [ -z "$kit" ]; then
  for k in "$root/../shared/jepsen-offline" /work/shared/jepsen-offline; do
    if [ -x "$k/classpath.sh" ]; then kit=$k; break; fi
  done
fi

jepsen_free="jepsen.paxos.model-core-test jepsen.paxos.http-test"
with_jepsen="jepsen.paxos.core-test jepsen.paxos.db-test"

if [ -n "$kit" ] && [ -x "$kit/classpath.sh" ]; then
  cp="$("$kit/classpath.sh"):$jdir/src:$jdir/test"
  echo "jepsen-offline: $kit"
  run PARSE   "$cp" "$jdir/bin/parse-all.clj" "$jdir/project.clj" "$jdir/src" "$jdir/test" "$jdir/bin"
  run COMPILE "$cp" "$jdir/bin/compile-all.clj" "$jdir/src" "$jdir/test"
  # shellcheck disable=SC2086
  run TESTS   "$cp" "$jdir/bin/run-tests.clj" $jepsen_free $with_jepsen
else
  if [ -n "${JEPSEN_OFFLINE:-}" ]; then
    echo "FAILED: JEPSEN_OFFLINE=$JEPSEN_OFFLINE is not a jepsen-offline kit (no classpath.sh)"
  else
    echo "FAILED: no jepsen-offline kit (set JEPSEN_OFFLINE; looked in $root/../shared/jepsen-offline"
    echo "and /work/shared/jepsen-offline)"
  fi
  echo "nothing here can be compiled against real Jepsen; COMPILE and the Jepsen suites fail"
  failed=$((failed + 1))
  data_json=/usr/share/java/data.json.jar
  clj=$(ls /usr/share/java/clojure-1.*.jar 2>/dev/null | tail -1)
  if [ -n "$clj" ] && [ -r "$data_json" ]; then
    cp="$clj:$data_json:$jdir/src:$jdir/test"
    run PARSE "$cp" "$jdir/bin/parse-all.clj" "$jdir/project.clj" "$jdir/src" "$jdir/test" "$jdir/bin"
    # shellcheck disable=SC2086
    run TESTS "$cp" "$jdir/bin/run-tests.clj" $jepsen_free
  else
    echo "FAILED: no Debian clojure and libdata-json-clojure either"
    failed=$((failed + 1))
  fi
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
