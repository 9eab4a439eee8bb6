#!/usr/bin/env bash
# Benchmark (not a test) of issue 17's speed goals, each next to its peers measured in this same
# run: images/s of full training steps (batch 64, one rank) of fmnist-cnn and resnet20 (1x28x28)
# at 1 and 2 threads, for
#   ddp fp32 and ddp --precision bf16 (where the CPU has AVX512_BF16): `ddp bench step --json`;
#   PyTorch, every configuration that installs here (scripts/peers/torch_step.py): Debian's
#   python3-torch eager, and with --venv DIR the PyPI wheel in that venv, eager and with
#   torch.compile;
#   the sgemm peak of the same run (`ddp bench gemm`, square 1024) at the same threads, against
#   which a step's effective GFLOP/s are put (counted as im2col + GEMM would multiply).
# The configurations alternate within each of --runs rounds; the table shows medians and the
# ratio of ddp's faster precision to the fastest PyTorch (goals: fmnist-cnn >= 1.8, resnet20
# >= 1.5, step GFLOP/s >= 1.3 x the sgemm peak). Run alone: on 2 cores anything beside it halves
# a figure.
#   scripts/bench_fast_paths.sh [--runs 3] [--steps 30] [--venv DIR] [--out FILE.jsonl]
# (make the venv: python3 -m venv DIR && DIR/bin/pip install torch)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x /opt/swift/usr/bin/swift ] && export PATH="/opt/swift/usr/bin:$PATH"

RUNS=3 STEPS=30 VENV="" OUT=""
while (($#)); do
    case "$1" in
        --runs) RUNS=$2; shift 2 ;;
        --steps) STEPS=$2; shift 2 ;;
        --venv) VENV=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench_fast_paths.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
[[ "$RUNS" =~ ^[1-9][0-9]*$ && "$STEPS" =~ ^[1-9][0-9]*$ ]] || { echo "bench_fast_paths.sh: --runs and --steps need positive counts" >&2; exit 2; }

PY=/usr/bin/python3
PEER=scripts/peers/torch_step.py
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
raw="$work/raw.jsonl"
: > "$raw"

swift build -c release --product ddp 2>&1 | grep -Ev '^\[[0-9]+/[0-9]+\]' >&2 || true
test "${PIPESTATUS[0]}" -eq 0
ddp="$(swift build -c release --show-bin-path)/ddp"

# The PyTorch configurations: name|interpreter|peer flags.
peers=()
"$PY" -c 'import torch' 2>/dev/null && peers+=("debian-eager|$PY|")
if [ -n "$VENV" ]; then
    if "$VENV/bin/python" -c 'import torch' 2>/dev/null; then
        peers+=("pypi-eager|$VENV/bin/python|" "pypi-compile|$VENV/bin/python|--compile")
    else
        echo "bench_fast_paths.sh: no torch in $VENV: its rows are skipped" >&2
    fi
fi
precisions=(fp32)
"$ddp" info | grep -q '^precisions .*bf16 (' && precisions+=(bf16)

tag() { # tag JSON lines from stdin with key=value pairs
    "$PY" -c '
import json, sys
extra = dict(a.split("=", 1) for a in sys.argv[1:])
for line in sys.stdin:
    if line.startswith("{"):
        r = json.loads(line); r.update(extra); print(json.dumps(r))' "$@" >> "$raw"
}

echo "bench_fast_paths.sh: $(date -u '+%F %T UTC'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $RUNS runs x $STEPS steps" >&2
"$ddp" info --json | "$PY" -c '
import json, sys
i = json.loads(sys.stdin.read())
print(json.dumps({"kind": "start", "cpu": i["cpu_model"], "cpu_family": i["cpu_family"], "cpu_model_number": i["cpu_model_number"],
                  "blas_core": i["blas_core_summary"], "precisions": i["precisions"]}))' >> "$raw"
for ((r = 1; r <= RUNS; r++)); do
    for threads in 1 2; do
        for model in fmnist-cnn resnet20; do
            for precision in "${precisions[@]}"; do
                echo "  run $r/$RUNS, $threads thread(s), $model: ddp $precision" >&2
                "$ddp" bench step --model "$model" --batch-size 64 --threads "$threads" --steps "$STEPS" \
                    --precision "$precision" --json | tag kind=ddp model="$model" threads="$threads" config="ddp-$precision"
            done
            for peer in "${peers[@]}"; do
                IFS='|' read -r name python flags <<< "$peer"
                echo "  run $r/$RUNS, $threads thread(s), $model: PyTorch $name" >&2
                # shellcheck disable=SC2086 # flags: none or one
                "$python" "$PEER" $flags --model "$model" --threads "$threads" --steps "$STEPS" 2>/dev/null \
                    | tag kind=torch model="$model" threads="$threads" config="$name" || echo "    ($name failed)" >&2
            done
        done
        echo "  run $r/$RUNS, $threads thread(s): sgemm peak" >&2
        "$ddp" bench gemm --sizes 1024 --batch 0 --no-baseline --threads "$threads" --json | tag kind=gemm threads="$threads"
    done
done

"$PY" - "$raw" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
start = next(r for r in rows if r["kind"] == "start")
print(json.dumps(start))
med = lambda xs: statistics.median(xs) if xs else None
goals = {"fmnist-cnn": 1.8, "resnet20": 1.5}
configs = sorted({r["config"] for r in rows if r["kind"] in ("ddp", "torch")})
print(f"\n{start['cpu']} (family {start['cpu_family']}, model {start['cpu_model_number']}), BLAS {start['blas_core']}; medians, images/s")
print(f"{'model':11} {'thr':>3} " + " ".join(f"{c:>13}" for c in configs) + f" {'ddp/best torch':>15} {'goal':>5}"
      + f" {'GFLOP/s':>8} {'sgemm':>6} {'ratio':>6}")
for model in goals:
    for t in (1, 2):
        figures = {c: med([r["images_per_s"] for r in rows if r.get("config") == c and r["model"] == model
                           and int(r["threads"]) == t]) for c in configs}
        ddp = max([v for c, v in figures.items() if c.startswith("ddp") and v] or [0])
        torch = max([v for c, v in figures.items() if not c.startswith("ddp") and v] or [0])
        best = max((c for c in configs if c.startswith("ddp") and figures[c]), key=lambda c: figures[c], default=None)
        gflops = med([r["gflops_per_rank"] for r in rows if r.get("config") == best and r["model"] == model and int(r["threads"]) == t])
        peak = med([r["gflops"] for r in rows if r["kind"] == "gemm" and int(r["threads"]) == t])
        cell = lambda v: f"{v:13.0f}" if v else f"{'-':>13}"
        print(f"{model:11} {t:>3} " + " ".join(cell(figures[c]) for c in configs)
              + f" {ddp / torch if torch else float('nan'):15.2f} {goals[model]:5.1f}"
              + f" {gflops or float('nan'):8.1f} {peak or float('nan'):6.1f} {(gflops or 0) / peak if peak else float('nan'):6.2f}")
        print(json.dumps({"model": model, "threads": t, "images_per_s": figures, "ddp_over_best_torch": ddp / torch if torch else None,
                          "goal": goals[model], "best_ddp": best, "step_gflops": gflops, "sgemm_peak_gflops": peak}))
PY
[ -n "$OUT" ] && cp "$raw" "$OUT"
exit 0
