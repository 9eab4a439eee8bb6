#!/usr/bin/env bash
# Creates N network namespaces that act as N hosts on one machine, joined by a bridge that the
# root namespace is on too (so mpirun, run from the root namespace, reaches every orted and back).
# usage: scripts/netns/up.sh N [--slots S] [--hostfile FILE]
#   --hostfile FILE  also writes an OpenMPI hostfile: one line "ADDRESS slots=S" per namespace
# Undo with scripts/netns/down.sh. Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN for ip netns).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/common.sh"

usage() { echo "usage: $0 N [--slots S] [--hostfile FILE]   (N = 1..253 namespaces)" >&2; exit 2; }
[ $# -ge 1 ] || usage
n="$1"; shift
slots=1; hostfile=""
while [ $# -gt 0 ]; do
    case "$1" in
        --slots) [ $# -ge 2 ] || usage; slots="$2"; shift 2 ;;
        --hostfile) [ $# -ge 2 ] || usage; hostfile="$2"; shift 2 ;;
        *) echo "up.sh: unknown argument '$1'" >&2; usage ;;
    esac
done
[[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 253 ] || { echo "up.sh: N must be 1..253, got '$n'" >&2; exit 2; }
[[ "$slots" =~ ^[0-9]+$ ]] && [ "$slots" -ge 1 ] || { echo "up.sh: --slots must be a positive integer, got '$slots'" >&2; exit 2; }
veth_last="$(netns_veth $((n - 1)))"
[ ${#veth_last} -le 15 ] || { echo "up.sh: interface name '$veth_last' exceeds 15 characters; shorten DDP_NETNS_PREFIX" >&2; exit 2; }

if [ -n "$(netns_list)" ] || ip link show "$NETNS_BRIDGE" >/dev/null 2>&1; then
    echo "up.sh: namespaces ${NETNS_PREFIX}* or bridge $NETNS_BRIDGE exist already; run $here/down.sh first" >&2
    exit 1
fi
# Another interface on the subnet would make the routes ambiguous.
if ip -4 -o addr show | awk '{print $4}' | grep -q "^${NETNS_NET//./\\.}\."; then
    echo "up.sh: subnet $NETNS_CIDR is already in use on this host; choose another with DDP_NETNS_NET" >&2
    exit 1
fi

# From here on a failure leaves half a cluster: take it down again before reporting.
trap 'status=$?; if [ $status -ne 0 ]; then echo "up.sh: set-up failed, tearing down" >&2; "$here/down.sh" >/dev/null 2>&1 || true; fi' EXIT

ip link add "$NETNS_BRIDGE" type bridge stp_state 0 forward_delay 0
ip addr add "$NETNS_ROOT_ADDR/24" dev "$NETNS_BRIDGE"
ip link set "$NETNS_BRIDGE" up

for ((i = 0; i < n; i++)); do
    ns="$(netns_name $i)"; veth="$(netns_veth $i)"
    ip netns add "$ns"
    ip link add "$veth" type veth peer name "$NETNS_IFACE" netns "$ns"
    ip link set "$veth" master "$NETNS_BRIDGE" up
    ip -n "$ns" addr add "$(netns_addr $i)/24" dev "$NETNS_IFACE"
    ip -n "$ns" link set "$NETNS_IFACE" up
    ip -n "$ns" link set lo up
done

# A bridge port forwards only once it has left the listening/learning states (brport/state 3);
# wait for that (bounded) so that the first mpirun does not race the link set-up.
for ((i = 0; i < n; i++)); do
    veth="$(netns_veth $i)"
    for ((try = 0; ; try++)); do
        [ "$(cat "/sys/class/net/$veth/brport/state" 2>/dev/null)" = 3 ] && break
        [ $try -lt 40 ] || { echo "up.sh: bridge port $veth of $(netns_name $i) never reached the forwarding state" >&2; exit 1; }
        sleep 0.25
    done
done

if [ -n "$hostfile" ]; then
    : > "$hostfile"
    for ((i = 0; i < n; i++)); do echo "$(netns_addr $i) slots=$slots" >> "$hostfile"; done
fi
echo "up.sh: $n namespaces ${NETNS_PREFIX}0..${NETNS_PREFIX}$((n - 1)) at $(netns_addr 0)..$(netns_addr $((n - 1))), root at $NETNS_ROOT_ADDR on $NETNS_BRIDGE"
