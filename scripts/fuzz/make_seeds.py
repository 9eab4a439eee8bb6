"""Seed inputs for scripts/fuzz.sh: small valid files of each format the targets parse."""
import gzip, json, os, struct, sys

idx_dir, st_dir = sys.argv[1], sys.argv[2]
os.makedirs(idx_dir, exist_ok=True)
os.makedirs(st_dir, exist_ok=True)

images = struct.pack(">IIII", 0x803, 3, 4, 5) + bytes(range(60))
labels = struct.pack(">II", 0x801, 3) + bytes([0, 9, 3])
cifar = bytes([7]) + bytes((i * 13) % 256 for i in range(3072))
for name, data in [("images", images), ("labels", labels), ("images.gz", gzip.compress(images)),
                   ("labels.gz", gzip.compress(labels)), ("cifar", cifar)]:
    open(os.path.join(idx_dir, name), "wb").write(data)

def safetensors(header, data):
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data

open(os.path.join(st_dir, "small"), "wb").write(safetensors({
    "__metadata__": {"spec": "flatten-fc", "input_shape": "1,8,8", "classes": "10"},
    "1.weight": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
    "1.num_batches_tracked": {"dtype": "I64", "shape": [], "data_offsets": [16, 24]},
    "mask": {"dtype": "BOOL", "shape": [3], "data_offsets": [24, 27]},
}, bytes(range(27))))
open(os.path.join(st_dir, "empty"), "wb").write(safetensors({}, b""))
