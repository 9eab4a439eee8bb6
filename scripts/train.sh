#!/usr/bin/env bash
# The main job: set-up, then 4 ranks training the reference net (fmnist-cnn) on Fashion-MNIST.
# Extra arguments go to `ddp train` (e.g. --epochs 3). Results land in runs/fmnist-4ranks/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
RUN=${RUN:-runs/fmnist-4ranks}
mkdir -p "$RUN"
exec scripts/launch.sh -n "${RANKS:-4}" -- train \
    --dataset fashion-mnist --model fmnist-cnn \
    --checkpoint-dir "$RUN/checkpoints" --metrics "$RUN/metrics.jsonl" "$@"
