# Shared names and addresses of the namespace "cluster" (sourced by up.sh, down.sh, rsh-netns.sh).
# Override through the environment to run beside another copy or when 10.77.0.0/24 is taken.
#
#   root ns: bridge $NETNS_BRIDGE, address $NETNS_NET.254   <- mpirun (the HNP) runs here
#     |-- veth ${NETNS_PREFIX}0-v  ==  ddp0 in ns ${NETNS_PREFIX}0, address $NETNS_NET.1
#     |-- veth ${NETNS_PREFIX}1-v  ==  ddp0 in ns ${NETNS_PREFIX}1, address $NETNS_NET.2
#     ...
# Host i of the hostfile is the address $NETNS_NET.(i+1); rsh-netns.sh maps it back to its namespace.
NETNS_PREFIX="${DDP_NETNS_PREFIX:-ddp-h}"     # namespaces ddp-h0, ddp-h1, ...
NETNS_BRIDGE="${DDP_NETNS_BRIDGE:-ddp-br}"
NETNS_NET="${DDP_NETNS_NET:-10.77.0}"         # first three octets of the /24
NETNS_IFACE="ddp0"                            # the interface's name inside every namespace
NETNS_ROOT_ADDR="$NETNS_NET.254"
NETNS_CIDR="$NETNS_NET.0/24"

# netns_name I / netns_addr I / netns_veth I: the namespace, address and root-side veth of host I.
netns_name() { echo "$NETNS_PREFIX$1"; }
netns_addr() { echo "$NETNS_NET.$(($1 + 1))"; }
netns_veth() { echo "$NETNS_PREFIX$1-v"; }

# netns_list: the namespaces of this cluster that exist now, one per line.
netns_list() {
    ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${NETNS_PREFIX}[0-9]+\$" || true
}

# netns_begin NAME: for the benchmark scripts (run from scripts/netns/, with $here set to it):
# takes the lock scripts/tests/multihost_netns.sh also holds, makes $work, removes any
# namespaces left over, and on any exit tears the namespaces down and removes $work.
netns_begin() {
    local lock=/run/lock/ddp-netns.lock
    [ -d /run/lock ] || lock=/tmp/ddp-netns.lock
    exec 9> "$lock"
    flock -w 600 9 || { echo "$1: another run holds $lock" >&2; exit 1; }
    work="$(mktemp -d "/tmp/ddp-netns-$1.XXXXXX")"
    trap 'status=$?; "$here/down.sh" || status=1; rm -rf "$work"; exit $status' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    "$here/down.sh"
}

# netns_launch N R [LAUNCH OPTIONS...] -- DDP ARGS...: (for the benchmark scripts, after
# netns_begin) ddp ARGS through launch.sh on the first N namespaces x R ranks, all traffic over
# TCP, bounded to 10 minutes; LAUNCH OPTIONS (e.g. --mca KEY VALUE) go to launch.sh.
netns_launch() {
    local n="$1" r="$2" k hosts; shift 2
    hosts="$work/hosts-${n}x$r"
    for ((k = 0; k < n; k++)); do echo "$(netns_addr $k) slots=$r"; done > "$hosts"
    # Each namespace's daemon sees all cores, so only we know the ranks outnumber them.
    local yield=0; [ $((n * r)) -gt "$(nproc)" ] && yield=1
    timeout --kill-after=10 600 "$here/../launch.sh" -n $((n * r)) --hostfile "$hosts" --tcp \
        --iface "$NETNS_CIDR" --mca plm_rsh_agent "$here/rsh-netns.sh" --mca mpi_yield_when_idle "$yield" "$@"
}

# netns_unusable: why this machine cannot make the namespace cluster; prints nothing when it can.
netns_unusable() {
    [ "$(id -u)" = 0 ] || { echo "needs root to create network namespaces (running as $(id -un))"; return; }
    command -v ip > /dev/null || { echo "the 'ip' command (iproute2) is not installed"; return; }
    command -v unshare > /dev/null || { echo "the 'unshare' command (util-linux) is not installed"; return; }
    local probe="ddpp$$" ok=1   # + "b"/"v": within the 15 characters of an interface name
    ip netns add "$probe" 2> /dev/null ||
        { echo "'ip netns add' is not permitted here (no CAP_SYS_ADMIN/CAP_NET_ADMIN?)"; return; }
    ip link add "${probe}b" type bridge 2> /dev/null || ok=0
    ip link add "${probe}v" type veth peer name eth0 netns "$probe" 2> /dev/null || ok=0
    ip link delete "${probe}v" 2> /dev/null || true
    ip link delete "${probe}b" 2> /dev/null || true
    ip netns delete "$probe"
    [ $ok = 1 ] || echo "cannot create bridges or veth pairs here (kernel modules or CAP_NET_ADMIN missing)"
}

# netns_shape N RATE | netns_shape N none: tc tbf at RATE (e.g. 1gbit) on both ends of the veth
# of each of the first N namespaces (the root end shapes what goes in, the namespace end what
# comes out), or no shaping. A host's traffic to any other host crosses two shaped links. The
# queue holds DDP_NETNS_QUEUE of traffic at RATE (default 50ms).
netns_shape() {
    local k ns
    for ((k = 0; k < $1; k++)); do
        ns="$(netns_name $k)"
        if [ "$2" = none ]; then
            tc qdisc del dev "$(netns_veth $k)" root 2> /dev/null || true
            ip netns exec "$ns" tc qdisc del dev "$NETNS_IFACE" root 2> /dev/null || true
        else
            tc qdisc replace dev "$(netns_veth $k)" root tbf rate "$2" burst 256kb latency "${DDP_NETNS_QUEUE:-50ms}"
            ip netns exec "$ns" tc qdisc replace dev "$NETNS_IFACE" root tbf rate "$2" burst 256kb latency "${DDP_NETNS_QUEUE:-50ms}"
        fi
    done
}
