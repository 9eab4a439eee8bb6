"""Loads a ddp checkpoint of a preset model (mlp, lenet5, fmnist-cnn, resnet20) into its PyTorch
twin (Tests/LayersTests/Fixtures/torch_models.py, the modules the test fixtures are made with)
with strict=True and compares the logits PyTorch computes on the whole test set with the ones
`ddp eval --save-logits` wrote.
The weights are the file those logits came from (their "weights" metadata): model.safetensors,
or ema.safetensors after `ddp eval --ema`.

Usage: python3 scripts/torch_check_checkpoint.py CHECKPOINT_DIR LOGITS.safetensors
Needs PyTorch (Debian's python3-torch); exits 0 with a SKIP line where it is not installed.
The safetensors files are read with a few lines of json/struct below (the format is tiny), so the
`safetensors` package is not needed either."""
import gzip, json, os, struct, sys

try:
    import numpy as np
    import torch
except ImportError as e:  # the test suite must not need PyTorch
    print(f"SKIP: PyTorch is not installed here ({e}); install python3-torch to run this check")
    sys.exit(0)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "LayersTests", "Fixtures"))
import torch_models  # noqa: E402 (after the check that PyTorch is there)

DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32, "U8": np.uint8}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n, = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    tensors = {}
    for name, h in header.items():
        b, e = h["data_offsets"]
        arr = np.frombuffer(data[base + b:base + e], dtype=DTYPES[h["dtype"]]).reshape(h["shape"])
        tensors[name] = torch.from_numpy(arr.copy())
    return tensors, meta


def idx(path):
    with gzip.open(path) as f:
        data = f.read()
    nd = data[3]
    dims = struct.unpack(">" + "I" * nd, data[4:4 + 4 * nd])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * nd).reshape(dims)


def step_directory(ckpt):
    """The checkpoint a directory holds: the one its `latest` link names, or the directory itself."""
    latest = os.path.join(ckpt, "latest")
    return os.path.join(ckpt, os.readlink(latest)) if os.path.islink(latest) else ckpt


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    ckpt, logits_path = step_directory(sys.argv[1]), sys.argv[2]
    theirs, their_meta = read_safetensors(logits_path)
    weights = their_meta.get("weights", "model.safetensors")
    state, meta = read_safetensors(os.path.join(ckpt, weights))
    spec = meta.get("spec", "")
    twin = getattr(torch_models, spec.replace("-", "_"), None) if spec in ("mlp", "lenet5", "fmnist-cnn", "resnet20") else None
    if twin is None:
        sys.exit(f"this check knows the PyTorch twins of the presets (mlp, lenet5, fmnist-cnn, resnet20) only, not {spec!r}")
    channels, height, width = (int(n) for n in meta["input_shape"].split(","))
    model = twin(channels, height, width, int(meta["classes"]))
    model.load_state_dict(state, strict=True)  # raises on any missing, unexpected or mis-shaped tensor
    model.eval()
    data_dir = "/usr/share/datasets/" + meta.get("dataset", "fashion-mnist")
    x = torch.tensor(idx(f"{data_dir}/t10k-images-idx3-ubyte.gz"), dtype=torch.float64).unsqueeze(1) / 255.0
    mean = float(meta["normalization_mean"]); std = float(meta["normalization_std"])
    x = ((x - mean) / std).float()
    with torch.no_grad():
        ours = torch.cat([model(x[i:i + 1000]) for i in range(0, len(x), 1000)])
    diff = (ours - theirs["logits"]).abs().max().item()
    scale = theirs["logits"].abs().max().item()
    agree = (ours.argmax(1) == theirs["logits"].argmax(1)).float().mean().item()
    print(json.dumps({"check": "pytorch load_state_dict(strict=True)", "weights": weights, "tensors": len(state),
                      "max_abs_logit_diff": diff, "max_abs_logit": scale, "argmax_agreement": agree}))
    if diff > 1e-3 * max(1.0, scale):
        sys.exit(f"FAIL: logits differ by {diff} (scale {scale})")
    print("PASS: PyTorch loads the checkpoint strictly and computes the same logits")


if __name__ == "__main__":  # torch_ddp_recipe.py imports read_safetensors and step_directory
    main()
