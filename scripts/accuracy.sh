#!/usr/bin/env bash
# Accuracy across rank counts (issue 19): for each rank count P, scripts/train.sh with its
# defaults on P ranks, the checkpoint confirmed by PyTorch (scripts/torch_check_checkpoint.py on
# the model and its moving average), then PyTorch DDP (gloo) trained with the same recipe (read
# from the checkpoint: per-rank batch, peak LR, epochs, label smoothing) on the same P ranks and
# the same cores per rank; last, the table (scripts/accuracy/runs.py). Runs take minutes each:
# run it on an otherwise idle machine for the times to mean anything.
#   scripts/accuracy.sh [--ranks "1 2 4 8"] [--only ddp|torch] [--out runs/accuracy] [-- train.sh args]
set -euo pipefail
cd "$(dirname "$0")/.."
RANK_COUNTS="1 2 4 8" ONLY="" OUT=runs/accuracy PY=/usr/bin/python3
while (($#)); do
    case "$1" in
        --ranks) RANK_COUNTS=$2; shift 2 ;; --only) ONLY=$2; shift 2 ;; --out) OUT=$2; shift 2 ;;
        --) shift; break ;;
        *) echo "accuracy.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
mkdir -p "$OUT"
scripts/setup.sh >/dev/null
DDP="$(swift build -c release --show-bin-path)/ddp"
has_torch() { "$PY" -c "import torch" 2>/dev/null; }

for P in $RANK_COUNTS; do
    run="$OUT/ddp-$P"
    if [ "$ONLY" != torch ]; then
        rm -rf "$run"
        RANKS=$P RUN="$run" scripts/train.sh "$@" | tee "$OUT/ddp-$P.log"
        if has_torch; then
            for weights in model ema; do
                [ $weights = ema ] && [ ! -f "$run/checkpoints/latest/ema.safetensors" ] && continue
                "$DDP" eval --checkpoint "$run/checkpoints" $([ $weights = ema ] && echo --ema) \
                    --save-logits "$run/$weights-logits.safetensors" --json >/dev/null
                "$PY" scripts/torch_check_checkpoint.py "$run/checkpoints" "$run/$weights-logits.safetensors" \
                    | tee "$run/torch-check-$weights.txt"
            done
        fi
    fi
    if [ "$ONLY" != ddp ]; then
        if ! has_torch; then
            echo "SKIP torch: PyTorch (python3-torch) is not installed"
        elif [ ! -d "$run/checkpoints/latest" ]; then
            echo "SKIP torch at $P ranks: no ddp run in $run to take the recipe from"
        else
            threads=$(( $(nproc) / P > 0 ? $(nproc) / P : 1 ))
            # shellcheck disable=SC2046 # the recipe is a list of flags
            "$PY" scripts/accuracy/torch_ddp_recipe.py $("$PY" scripts/accuracy/runs.py peer-args "$run/checkpoints") \
                --threads "$threads" | tee "$OUT/torch-$P.jsonl"
        fi
    fi
done
"$PY" scripts/accuracy/runs.py table "$OUT"
