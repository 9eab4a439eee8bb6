#!/usr/bin/env bash
# Benchmark (not a test): does overlapping the gradient buckets' allreduce with backward pay?
# Real training steps (`ddp bench step`, fmnist-cnn on Fashion-MNIST) under mpirun -n RANKS
# (default 2, 1 thread each), for every bucket cap in CAPS (MiB; default "4 0.25": one bucket,
# and eight) with overlap off and on, the configurations alternating within each of --runs
# rounds (default 5). Prints the median step time, allreduce wait and images/s per configuration.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x /opt/swift/usr/bin/swift ] && export PATH="/opt/swift/usr/bin:$PATH"

RUNS=5
while (($#)); do
    case "$1" in
        --runs) RUNS="$2"; shift 2 ;;
        *) echo "bench_overlap: unknown argument $1" >&2; exit 2 ;;
    esac
done
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || { echo "bench_overlap: --runs needs a positive count, got $RUNS" >&2; exit 2; }

swift build -c release --product ddp 2>&1 | grep -Ev '^\[[0-9]+/[0-9]+\]' || true
test "${PIPESTATUS[0]}" -eq 0
ddp="$(swift build -c release --show-bin-path)/ddp"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

mpirun=(mpirun --oversubscribe --bind-to none --mca btl_vader_single_copy_mechanism none)
[ "$(id -u)" -eq 0 ] && mpirun+=(--allow-run-as-root)

echo "load before: $(uptime)"
for run in $(seq "$RUNS"); do
    for cap in ${CAPS:-4 0.25}; do
        for overlap in --no-overlap --overlap; do
            "${mpirun[@]}" -n "${RANKS:-2}" "$ddp" bench step --threads "${THREADS:-1}" --steps 60 --json \
                --bucket-cap-mb "$cap" "$overlap" | sed "s/^{/{\"cap_mb\":$cap,/" >> "$work/raw.jsonl"
        done
    done
done
echo "load after: $(uptime)"

python3 - "$work/raw.jsonl" "$RUNS" <<'EOF'
import json, statistics, sys
groups = {}
for line in open(sys.argv[1]):
    if line.startswith("{"):
        r = json.loads(line)
        groups.setdefault((-r["cap_mb"], r["overlap"]), []).append(r)
med = statistics.median
print(f"\nmedians of {sys.argv[2]} alternating runs ({next(iter(groups.values()))[0]['ranks']} ranks)")
print("| bucket cap | buckets | overlap | step ms | compute ms | allreduce wait ms | images/s |")
print("|---|---|---|---|---|---|---|")
for (cap, overlap), g in sorted(groups.items()):
    print(f"| {-cap:g} MiB | {g[0]['buckets']} | {'on' if overlap else 'off'} | {med([r['step_s'] for r in g]) * 1e3:.1f} "
          f"| {med([r['compute_s'] for r in g]) * 1e3:.1f} | {med([r['comm_s'] for r in g]) * 1e3:.2f} "
          f"| {med([r['images_per_s'] for r in g]):.0f} |")
EOF
