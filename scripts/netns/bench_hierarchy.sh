#!/usr/bin/env bash
# Benchmark (not a test): training steps with the flat ring against the hierarchical allreduce,
# on 2 network namespaces x 2 ranks with every namespace's link shaped by tc tbf (default
# 1 Gbit/s), and on 1 namespace x 2 ranks (no network) as the base of the scaling. `ddp bench
# step` (fmnist-cnn on Fashion-MNIST, batch 64 per rank, 1 BLAS thread per rank), the three
# setups alternating within each of --repeats rounds; the table gives medians of images/s, step
# time and allreduce wait, and images/s over the 1x2 figure of the same round. The namespaces
# share this machine's cores, so 2x2 has the compute of 1x2 for twice the images per step: 1.00
# would mean the link between the hosts costs nothing.
#
# usage: scripts/netns/bench_hierarchy.sh [--repeats R] [--rate RATE] [-- BENCH STEP ARGS...]
# Needs root; holds the lock of scripts/tests/multihost_netns.sh and tears the namespaces down
# on any exit.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/common.sh"

repeats=5; rate=1gbit
while [ $# -gt 0 ]; do
    case "$1" in
        --repeats|--rate) [ $# -ge 2 ] || { echo "bench_hierarchy.sh: $1 needs a value" >&2; exit 2; } ;;&
        --repeats) repeats="$2"; shift 2 ;;
        --rate) rate="$2"; shift 2 ;;
        --) shift; break ;;
        -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench_hierarchy.sh: unknown argument '$1' (bench arguments go after '--')" >&2; exit 2 ;;
    esac
done
[[ "$repeats" =~ ^[1-9][0-9]*$ ]] || { echo "bench_hierarchy.sh: --repeats must be a positive integer" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "bench_hierarchy.sh: needs root (ip netns, tc)" >&2; exit 1; }
command -v tc > /dev/null || { echo "bench_hierarchy.sh: tc (iproute2) not found" >&2; exit 1; }

netns_begin bench_hierarchy.sh
"$here/up.sh" 2 --slots 2 >&2
netns_shape 2 "$rate"
setups=("1x2 flat" "2x2 flat" "2x2 hierarchical")
echo "load before: $(uptime)"
for ((round = 1; round <= repeats; round++)); do
    for setup in "${setups[@]}"; do
        read -r layout allreduce <<< "$setup"
        netns_launch "${layout%x*}" "${layout#*x}" -- bench step --threads 1 --steps 30 --allreduce "$allreduce" --json "$@" |
            sed "s/^{/{\"round\":$round,\"setup\":\"$setup\",/" >> "$work/raw.jsonl"
    done
done
echo "load after:  $(uptime)"

field() { sed -n "s/.*\"$1\":\"\{0,1\}\([^\",}]*\).*/\1/p"; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo "| setup | images/s | step ms | allreduce wait ms | images/s vs 1x2 |"
echo "|---|---|---|---|---|"
for setup in "${setups[@]}"; do
    rows="$(grep "\"setup\":\"$setup\"" "$work/raw.jsonl")"
    scaling="$(for ((round = 1; round <= repeats; round++)); do
        base="$(grep "\"round\":$round,\"setup\":\"1x2 flat\"" "$work/raw.jsonl" | field images_per_s)"
        this="$(grep "\"round\":$round," <<< "$rows" | field images_per_s)"
        awk -v a="$this" -v b="$base" 'BEGIN { if (b > 0) printf "%.3f\n", a / b }'
    done | median)"
    printf '| %s, links %s | %.0f | %.1f | %.1f | %s |\n' "$setup" "$rate" \
        "$(field images_per_s <<< "$rows" | median)" "$(field step_s <<< "$rows" | median | awk '{ print $1 * 1000 }')" \
        "$(field comm_s <<< "$rows" | median | awk '{ print $1 * 1000 }')" "$scaling"
done
