#!/usr/bin/env bash
# Benchmark (not a test): how training steps scale across "hosts". `ddp bench step` (fmnist-cnn
# on Fashion-MNIST, batch 64 per rank, 1 thread per rank) on 1 rank, on 2 ranks of one host
# (shared memory) and on 2 ranks in 2 network namespaces (TCP over veth), the three alternating
# within each of --repeats rounds; the table gives medians of images/s, step time and the
# allreduce wait, and the speed-up over 1 rank.
#
# usage: scripts/netns/bench_step.sh [--repeats R] [-- BENCH STEP ARGS...]
# Needs root; holds the lock of scripts/tests/multihost_netns.sh and tears the namespaces down
# on any exit.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
source "$here/common.sh"

repeats=5
while [ $# -gt 0 ]; do
    case "$1" in
        --repeats) [ $# -ge 2 ] || { echo "bench_step.sh: --repeats needs a value" >&2; exit 2; }
                   repeats="$2"; shift 2 ;;
        --) shift; break ;;
        -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench_step.sh: unknown argument '$1' (bench arguments go after '--')" >&2; exit 2 ;;
    esac
done
[[ "$repeats" =~ ^[1-9][0-9]*$ ]] || { echo "bench_step.sh: --repeats must be a positive integer" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "bench_step.sh: needs root (ip netns)" >&2; exit 1; }

netns_begin bench_step.sh
"$here/up.sh" 2 --slots 1 --hostfile "$work/hostfile" >&2
bench=(bench step --threads 1 --steps 60 --json "$@")
run() { # run LABEL LAUNCH-ARGS...: one measurement, tagged
    local label="$1"; shift
    timeout --kill-after=10 600 "$repo/scripts/launch.sh" "$@" -- "${bench[@]}" |
        sed "s/^{/{\"setup\":\"$label\",/" >> "$work/raw.jsonl"
}
echo "load before: $(uptime)"
for ((r = 1; r <= repeats; r++)); do
    run "1 rank" -n 1
    run "2 ranks, one host (shared memory)" -n 2
    run "2 ranks, 2 hosts (TCP)" -n 2 --hostfile "$work/hostfile" --tcp --iface "$NETNS_CIDR" \
        --mca plm_rsh_agent "$here/rsh-netns.sh"
done
echo "load after:  $(uptime)"

python3 - "$work/raw.jsonl" "$repeats" <<'EOF'
import json, statistics, sys
groups = {}
for line in open(sys.argv[1]):
    if line.startswith("{"):
        r = json.loads(line)
        groups.setdefault(r["setup"], []).append(r)
med = statistics.median
base = med([r["images_per_s"] for r in groups["1 rank"]])
print(f"\nmedians of {sys.argv[2]} alternating rounds (fmnist-cnn, batch 64 per rank, 1 thread per rank)")
print("| setup | images/s | speed-up over 1 rank | step ms | allreduce wait ms |")
print("|---|---|---|---|---|")
for label, g in groups.items():
    ips = med([r["images_per_s"] for r in g])
    print(f"| {label} | {ips:.0f} | {ips / base:.2f} | {med([r['step_s'] for r in g]) * 1e3:.1f} "
          f"| {med([r['comm_s'] for r in g]) * 1e3:.2f} |")
EOF
