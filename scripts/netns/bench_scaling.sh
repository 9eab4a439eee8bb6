#!/usr/bin/env bash
# Benchmark (not a test): `ddp bench scaling`'s prediction against measured training steps, on
# network namespaces acting as hosts (TCP over veth; they share this machine's cores, hence
# --shared-cores). For each link setting (unshaped, then each --rate, shaped with tc tbf on
# both ends of every namespace's veth):
#   1. one `bench scaling` run on 2 namespaces x 2 ranks (it measures the link inside a
#      namespace and between two) predicts the layouts 1x2, 2x1, 2x2 and 3x1;
#   2. `bench step` (1 BLAS thread per rank, as the prediction assumes on shared cores) runs in
#      each layout, --repeats times, alternating;
# and the table gives predicted and measured images/s (medians) and the error.
#
# usage: scripts/netns/bench_scaling.sh [--repeats R] [--rate RATE]... [-- MODEL/DATA ARGS...]
#   --rate RATE  a tc rate such as 1gbit or 200mbit (repeatable; default: 1gbit)
# Needs root; holds the lock of scripts/tests/multihost_netns.sh and tears the namespaces down
# on any exit.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/common.sh"

repeats=3; rates=()
while [ $# -gt 0 ]; do
    case "$1" in
        --repeats|--rate) [ $# -ge 2 ] || { echo "bench_scaling.sh: $1 needs a value" >&2; exit 2; } ;;&
        --repeats) repeats="$2"; shift 2 ;;
        --rate) rates+=("$2"); shift 2 ;;
        --) shift; break ;;
        -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench_scaling.sh: unknown argument '$1' (model and data arguments go after '--')" >&2; exit 2 ;;
    esac
done
[ ${#rates[@]} -gt 0 ] || rates=(1gbit)
[ "$(id -u)" = 0 ] || { echo "bench_scaling.sh: needs root (ip netns, tc)" >&2; exit 1; }
command -v tc > /dev/null || { echo "bench_scaling.sh: tc (iproute2) not found" >&2; exit 1; }

netns_begin bench_scaling.sh
"$here/up.sh" 3 --slots 2 --hostfile "$work/all" >&2
layouts=(1x2 2x1 2x2 3x1)
echo "load before: $(uptime)"
for rate in none "${rates[@]}"; do
    netns_shape 3 "$rate"
    netns_launch 2 2 -- bench scaling --shared-cores --layouts "$(IFS=,; echo "${layouts[*]}")" --json "$@" |
        sed "s/^{/{\"rate\":\"$rate\",/" >> "$work/raw.jsonl"
    for ((i = 1; i <= repeats; i++)); do
        for layout in "${layouts[@]}"; do
            netns_launch "${layout%x*}" "${layout#*x}" -- bench step --threads 1 --steps 30 --json "$@" |
                sed "s/^{/{\"rate\":\"$rate\",\"event\":\"measured_step\",\"layout\":\"$layout\",/" >> "$work/raw.jsonl"
        done
    done
done
netns_shape 3 none
echo "load after:  $(uptime)"

python3 - "$work/raw.jsonl" "$repeats" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
print(f"\nbench scaling's prediction (from one 2x2 run) against bench step, medians of {sys.argv[2]} alternating rounds")
print("| link | layout | predicted images/s | measured images/s | error | predicted allreduce ms | measured allreduce wait ms |")
print("|---|---|---|---|---|---|---|")
for rate in dict.fromkeys(r["rate"] for r in rows):
    m = next(r for r in rows if r["rate"] == rate and r.get("event") == "measured")
    inter, intra = m["inter_node"], m["intra_node"]
    print(f"| {rate}: between {inter['bytes_per_s'] / 1e6:.0f} MB/s, {inter['latency_s'] * 1e6:.0f} us; "
          f"inside {intra['bytes_per_s'] / 1e6:.0f} MB/s, {intra['latency_s'] * 1e6:.0f} us | | | | | | |")
    for p in (r for r in rows if r["rate"] == rate and r.get("event") == "prediction"):
        steps = [r for r in rows if r["rate"] == rate and r.get("event") == "measured_step" and r["layout"] == p["layout"]]
        got = statistics.median(r["images_per_s"] for r in steps)
        wait = statistics.median(r["comm_s"] for r in steps)
        print(f"| {rate} | {p['layout']} | {p['images_per_s']:.0f} | {got:.0f} | {100 * (p['images_per_s'] / got - 1):+.0f}% "
              f"| {p['allreduce_s'] * 1e3:.1f} | {wait * 1e3:.1f} |")
EOF
