#!/usr/bin/env bash
# Benchmark (not a test): our allreduce vs MPI_Allreduce under mpirun -n 2, 3, 4, repeated
# --runs times (default 5), then a table of medians per rank count and size: both times, both
# bus bandwidths and the ratio (ours / MPI's), with the spread of the ratio over the runs.
# Each rank count is preceded once by the C peer (Open MPI's MPI_Allreduce alone,
# ../shared/peers/mpi_allreduce_bw.c; PEER=path to change).
#   RANKS="2 3 4"   rank counts            SIZES=...  sizes (default 4K,64K,256K,1M,4M,16M,64M)
#   --runs N        repetitions            other arguments go to `ddp bench allreduce`
#                                          (e.g. --algorithm ring, --ring-segment 0)
# The machine may be shared: the load average is printed before and after; quote medians.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x /opt/swift/usr/bin/swift ] && export PATH="/opt/swift/usr/bin:$PATH"

RUNS=5
extra=()
while (($#)); do
    case "$1" in
        --runs) RUNS="$2"; shift 2 ;;
        *) extra+=("$1"); shift ;;
    esac
done
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || { echo "bench_allreduce: --runs needs a positive count, got $RUNS" >&2; exit 2; }

peer="${PEER:-../shared/peers/mpi_allreduce_bw.c}"
[ -f "$peer" ] || { echo "bench_allreduce: C peer not found at $peer (set PEER=...)" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mpicc -O2 "$peer" -o "$work/mpi_allreduce_bw"

swift build -c release --product ddp 2>&1 | grep -Ev '^\[[0-9]+/[0-9]+\]' || true
test "${PIPESTATUS[0]}" -eq 0
ddp="$(swift build -c release --show-bin-path)/ddp"

mpirun=(mpirun --oversubscribe --mca btl_vader_single_copy_mechanism none)
[ "$(id -u)" -eq 0 ] && mpirun+=(--allow-run-as-root)

echo "load before: $(uptime)"
for ranks in ${RANKS:-2 3 4}; do
    echo "== $ranks ranks: C peer (MPI_Allreduce alone)"
    "${mpirun[@]}" -n "$ranks" "$work/mpi_allreduce_bw"
    for run in $(seq "$RUNS"); do
        "${mpirun[@]}" -n "$ranks" "$ddp" bench allreduce --json \
            --sizes "${SIZES:-4K,64K,256K,1M,4M,16M,64M}" ${extra[@]+"${extra[@]}"} >> "$work/raw.jsonl"
    done
done
echo "load after: $(uptime)"

python3 - "$work/raw.jsonl" "$RUNS" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
groups = {}
for r in rows:
    groups.setdefault((r["ranks"], r["bytes"], r["algorithm"]), []).append(r)
med = lambda xs: statistics.median(xs)
def size(b):
    return f"{b >> 20} MiB" if b >= 1 << 20 else f"{b >> 10} KiB"
print(f"\nmedians of {sys.argv[2]} runs (each run: median over iterations of the slowest rank)")
print("| ranks | bytes | algorithm | ours us | MPI us | ours GB/s | MPI GB/s | ratio | ratio min..max |")
print("|---|---|---|---|---|---|---|---|---|")
for (p, b, a), g in sorted(groups.items()):
    ratios = [r["ratio"] for r in g]
    print(f"| {p} | {size(b)} | {a} | {med([r['ring_us'] for r in g]):.1f} | {med([r['mpi_us'] for r in g]):.1f} "
          f"| {med([r['ring_busbw_GBps'] for r in g]):.2f} | {med([r['mpi_busbw_GBps'] for r in g]):.2f} "
          f"| {med(ratios):.2f} | {min(ratios):.2f}..{max(ratios):.2f} |")
EOF
