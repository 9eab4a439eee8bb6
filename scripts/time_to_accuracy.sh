#!/usr/bin/env bash
# Time to a test accuracy on Fashion-MNIST: ddp vs PyTorch DDP (gloo), both with 2 ranks of 1
# thread each, the same net (fmnist-cnn), per-rank batch, peak LR, one-cycle schedule and epochs.
# --lr is one rank's, as ddp train takes it: ddp scales it by the 2 ranks itself (the linear
# scaling rule), PyTorch DDP is given the product, as its users scale by hand. The default 0.05
# peaks both at 0.1 for the global batch of 128.
# Prints each epoch as JSON and, at the end, both times to the target.
#   scripts/time_to_accuracy.sh [--target 0.92] [--epochs 10] [--lr 0.05] [--only ddp|torch] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=0.92 EPOCHS=10 LR=0.05 BATCH=64 RANKS=2 ONLY="" OUT=runs/time-to-accuracy
while (($#)); do
    case "$1" in
        --target) TARGET=$2; shift 2 ;; --epochs) EPOCHS=$2; shift 2 ;; --lr) LR=$2; shift 2 ;;
        --only) ONLY=$2; shift 2 ;; --out) OUT=$2; shift 2 ;;
        *) echo "time_to_accuracy.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
mkdir -p "$OUT"
PEAK=$(/usr/bin/python3 -c "print($LR * $RANKS)")
PEERS=../shared/peers

first_epoch_at() { # metrics.jsonl target -> seconds of the first epoch reaching target, or "never"
    /usr/bin/python3 - "$1" "$2" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("event", "epoch") == "epoch" and r.get("test_acc") is not None and r["test_acc"] >= float(sys.argv[2]):
        print(f'{r["elapsed_s"]:.1f}'); break
else:
    print("never")
PY
}

if [ "$ONLY" != torch ]; then
    scripts/setup.sh >/dev/null
    # Each measurement is a new run: ddp refuses to mix it with the last one's outputs.
    rm -rf "$OUT/ddp.jsonl" "$OUT/ddp-checkpoints"
    OPENBLAS_NUM_THREADS=1 scripts/launch.sh -n "$RANKS" -- train --epochs "$EPOCHS" --batch-size "$BATCH" --lr "$LR" \
        --schedule onecycle --threads 1 --metrics "$OUT/ddp.jsonl" --checkpoint-dir "$OUT/ddp-checkpoints" \
        | tee "$OUT/ddp.log"
fi
if [ "$ONLY" != ddp ]; then
    if ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
        echo "SKIP torch: PyTorch (python3-torch) is not installed"
    else
        /usr/bin/python3 "$PEERS/torch_ddp.py" --ranks "$RANKS" --threads 1 --batch "$BATCH" --epochs "$EPOCHS" \
            --lr "$PEAK" --target "$TARGET" | tee "$OUT/torch.jsonl"
    fi
fi
echo "== time to test accuracy $TARGET ($RANKS ranks x 1 thread, batch $BATCH, peak lr $PEAK ($LR x $RANKS), one-cycle, $EPOCHS epochs)"
[ -s "$OUT/ddp.jsonl" ] && echo "ddp:         $(first_epoch_at "$OUT/ddp.jsonl" "$TARGET") s"
[ -s "$OUT/torch.jsonl" ] && echo "PyTorch DDP: $(grep -v seconds_to_target "$OUT/torch.jsonl" > "$OUT/torch-epochs.jsonl"; first_epoch_at "$OUT/torch-epochs.jsonl" "$TARGET") s"
