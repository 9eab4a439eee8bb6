#!/usr/bin/env bash
# A checkpoint written by ddp loads into the PyTorch fmnist-cnn with strict=True and gives the
# same logits: the model, and the moving average of its weights (--ema). Skips (exit 0, "SKIP")
# where PyTorch is not installed.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=/usr/bin/python3
if ! "$PY" -c "import torch" 2>/dev/null; then
    echo "SKIP: PyTorch (python3-torch) is not installed; the checkpoint/PyTorch check needs it"
    exit 0
fi
DDP="$(swift build -c release --show-bin-path)/ddp"
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
timeout 300 "$DDP" train --max-steps 20 --ema 0.9 --quiet --checkpoint-dir "$TMP/run"
timeout 120 "$DDP" eval --checkpoint "$TMP/run" --save-logits "$TMP/logits.safetensors" --json
timeout 300 "$PY" scripts/torch_check_checkpoint.py "$TMP/run" "$TMP/logits.safetensors"
timeout 120 "$DDP" eval --checkpoint "$TMP/run" --ema --save-logits "$TMP/ema-logits.safetensors" --json
timeout 300 "$PY" scripts/torch_check_checkpoint.py "$TMP/run" "$TMP/ema-logits.safetensors"
