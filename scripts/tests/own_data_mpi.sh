#!/usr/bin/env bash
# Your own images, the whole path under mpirun (2 ranks), on 600 Fashion-MNIST images exported
# as PNG folders by scripts/own_data/export_fashion_mnist.py:
#  A. ddp pack of the folders: every image, per class as exported;
#  B. training from the folders and from the packed file (2 ranks, augmentation on) ends in
#     byte-identical parameters; the folders' images are the IDX file's, byte for byte;
#  C. ddp eval (per-class accuracy, confusion matrix as JSON and SVG) and ddp predict (one JSON
#     line per image, the class names of the folders) read the checkpoint;
#  D. a corrupt PNG in a class folder: one line naming it from the 2 ranks, nothing written;
#     --skip-bad trains without it and names it.
name=own_data_mpi
source "$(dirname "$0")/lib/common.sh"

fmnist=/usr/share/datasets/fashion-mnist
[ -e "$fmnist/train-images-idx3-ubyte.gz" ] || [ -e "$fmnist/train-images-idx3-ubyte" ] ||
    { echo "SKIP: no Fashion-MNIST in $fmnist (scripts/setup.sh installs it)"; exit 0; }
python=/usr/bin/python3; [ -x "$python" ] || python=python3

# A
"$python" scripts/own_data/export_fashion_mnist.py "$work/images" --limit 300 > "$work/export.log" ||
    fail "export: $(cat "$work/export.log")"
"$ddp" pack "$work/images" -o "$work/fm.pack" --json > "$work/pack.json" 2> "$work/pack.err" || fail "pack: $(cat "$work/pack.err")"
"$python" - "$work/pack.json" "$work/images" <<'PY' || fail "pack summary"
import json, os, sys
summary = json.load(open(sys.argv[1]))
root = sys.argv[2]
classes = sorted(os.listdir(os.path.join(root, "train")))
assert summary["class_names"] == classes, summary["class_names"]
for split in ("train", "test"):
    counts = [len(os.listdir(os.path.join(root, split, c))) for c in classes]
    assert summary[split + "_per_class"] == counts, (split, summary[split + "_per_class"], counts)
assert summary["train"] == 300 and summary["test"] == 300 and summary["shape"] == [1, 28, 28], summary
PY
note "pack: $(cut -c1-160 "$work/pack.json")"

# B: the folder's images are the IDX file's first 300 (by index in the file name).
"$python" - "$work/images" "$fmnist" <<'PY' || fail "the exported images are not Fashion-MNIST's"
import gzip, os, struct, sys, zlib
root, fmnist = sys.argv[1:3]
path = os.path.join(fmnist, "train-images-idx3-ubyte.gz")
data = gzip.open(path).read() if os.path.exists(path) else open(path[:-3], "rb").read()
for c in sorted(os.listdir(os.path.join(root, "train"))):
    for f in sorted(os.listdir(os.path.join(root, "train", c)))[:3]:
        png = open(os.path.join(root, "train", c, f), "rb").read()
        idat = png[png.index(b"IDAT") + 4:]
        raw = zlib.decompressobj().decompress(idat)
        pixels = b"".join(raw[r * 29 + 1:(r + 1) * 29] for r in range(28))
        i = int(f.split(".")[0])
        assert pixels == data[16 + i * 784:16 + (i + 1) * 784], f
PY
common=(train --model lenet5 --epochs 1 --batch-size 30 --lr 0.05 --seed 3 --augment)
"${launch[@]}" -n 2 -- "${common[@]}" --quiet --dataset folder --data "$work/images" --checkpoint-dir "$work/from-folder" \
    > "$work/folder.log" 2>&1 || fail "training from the folders: $(cat "$work/folder.log")"
"${launch[@]}" -n 2 -- "${common[@]}" --quiet --dataset packed --data "$work/fm.pack" --checkpoint-dir "$work/from-pack" \
    > "$work/packed.log" 2>&1 || fail "training from the packed file: $(cat "$work/packed.log")"
"$python" - "$work/from-folder/latest/model.safetensors" "$work/from-pack/latest/model.safetensors" <<'PY' ||
import json, struct, sys
def tensors(path):
    b = open(path, "rb").read(); n = struct.unpack("<Q", b[:8])[0]
    header = json.loads(b[8:8 + n]); header.pop("__metadata__", None)
    return header, b[8 + n:]
assert tensors(sys.argv[1]) == tensors(sys.argv[2])
PY
    fail "training from the packed file differs from training from its folders"
note "training: folders and packed file give the same parameters (2 ranks, 1 epoch, --augment)"

# C
"$ddp" eval --checkpoint "$work/from-pack" --json --confusion "$work/confusion.svg" > "$work/eval.json" ||
    fail "eval: $(cat "$work/eval.json")"
"$python" - "$work/eval.json" <<'PY' || fail "eval JSON: $(cat "$work/eval.json")"
import json, sys
r = json.load(open(sys.argv[1]))
k = len(r["class_names"])
assert k == 10 and r["class_names"][3] == "3-dress", r["class_names"]
assert len(r["confusion"]) == k and all(len(row) == k for row in r["confusion"])
assert sum(map(sum, r["confusion"])) == r["samples"] == 300
assert abs(sum(r["confusion"][i][i] for i in range(k)) / 300 - r["test_acc"]) < 1e-12
PY
grep -q "3-dress" "$work/confusion.svg" || fail "the confusion matrix picture lacks the class names"
"$ddp" predict --checkpoint "$work/from-pack" --json --top 2 "$work/images/test/3-dress" > "$work/predict.jsonl" ||
    fail "predict: $(cat "$work/predict.jsonl")"
dresses=$(ls "$work/images/test/3-dress" | wc -l)
[ "$(grep -c '"top":\[{"label"' "$work/predict.jsonl")" -eq "$dresses" ] ||
    fail "predict: expected $dresses lines: $(head -3 "$work/predict.jsonl")"
note "eval and predict: $(cut -c1-70 "$work/eval.json")...; $(head -1 "$work/predict.jsonl" | cut -c1-120)..."

# D
cp -r "$work/images" "$work/bad"
head -c 200 "$(ls -d "$work/bad/train/5-sandal"/* | head -1)" > "$work/bad/train/5-sandal/broken.png"
set +e
"${launch[@]}" -n 2 -- "${common[@]}" --quiet --dataset folder --data "$work/bad" --checkpoint-dir "$work/bad-run" \
    > "$work/bad.out" 2> "$work/bad.err"
status=$?
set -e
[ "$status" -eq 1 ] || fail "a corrupt image: exit $status, expected 1: $(cat "$work/bad.out" "$work/bad.err")"
[ "$(ddp_lines "$work/bad.err" | wc -l)" -eq 1 ] || fail "a corrupt image: expected one line: $(cat "$work/bad.err")"
ddp_lines "$work/bad.err" | grep -q "broken.png: corrupt image" || fail "the corrupt image is not named: $(cat "$work/bad.err")"
ddp_lines "$work/bad.err" | grep -q -- "--skip-bad" || fail "the way out is not named: $(cat "$work/bad.err")"
[ ! -e "$work/bad-run/latest" ] || fail "a checkpoint was written"
"${launch[@]}" -n 2 -- "${common[@]}" --dataset folder --data "$work/bad" --checkpoint-dir "$work/skip-run" --skip-bad \
    > "$work/skip.log" 2>&1 || fail "--skip-bad: $(cat "$work/skip.log")"
grep -q "broken.png" "$work/skip.log" || fail "--skip-bad does not name the file it left out: $(cat "$work/skip.log")"
note "bad input: $(ddp_lines "$work/bad.err")"
note "passed"
