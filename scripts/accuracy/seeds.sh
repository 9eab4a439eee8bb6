#!/usr/bin/env bash
# The epoch at which fmnist-cnn first reaches a test accuracy, over seeds, for ddp and PyTorch DDP
# on P ranks. One run's crossing moves by an epoch from seed to seed, so "92% no later in epochs
# than PyTorch DDP" is a question about means over many seeds. For each seed S: ddp runs
# scripts/train.sh --seed S on P ranks (its defaults), then PyTorch DDP trains the recipe read from
# that run's checkpoint (scripts/accuracy/torch_ddp_recipe.py with runs.py peer-args) with
# --seed S --shuffle-seed S. Each run is stopped after the first epoch that reaches the target, so
# a seed costs about half a full run. Last, the table (runs.py crossings). The counts do not
# depend on the machine's load; the times are not recorded.
#   scripts/accuracy/seeds.sh [--ranks 4] [--seeds "0 1 2 3"] [--target 0.92] [--only ddp|torch] [--out runs/seeds]
set -euo pipefail
cd "$(dirname "$0")/../.."
P=4 SEEDS="0 1 2 3" TARGET=0.92 ONLY="" OUT=runs/seeds PY=/usr/bin/python3
while (($#)); do
    case "$1" in
        --ranks) P=$2; shift 2 ;; --seeds) SEEDS=$2; shift 2 ;; --target) TARGET=$2; shift 2 ;;
        --only) ONLY=$2; shift 2 ;; --out) OUT=$2; shift 2 ;;
        *) echo "seeds.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
mkdir -p "$OUT"
HAS_TORCH=$("$PY" -c "import torch" 2>/dev/null && echo yes || echo no)

until_target() { # FILE COMMAND...: runs COMMAND in its own process group, stopped once FILE shows an
    # epoch that reached the target (train.sh's mpirun and the peer's workers go with the group).
    local file=$1; shift
    setsid "$@" & local pid=$!
    (while sleep 5; do
        if [ -s "$file" ] && "$PY" scripts/accuracy/runs.py reached "$file" "$TARGET"; then
            kill -TERM -- -"$pid" 2>/dev/null; exit 0
        fi
    done) & local poller=$!
    wait "$pid" || true
    kill "$poller" 2>/dev/null || true
}

for S in $SEEDS; do
    run="$OUT/ddp-$P-seed$S"
    if [ "$ONLY" != torch ]; then
        rm -rf "$run"
        until_target "$run/metrics.jsonl" env RANKS="$P" RUN="$run" scripts/train.sh --seed "$S" >"$run.log" 2>&1
        echo "seeds: ddp, $P ranks, seed $S done"
    fi
    if [ "$ONLY" != ddp ]; then
        if [ "$HAS_TORCH" = no ]; then
            echo "SKIP torch: PyTorch (python3-torch) is not installed"
        elif [ ! -d "$run/checkpoints/latest" ]; then
            echo "SKIP torch, seed $S: no ddp run in $run to take the recipe from"
        else
            threads=$(( $(nproc) / P > 0 ? $(nproc) / P : 1 ))
            # shellcheck disable=SC2046 # the recipe is a list of flags
            until_target "$OUT/torch-$P-seed$S.jsonl" "$PY" scripts/accuracy/torch_ddp_recipe.py \
                $("$PY" scripts/accuracy/runs.py peer-args "$run/checkpoints") --seed "$S" --shuffle-seed "$S" \
                --threads "$threads" --port $((29600 + S % 100)) \
                >"$OUT/torch-$P-seed$S.jsonl" 2>"$OUT/torch-$P-seed$S.log"
            echo "seeds: PyTorch DDP, $P ranks, seed $S done"
        fi
    fi
done
"$PY" scripts/accuracy/runs.py crossings "$OUT" "$TARGET"
