#!/usr/bin/env bash
# Your own images, the whole path, on Fashion-MNIST written out as PNG folders (one folder per
# class, as torchvision's ImageFolder reads them): export them
# (scripts/own_data/export_fashion_mnist.py), pack them into one file (ddp pack), train 2 ranks
# from it (10 epochs by default; extra arguments go to ddp train), evaluate it per class with the
# confusion matrix as a picture (ddp eval), and classify a few of the images (ddp predict).
# Everything lands in $OUT (default runs/own-data); a second run reuses the exported images.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
ddp="$(swift build -c release --show-bin-path)/ddp"
OUT=${OUT:-runs/own-data}
python=/usr/bin/python3; [ -x "$python" ] || python=python3
if [ ! -d "$OUT/images/test" ]; then
    "$python" scripts/own_data/export_fashion_mnist.py "$OUT/images"
fi
"$ddp" pack "$OUT/images" -o "$OUT/fashion.pack"
scripts/launch.sh --program "$ddp" -n "${RANKS:-2}" -- train --dataset packed --data "$OUT/fashion.pack" \
    --checkpoint-dir "$OUT/checkpoints" --metrics "$OUT/metrics.jsonl" --overwrite "$@"
"$ddp" eval --checkpoint "$OUT/checkpoints" --confusion "$OUT/confusion.svg"
"$ddp" predict --checkpoint "$OUT/checkpoints" $(ls -d "$OUT"/images/test/*/ | head -3 | while read -r d; do ls "$d"*.png | head -2; done)
echo "own_data.sh: the confusion matrix is $OUT/confusion.svg, the curves: ddp plot $OUT/metrics.jsonl -o curves.svg"
