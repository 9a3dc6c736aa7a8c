#!/usr/bin/env bash
# usage: fault-watch.sh OUT [INTERVAL_S] [WORKER...]   (as root; runs until killed)
# Watches the namespace workers of ../shared/jepsen-offline from outside
# Jepsen, for bin/fault-evidence.clj: every INTERVAL_S seconds (default 0.3),
# one line per worker:
#
#   <epoch ms> <worker> drops=<iptables DROP rules in its INPUT chain> nodes=<pid>:<state>,... \
#     member=<m> id=<id> slot=<config slot> members=<id>:<role>:<host>,...
#
# where the nodes are the `node ...paxos.js node` processes inside the worker's
# network namespace and state is the one letter of /proc/PID/stat (S
# sleeping, R running, T stopped by SIGSTOP, Z zombie). No node: nodes=-.
# member ... members are what the worker's node answers to GET /status on
# its own loopback (voter, learner, removed or joining; its id, the config
# slot in force and the members it knows), asked with a 1 s timeout; no
# answer: member=- (the rest then says -). WATCH_HTTP_PORT is the nodes'
# HTTP port (5000); with WATCH_CERTS_UNDER set (the run's directory), the
# watcher asks over HTTPS with the run's client certificate once Jepsen has
# made one there (store/.../certs/client.jepsen.crt), for --tls runs.
set -u
out=$1
interval=${2:-0.3}
shift 2 2>/dev/null || shift $#
workers=("$@")
[ ${#workers[@]} -gt 0 ] || workers=(n1 n2 n3)
port=${WATCH_HTTP_PORT:-5000}
certs_under=${WATCH_CERTS_UNDER:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 0' TERM INT

status_fields() { # status_fields WORKER: the member ... fields from GET /status
  local url="http://127.0.0.1:$port/status" tls=() crt
  if [ -n "$certs_under" ]; then
    crt=$(find "$certs_under" -name client.jepsen.crt -path '*/certs/*' 2>/dev/null | tail -1)
    if [ -n "$crt" ]; then
      # -k: the node's certificate names its host, not 127.0.0.1.
      url="https://127.0.0.1:$port/status"; tls=(-k --cert "$crt" --key "${crt%.crt}.key")
    fi
  fi
  ip netns exec "$1" curl -s -m 1 "${tls[@]}" "$url" 2>/dev/null | jq -r '
    "member=\(.member) id=\(.id) slot=\(.config_slot) members=\(
      [.members[] | "\(.id):\(.role):\(.address | split(":")[0])"] | join(",")
      | if . == "" then "-" else . end)"' 2>/dev/null \
    | grep '^member=' || echo "member=- id=- slot=- members=-"
}

sample() { # sample WORKER TIME: the worker's line
  local w=$1 drops nodes="" p cmd st
  drops=$(ip netns exec "$w" iptables -w -S INPUT 2>/dev/null | grep -c -- '-j DROP')
  for p in $(ip netns pids "$w" 2>/dev/null); do
    cmd=$( { tr '\0' ' ' < "/proc/$p/cmdline"; } 2>/dev/null) || continue
    # node itself, not the start-stop-daemon or sudo starting it (their
    # command lines hold the node's too).
    case "${cmd%% *}" in node|*/node) ;; *) continue ;; esac
    case "$cmd" in
      *"paxos.js node "*)
        st=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | cut -d' ' -f1)
        [ -n "$st" ] && nodes="${nodes:+$nodes,}$p:$st" ;;
    esac
  done
  echo "$2 $w drops=$drops nodes=${nodes:--} $(status_fields "$w")"
}

: > "$out"
while :; do
  t=$(date +%s%3N)
  # The workers at once: a paused node's /status takes the whole 1 s timeout.
  for w in "${workers[@]}"; do sample "$w" "$t" > "$tmp/$w" & done
  wait
  for w in "${workers[@]}"; do cat "$tmp/$w"; done >> "$out"
  sleep "$interval"
done
