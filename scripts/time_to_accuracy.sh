#!/usr/bin/env bash
# Time to a test accuracy on Fashion-MNIST: ddp vs PyTorch DDP (gloo), both with 2 ranks of 1
# thread each. ddp runs scripts/train.sh, so with the main job's recipe (fmnist-cnn, batch 64 per
# rank, one-cycle, label smoothing, moving average); PyTorch DDP then trains the same net with
# the recipe read from ddp's checkpoint (scripts/accuracy/runs.py peer-args: per-rank batch, peak
# LR, epochs, label smoothing; PyTorch has no moving average, so only ddp's model is its match).
# --lr is one rank's, as ddp train takes it: ddp scales it by the 2 ranks itself (the linear
# scaling rule), PyTorch DDP is given the product, as its users scale by hand.
# Prints each epoch and, at the end, the times to the target: ddp's model, ddp's moving average
# (evaluated beside it after every epoch), PyTorch DDP. Arguments after -- go to ddp train
# (e.g. -- --precision bf16); PyTorch DDP trains as always (FP32).
#   scripts/time_to_accuracy.sh [--target 0.92] [--epochs 10] [--lr 0.05] [--only ddp|torch] [--out DIR] [-- ddp train args]
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=0.92 EPOCHS=10 LR=0.05 RANKS=2 ONLY="" OUT=runs/time-to-accuracy PY=/usr/bin/python3
while (($#)); do
    case "$1" in
        --) shift; break ;;
        --target) TARGET=$2; shift 2 ;; --epochs) EPOCHS=$2; shift 2 ;; --lr) LR=$2; shift 2 ;;
        --only) ONLY=$2; shift 2 ;; --out) OUT=$2; shift 2 ;;
        *) echo "time_to_accuracy.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
mkdir -p "$OUT"

first_epoch_at() { # metrics.jsonl key target -> seconds of the first epoch whose key reaches target, or "never"
    "$PY" - "$1" "$2" "$3" <<'PY'
import json, sys
path, key, target = sys.argv[1], sys.argv[2], float(sys.argv[3])
for line in open(path):
    r = json.loads(line)
    if r.get("event", "epoch") == "epoch" and (r.get(key) or 0) >= target:
        print(f'{r["elapsed_s"]:.1f} s (epoch {r["epoch"]})'); break
else:
    print("never")
PY
}

if [ "$ONLY" != torch ]; then
    # Each measurement is a new run: ddp refuses to mix it with the last one's outputs.
    rm -rf "$OUT/ddp"
    OPENBLAS_NUM_THREADS=1 RANKS=$RANKS RUN="$OUT/ddp" scripts/train.sh \
        --epochs "$EPOCHS" --lr "$LR" --threads 1 "$@" | tee "$OUT/ddp.log"
fi
if [ "$ONLY" != ddp ]; then
    if ! "$PY" -c "import torch" 2>/dev/null; then
        echo "SKIP torch: PyTorch (python3-torch) is not installed"
    elif [ ! -d "$OUT/ddp/checkpoints/latest" ]; then
        echo "SKIP torch: no ddp run in $OUT/ddp to take the recipe from"
    else
        # shellcheck disable=SC2046 # the recipe is a list of flags
        "$PY" scripts/accuracy/torch_ddp_recipe.py $("$PY" scripts/accuracy/runs.py peer-args "$OUT/ddp/checkpoints") \
            --threads 1 --target "$TARGET" | tee "$OUT/torch.jsonl"
    fi
fi
echo "== time to test accuracy $TARGET ($RANKS ranks x 1 thread, the recipe of scripts/train.sh, lr $LR per rank, $EPOCHS epochs${*:+, ddp: $*})"
if [ -s "$OUT/ddp/metrics.jsonl" ]; then
    echo "ddp:                $(first_epoch_at "$OUT/ddp/metrics.jsonl" test_acc "$TARGET")"
    echo "ddp moving average: $(first_epoch_at "$OUT/ddp/metrics.jsonl" ema_test_acc "$TARGET")"
fi
[ -s "$OUT/torch.jsonl" ] && echo "PyTorch DDP:        $(first_epoch_at "$OUT/torch.jsonl" test_acc "$TARGET")"
true
