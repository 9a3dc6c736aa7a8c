#!/usr/bin/env bash
# usage: fault-watch.sh OUT [INTERVAL_S] [WORKER...]   (as root; runs until killed)
# Watches the namespace workers of ../shared/jepsen-offline from outside
# Jepsen, for bin/fault-evidence.clj: every INTERVAL_S seconds (default 0.3),
# one line per worker:
#
#   <epoch ms> <worker> drops=<iptables DROP rules in its INPUT chain> nodes=<pid>:<state>,...
#
# where the nodes are the `paxos.js node` processes inside the worker's
# network namespace and state is the one letter of /proc/PID/stat (S
# sleeping, R running, T stopped by SIGSTOP, Z zombie). No node: nodes=-.
set -u
out=$1
interval=${2:-0.3}
shift 2 2>/dev/null || shift $#
workers=("$@")
[ ${#workers[@]} -gt 0 ] || workers=(n1 n2 n3)

: > "$out"
while :; do
  t=$(date +%s%3N)
  lines=""
  for w in "${workers[@]}"; do
    drops=$(ip netns exec "$w" iptables -w -S INPUT 2>/dev/null | grep -c -- '-j DROP')
    nodes=""
    for p in $(ip netns pids "$w" 2>/dev/null); do
      cmd=$( { tr '\0' ' ' < "/proc/$p/cmdline"; } 2>/dev/null) || continue
      case "$cmd" in
        *"paxos.js node "*)
          st=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | cut -d' ' -f1)
          [ -n "$st" ] && nodes="${nodes:+$nodes,}$p:$st" ;;
      esac
    done
    lines+="$t $w drops=$drops nodes=${nodes:--}"$'\n'
  done
  printf '%s' "$lines" >> "$out"
  sleep "$interval"
done
