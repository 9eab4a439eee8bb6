#!/usr/bin/env bash
# The own-data goals of docs/RESULTS.md, measured (run on a quiet machine: nothing else running):
#  1. ddp pack of Fashion-MNIST as 70,000 28x28 gray PNGs, images/s per core (median of RUNS);
#  2. ddp pack of 50,000 64x64 RGB JPEGs (Fashion-MNIST scaled and tinted, quality 90), the same;
#  3. the data time of a training step from the packed file (ddp bench step, fmnist-cnn, batch
#     64): the wait for the batch as a share of the step, with the batch assembled meanwhile;
#  4. memory: 4 ranks on one node training from the JPEG set's packed file (614 MB): the
#     proportional set size (PSS) of the file's mapping summed over the ranks, against the file's
#     size (4 private copies would be 4x) and what per-process RSS would claim.
# Images are written once into $WORK (default /tmp/ddp-own-data-bench) and reused.
# usage: scripts/own_data/bench.sh [--runs N]
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=3; [ "${1:-}" = --runs ] && runs="$2"
scripts/setup.sh > /dev/null
ddp="$(swift build -c release --show-bin-path)/ddp"
work=${WORK:-/tmp/ddp-own-data-bench}
python=/usr/bin/python3; [ -x "$python" ] || python=python3
cores=$(nproc)
mkdir -p "$work"
command -v cjpeg > /dev/null || { echo "bench: installing libjpeg-turbo-progs (cjpeg)"; apt-get install -y -qq libjpeg-turbo-progs > /dev/null; }
[ -d "$work/png/test" ] || "$python" scripts/own_data/export_fashion_mnist.py "$work/png"
[ -d "$work/jpeg/test" ] || "$python" scripts/own_data/export_fashion_mnist.py "$work/jpeg" --limit 40000 --rgb-size 64 --jpeg

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
pack_rate() { # SOURCE OUT: images/s per core, median over $runs
    for _ in $(seq "$runs"); do
        "$ddp" pack "$1" -o "$2" --json | "$python" -c "import json,sys; r=json.load(sys.stdin); print(round((r['train']+r['test'])/r['seconds']/$cores))"
    done | median
}
echo "machine: $("$ddp" info | grep -E '^CPU ' | head -1)"
echo "1. PNG 28x28 gray, 70,000 images: $(pack_rate "$work/png" "$work/png.pack") images/s per core ($cores cores; goal 5,000)"
echo "2. JPEG 64x64 RGB, 50,000 images: $(pack_rate "$work/jpeg" "$work/jpeg.pack") images/s per core ($cores cores; goal 1,500)"

step() { "$ddp" bench step --model fmnist-cnn --batch-size 64 --steps 60 --warmup 10 --json "$@"; }
for source in "idx:--dataset fashion-mnist" "packed:--dataset packed --data $work/png.pack"; do
    for _ in $(seq "$runs"); do step ${source#*:}; done > "$work/step-${source%%:*}.jsonl"
    "$python" - "$work/step-${source%%:*}.jsonl" "${source%%:*}" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
share = statistics.median(r["data_s"] / r["step_s"] for r in rows)
print(f"3. step from {sys.argv[2]}: {statistics.median(r['images_per_s'] for r in rows):.0f} images/s, data wait "
      f"{statistics.median(r['data_s'] for r in rows) * 1e3:.3f} ms = {100 * share:.2f}% of the step (goal <= 2%), "
      f"assembled in the background {statistics.median(r['data_background_s'] for r in rows) * 1e3:.2f} ms")
PY
done

# 4: sample every rank's mapping of the file while an epoch runs; keep the largest sums.
size=$(stat -c %s "$work/jpeg.pack")
scripts/launch.sh --program "$ddp" -n 4 -- train --dataset packed --data "$work/jpeg.pack" --model lenet5 --epochs 1 \
    --batch-size 64 --quiet --overwrite > "$work/memory.log" 2>&1 &
job=$!
best_pss=0 best_rss=0
while kill -0 "$job" 2> /dev/null; do
    read -r pss rss < <(for pid in $(pgrep -f "ddp train --dataset packed --data $work/jpeg.pack" || true); do
        awk -v f="$work/jpeg.pack" '$NF == f { on = 1; next } /^[0-9a-f]+-[0-9a-f]+ / { on = 0 }
            on && $1 == "Pss:" { p += $2 } on && $1 == "Rss:" { r += $2 } END { print p + 0, r + 0 }' "/proc/$pid/smaps" 2> /dev/null
    done | awk '{ p += $1; r += $2 } END { print p + 0, r + 0 }')
    [ "$pss" -gt "$best_pss" ] && best_pss=$pss
    [ "$rss" -gt "$best_rss" ] && best_rss=$rss
    sleep 1
done
wait "$job" || { echo "bench: the memory run failed: $(tail -3 "$work/memory.log")"; exit 1; }
awk -v p="$best_pss" -v r="$best_rss" -v s="$size" 'BEGIN {
    f = "4. 4 ranks from a %.0f MB packed file: PSS of its mapping summed over the ranks %.0f MB (%.1f%% of the file; "
    f = f "4 private copies: 400%%), RSS summed %.0f MB\n"
    printf f, s / 1e6, p * 1024 / 1e6, 100 * p * 1024 / s, r * 1024 / 1e6 }'
