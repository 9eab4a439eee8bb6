#!/usr/bin/env bash
# Tears down what up.sh created: ends the processes left inside the namespaces (by pid), deletes
# the namespaces, the root-side veths and the bridge. Idempotent: a no-op when nothing is there.
# usage: scripts/netns/down.sh
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/common.sh"

for ns in $(netns_list); do
    # A namespace outlives "ip netns delete" while a process is in it; stragglers of a killed
    # mpirun (orted, ranks) would keep its veth and addresses alive.
    pids="$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')"
    if [ -n "${pids// }" ]; then
        kill -TERM $pids 2>/dev/null
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            [ -z "$(ip netns pids "$ns" 2>/dev/null)" ] && break
            sleep 0.2
        done
        pids="$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')"
        [ -n "${pids// }" ] && kill -KILL $pids 2>/dev/null
    fi
    ip netns delete "$ns" 2>/dev/null || echo "down.sh: could not delete namespace $ns" >&2
done
# The veth pairs die with their namespace; delete root-side ends explicitly in case a namespace
# was removed behind our back while its peer end stayed.
for veth in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -E "^${NETNS_PREFIX}[0-9]+-v\$"); do
    ip link delete "$veth" 2>/dev/null
done
ip link show "$NETNS_BRIDGE" >/dev/null 2>&1 && ip link delete "$NETNS_BRIDGE" type bridge

leftover="$(netns_list)$(ip link show "$NETNS_BRIDGE" 2>/dev/null)"
if [ -n "$leftover" ]; then
    echo "down.sh: left behind: $leftover" >&2
    exit 1
fi
exit 0
