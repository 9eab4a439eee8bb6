#!/usr/bin/env bash
# Multi-host test on one machine: network namespaces act as hosts (scripts/netns/up.sh), mpirun
# (through scripts/launch.sh) starts ranks in them over the rsh agent scripts/netns/rsh-netns.sh,
# and all MPI traffic goes over TCP (btl tcp,self) on the namespaces' subnet.
#
# usage: scripts/tests/multihost_netns.sh [--hosts N] [--slots S] [--np P] [--timeout SEC] [--no-train]
#                                         [--cmd "DDP ARGS"]... [--compare "DDP ARGS"]... [-- DDP ARGS...]
#   --hosts N     namespaces (default 2)       --slots S   ranks per namespace (default 2)
#   --np P        ranks for the ddp commands (default N*S)
#   --timeout SEC bound of every mpirun (default 120; DDP_NETNS_TIMEOUT)
#   --no-train    skip the default training comparisons (below), e.g. for benchmarks
#   --cmd / --    ddp commands to run across the namespaces after the checks, e.g.
#                 --cmd "bench allreduce --json" -- train --epochs 1 --seed 1
#                 DDP_NETNS_CMD (one command per line) adds more. Words of --cmd and
#                 DDP_NETNS_CMD are split on blanks; the args after -- are passed verbatim.
#   --compare "[NAME=VALUE]... DDP ARGS"  (repeatable) run a ddp command across the namespaces
#                 and again on this host alone (same ranks, shared memory) and, for `train`, in
#                 one process with --local-ranks P (threads as ranks, in-process transport); @DIR@
#                 in it is replaced by a fresh directory per run; then every *.safetensors file
#                 under the directories must be byte-identical. Leading NAME=VALUE words (DDP_*,
#                 OPENBLAS_*, OMP_NUM_THREADS: what launch.sh exports to remote ranks) are set
#                 for all runs. E.g. --compare "DDP_ALLREDUCE_ALGORITHM=ring train --max-steps 20
#                 --checkpoint-dir @DIR@"
#   DDP_NETNS_PROGRAM=PATH runs PATH instead of the release ddp for --cmd, -- and --compare
#
# Checks, always: every rank runs in the namespace its hostfile address belongs to (netns inode,
# hostname, address), N*S ranks with S local ranks each, MPI_Allreduce of rank-dependent data is
# exact, at least the allreduce payload crossed every namespace's veth (so it went over TCP),
# launch.sh's -x exports reach the remote ranks. Then it prints MPI_Allreduce bandwidth between
# the namespaces (the peer ../shared/peers/mpi_allreduce_bw.c, or $DDP_PEERS_DIR). Then, unless
# --no-train, the allreduce self-test of $default_commands and the training comparisons of
# $default_compares below (20 steps of a small BN net,
# once with the ring allreduce forced, once with --sync-bn) as if given with --compare.
# Prints "SKIP: ..." and exits 0 where namespaces cannot be created. Leaves nothing behind.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
netns="$repo/scripts/netns"
source "$netns/common.sh"

# The same training across the namespaces, on one host and in one process must give the same
# bytes: the allreduce's order of additions depends on ranks and lengths only, never on the
# transport. 20 steps of 4 ranks x 8 synthetic images; --threads 1 because the other variable,
# BLAS threads per rank, would otherwise follow each "host's" core count. The first forces the
# ring (by default this 15.8K-parameter gradient, < 64 KiB, takes recursive doubling); the
# second syncs BatchNorm's per-channel sums across ranks in forward and backward. Both keep the
# allreduce flat: across 2 namespaces of 2 ranks the automatic choice goes through the node
# first (hierarchical), which adds in another order than one host's flat group. That path is
# checked by the default command: `bench allreduce --verify` across the namespaces, whose
# hierarchical allreduce then spans 2 real nodes, against MPI_Allreduce.
train_args="train --dataset synthetic --model c8k3p1nb-bn-relu-mp2-flatten-fc --batch-size 8 --epochs 1 --max-steps 20 --threads 1 --checkpoint-dir @DIR@ --quiet"
default_compares=("DDP_ALLREDUCE_ALGORITHM=ring $train_args" "DDP_ALLREDUCE_ALGORITHM=flat $train_args --sync-bn")
default_commands=("bench allreduce --verify")

hosts=2; slots=2; np=""; limit="${DDP_NETNS_TIMEOUT:-120}"; train=1
commands=()   # each entry: one ddp command, words separated by the unit separator \x1f
compares=()   # the same for --compare
add_words() { local IFS=$'\x1f'; commands+=("$*"); }
add_compare() { local IFS=$'\x1f'; compares+=("$*"); }
while [ $# -gt 0 ]; do
    case "$1" in
        --hosts|--slots|--np|--timeout|--cmd|--compare)
            [ $# -ge 2 ] || { echo "multihost_netns.sh: $1 needs a value" >&2; exit 2; } ;;&
        --hosts) hosts="$2"; shift 2 ;;
        --slots) slots="$2"; shift 2 ;;
        --np) np="$2"; shift 2 ;;
        --timeout) limit="$2"; shift 2 ;;
        --cmd) read -ra words <<< "$2"; add_words "${words[@]}"; shift 2 ;;
        --compare) read -ra words <<< "$2"; add_compare "${words[@]}"; shift 2 ;;
        --no-train) train=0; shift ;;
        --) shift; [ $# -gt 0 ] && add_words "$@"; set --; break ;;
        -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "multihost_netns.sh: unknown argument '$1' (ddp arguments go after '--')" >&2; exit 2 ;;
    esac
done
if [ -n "${DDP_NETNS_CMD:-}" ]; then
    while IFS= read -r line; do
        [ -n "${line// }" ] || continue
        read -ra words <<< "$line"; add_words "${words[@]}"
    done <<< "$DDP_NETNS_CMD"
fi
if [ $train = 1 ]; then
    for line in "${default_commands[@]}"; do read -ra words <<< "$line"; add_words "${words[@]}"; done
    for line in "${default_compares[@]}"; do read -ra words <<< "$line"; add_compare "${words[@]}"; done
fi
# split_compare ENTRY: env_words = its leading NAME=VALUE words, words = the ddp command.
split_compare() {
    IFS=$'\x1f' read -ra words <<< "$1"
    env_words=()
    while ((${#words[@]})) && [[ "${words[0]}" == *=* ]]; do
        [[ "${words[0]}" =~ ^(DDP_[A-Z0-9_]+|OPENBLAS_[A-Z_]+|OMP_NUM_THREADS)= ]] || {
            echo "multihost_netns.sh: --compare: '${words[0]}' is not a variable launch.sh exports to remote ranks (DDP_*, OPENBLAS_*, OMP_NUM_THREADS)" >&2
            exit 2; }
        env_words+=("${words[0]}"); words=("${words[@]:1}")
    done
    ((${#words[@]})) || { echo "multihost_netns.sh: --compare: no ddp command in '${1//$'\x1f'/ }'" >&2; exit 2; }
}
for entry in "${compares[@]+"${compares[@]}"}"; do split_compare "$entry"; done   # usage errors first
for v in "$hosts" "$slots" "$limit" ${np:+"$np"}; do
    [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "multihost_netns.sh: expected a positive integer, got '$v'" >&2; exit 2; }
done
[ "$hosts" -ge 2 ] || { echo "multihost_netns.sh: --hosts must be at least 2" >&2; exit 2; }
ranks=$((hosts * slots)); np="${np:-$ranks}"

# ---- can this machine make namespaces? -------------------------------------------------------
skip() { echo "SKIP: multihost_netns: $*"; exit 0; }
why="$(netns_unusable)"
[ -z "$why" ] || skip "$why"
command -v mpicc >/dev/null || { echo "multihost_netns.sh: mpicc not found (libopenmpi-dev; run scripts/setup.sh)" >&2; exit 1; }

# ---- set-up, with the tear-down guaranteed ---------------------------------------------------
# One run at a time on this machine: the names and the subnet are fixed.
lock=/run/lock/ddp-netns.lock; [ -d /run/lock ] || lock=/tmp/ddp-netns.lock
exec 9> "$lock"
flock -w 600 9 || { echo "multihost_netns.sh: another run holds $lock" >&2; exit 1; }
work="$(mktemp -d /tmp/ddp-netns.XXXXXX)"
child=""   # the running `timeout ... mpirun`, if any
cleanup() {
    local status=$?
    if [ -n "$child" ] && kill -TERM "$child" 2>/dev/null; then
        # timeout passes the signal on to mpirun, which takes its daemons and ranks down.
        for _ in $(seq 50); do kill -0 "$child" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$child" 2>/dev/null || true
    fi
    "$netns/down.sh" || status=1
    rm -rf "$work"
    exit $status
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$netns/down.sh"   # what a killed earlier run (SIGKILL skips traps) may have left
"$netns/up.sh" "$hosts" --slots "$slots" --hostfile "$work/hostfile"
for ((k = 0; k < hosts; k++)); do echo "$(netns_addr $k) slots=1"; done > "$work/hostfile1"

# Every namespace "host" believes it has all of this machine's cores, so no orted knows when the
# ranks of all namespaces together outnumber the cores; busy-polling ranks then wait whole
# scheduler time slices for each other. Tell them to yield, as mpirun does on a known overload.
# set_opts P HOSTFILE: opts = launch.sh's options for P ranks on HOSTFILE's namespaces, over TCP.
set_opts() {
    local yield=0
    [ "$1" -gt "$(nproc)" ] && yield=1
    opts=(-n "$1" --hostfile "$2" --tcp --iface "$NETNS_CIDR" --mca plm_rsh_agent "$netns/rsh-netns.sh"
          --mca mpi_yield_when_idle "$yield")
}
# bounded CMD...: CMD under `timeout`, run in the background and waited for, because bash runs
# a signal trap only once the foreground command is done; `wait` returns at once on a signal.
bounded() {
    local status=0
    timeout --kill-after=10 "$limit" "$@" &
    child=$!
    wait "$child" || status=$?
    child=""
    return $status
}
fail() { echo "FAIL: multihost_netns: $*" >&2; exit 1; }
json_field() { sed -n "s/.*\"$1\":\"\{0,1\}\([^\",}]*\).*/\1/p" <<< "$2"; }
veth_bytes() { echo $(( $(cat "/sys/class/net/$(netns_veth "$1")/statistics/rx_bytes") + 0 )) \
                    $(( $(cat "/sys/class/net/$(netns_veth "$1")/statistics/tx_bytes") + 0 )); }

mpicc -O2 -o "$work/netns_check" "$netns/netns_check.c"

# ---- 1. placement, allreduce, TCP ------------------------------------------------------------
echo "== $ranks ranks on $hosts namespaces ($slots each), btl tcp,self over $NETNS_CIDR"
declare -a before
for ((k = 0; k < hosts; k++)); do before[$k]="$(veth_bytes $k)"; done
set_opts "$ranks" "$work/hostfile"
bounded "$repo/scripts/launch.sh" "${opts[@]}" --program "$work/netns_check" > "$work/check.out" ||
    { cat "$work/check.out"; fail "check program failed or timed out (${limit}s)"; }
cat "$work/check.out"

root_ns="$(stat -L -c %i /proc/self/ns/net)"
declare -A per_ns=()
seen=0
while IFS= read -r line; do
    rank="$(json_field rank "$line")"; host="$(json_field host "$line")"; ino="$(json_field netns "$line")"
    addr="$(json_field addr "$line")"; lsize="$(json_field local_size "$line")"
    [[ "$addr" =~ ^${NETNS_NET//./\\.}\.([0-9]+)$ ]] || fail "rank $rank reports address $addr, not one on $NETNS_CIDR"
    k=$((BASH_REMATCH[1] - 1)); ns="$(netns_name $k)"
    # The same comparison `ip netns identify` makes: the rank's net namespace is /run/netns/$ns.
    [ "$ino" = "$(stat -L -c %i "/run/netns/$ns")" ] || fail "rank $rank (address $addr) is not in namespace $ns"
    [ "$ino" != "$root_ns" ] || fail "rank $rank runs in the root namespace"
    [ "$host" = "$ns" ] || fail "rank $rank reports hostname '$host', expected $ns"
    [ "$lsize" = "$slots" ] || fail "rank $rank has OMPI_COMM_WORLD_LOCAL_SIZE=$lsize, expected $slots"
    per_ns[$ns]=$(( ${per_ns[$ns]:-0} + 1 )); seen=$((seen + 1))
done < <(grep '^{"rank"' "$work/check.out")
[ "$seen" = "$ranks" ] || fail "$seen rank lines, expected $ranks"
for ((k = 0; k < hosts; k++)); do
    ns="$(netns_name $k)"
    [ "${per_ns[$ns]:-0}" = "$slots" ] || fail "namespace $ns ran ${per_ns[$ns]:-0} ranks, expected $slots"
done
summary="$(grep '"check":"allreduce"' "$work/check.out")" || fail "no allreduce result"
[ "$(json_field errors "$summary")" = 0 ] || fail "MPI_Allreduce gave wrong sums: $summary"
payload="$(json_field bytes_largest "$summary")"
# Every namespace holds part of every sum, so the largest allreduce alone has to move at least
# its payload into and out of each namespace; shared memory or loopback would leave the veths idle.
for ((k = 0; k < hosts; k++)); do
    read -r rx0 tx0 <<< "${before[$k]}"; read -r rx1 tx1 <<< "$(veth_bytes $k)"
    echo "veth of $(netns_name $k): $((tx1 - tx0)) bytes in, $((rx1 - rx0)) bytes out (largest allreduce: $payload bytes)"
    [ $((tx1 - tx0)) -ge "$payload" ] && [ $((rx1 - rx0)) -ge "$payload" ] ||
        fail "less than the allreduce payload crossed $(netns_veth $k): traffic did not go over TCP between namespaces"
done
echo "ok: ranks in distinct namespaces, local sizes $slots, allreduce exact, traffic over TCP"

# ---- 2. launch.sh's exports reach ranks on other hosts ---------------------------------------
token="probe-$$-$RANDOM"
DDP_NETNS_PROBE="$token" bounded "$repo/scripts/launch.sh" "${opts[@]}" --program /bin/sh -- \
    -c 'echo "$(hostname) $DDP_NETNS_PROBE"' > "$work/probe.out" || fail "env probe failed"
[ "$(grep -c " $token\$" "$work/probe.out")" = "$ranks" ] ||
    { cat "$work/probe.out"; fail "DDP_* exported by launch.sh did not reach every rank"; }
echo "ok: DDP_* environment exported to all $ranks ranks (the rsh agent starts from an empty environment)"

# ---- 3. MPI_Allreduce bandwidth between namespaces (1 rank per namespace) --------------------
peer="${DDP_PEERS_DIR:-$repo/../shared/peers}/mpi_allreduce_bw.c"
if [ -f "$peer" ]; then
    mpicc -O2 -o "$work/mpi_allreduce_bw" "$peer"
    echo "== MPI_Allreduce bandwidth, $hosts ranks, one per namespace, TCP over veth+bridge"
    set_opts "$hosts" "$work/hostfile1"
    bounded "$repo/scripts/launch.sh" "${opts[@]}" --program "$work/mpi_allreduce_bw" > "$work/bw.out" ||
        { cat "$work/bw.out"; fail "bandwidth peer failed or timed out"; }
    cat "$work/bw.out"
    big="$(tail -n 1 "$work/bw.out")"
    echo "MPI_Allreduce over TCP between namespaces: $(json_field bytes "$big") bytes in $(json_field us "$big") us, busbw $(json_field busbw_GBps "$big") GB/s"
else
    echo "bandwidth: skipped, peer $peer not found (set DDP_PEERS_DIR)"
fi

# ---- 4. the caller's ddp commands ------------------------------------------------------------
set_opts "$np" "$work/hostfile"
program=()
[ -n "${DDP_NETNS_PROGRAM:-}" ] && program=(--program "$DDP_NETNS_PROGRAM")
for entry in "${commands[@]+"${commands[@]}"}"; do
    IFS=$'\x1f' read -ra args <<< "$entry"
    echo "== ddp ${args[*]}  ($np ranks on $hosts namespaces)"
    "$repo/scripts/launch.sh" "${opts[@]}" "${program[@]+"${program[@]}"}" --dry-run -- "${args[@]}"
    bounded "$repo/scripts/launch.sh" "${opts[@]}" "${program[@]+"${program[@]}"}" -- "${args[@]}" || fail "ddp ${args[*]} failed or timed out (${limit}s)"
done
# ---- 5. the same run across namespaces (TCP), on one host (shared memory), in one process ---
# run_compare WHERE ARGS...: one run of a --compare command; WHERE = netns | local | threads.
run_compare() {
    local where="$1"; shift
    case "$where" in
        netns) bounded env "${env_words[@]+"${env_words[@]}"}" "$repo/scripts/launch.sh" "${opts[@]}" \
                   "${program[@]+"${program[@]}"}" -- "$@" ;;
        local) bounded env "${env_words[@]+"${env_words[@]}"}" "$repo/scripts/launch.sh" -n "$np" \
                   "${program[@]+"${program[@]}"}" -- "$@" ;;
        threads) bounded env "${env_words[@]+"${env_words[@]}"}" "$ddp" "$@" --local-ranks "$np" ;;
    esac
}
ddp="${DDP_NETNS_PROGRAM:-}"
index=0
for entry in "${compares[@]+"${compares[@]}"}"; do
    split_compare "$entry"
    wheres=(netns local)
    if [ "${words[0]}" = train ]; then
        wheres+=(threads)
        if [ -z "$ddp" ]; then
            command -v swift >/dev/null || for d in /opt/swift/usr/bin /usr/share/swift/usr/bin; do
                [ -x "$d/swift" ] && PATH="$d:$PATH"; done
            ddp="$(cd "$repo" && swift build -c release --show-bin-path)/ddp"
        fi
    fi
    index=$((index + 1))
    echo "== ${env_words[*]+"${env_words[*]} "}ddp ${words[*]}"
    for where in "${wheres[@]}"; do
        dir="$work/compare$index/$where"; mkdir -p "$dir"
        start=$EPOCHREALTIME
        run_compare "$where" "${words[@]//@DIR@/$dir}" || fail "ddp ${words[*]} failed ($where)"
        case "$where" in
            netns) what="$np ranks across $hosts namespaces, TCP" ;;
            local) what="$np ranks on this host, shared memory" ;;
            threads) what="$np ranks as threads in one process, in-process transport" ;;
        esac
        printf '%-8s %6.2f s  (%s)\n' "$where" "$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')" "$what"
    done
    found=0
    while IFS= read -r f; do
        rel="${f#"$work/compare$index/netns/"}"
        for where in "${wheres[@]:1}"; do
            [ -f "$work/compare$index/$where/$rel" ] || fail "$rel was written across namespaces but not by the $where run"
            cmp "$f" "$work/compare$index/$where/$rel" || fail "$rel differs between the netns and the $where run"
        done
        echo "ok: $rel byte-identical: ${wheres[*]}"
        found=$((found + 1))
    done < <(find "$work/compare$index/netns" -name '*.safetensors' | sort)
    [ $found -gt 0 ] || fail "no *.safetensors under @DIR@ to compare (does the command write one there?)"
    for where in "${wheres[@]:1}"; do
        [ "$(find "$work/compare$index/$where" -name '*.safetensors' | wc -l)" = $found ] ||
            fail "the $where run wrote other *.safetensors files than the netns run"
    done
done
echo "multihost_netns: passed"
