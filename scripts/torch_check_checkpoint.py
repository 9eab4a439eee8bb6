"""Loads a ddp checkpoint (fmnist-cnn or resnet20) into the PyTorch twin of its model with strict=True and compares the
logits PyTorch computes on the whole test set with the ones `ddp eval --save-logits` wrote.
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
    import torch.nn as nn
except ImportError as e:  # the test suite must not need PyTorch
    print(f"SKIP: PyTorch is not installed here ({e}); install python3-torch to run this check")
    sys.exit(0)

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


def fmnist_cnn(classes):
    def cbr(i, o): return [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU()]
    return nn.Sequential(*cbr(1, 32), *cbr(32, 32), nn.MaxPool2d(2), *cbr(32, 64), *cbr(64, 64), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Dropout(0.25), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.5),
                         nn.Linear(128, classes))


class BasicBlock(nn.Module):
    """ddp's BasicBlock: two 3x3 conv + BN, the first with the stride; a 1x1 conv + BN projection
    shortcut where the shape changes; ReLU after the sum."""
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet20(nn.Module):
    """He et al.'s CIFAR ResNet-20 as ddp names it: conv1, bn1, layer1..3 of 3 blocks, global
    average pooling, fc."""
    def __init__(self, channels, classes):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        stages, cin = [], 16
        for cout, stride in [(16, 1), (32, 2), (64, 2)]:
            stages.append(nn.Sequential(BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1), BasicBlock(cout, cout, 1)))
            cin = cout
        self.layer1, self.layer2, self.layer3 = stages
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(x.mean(dim=(2, 3)))


def idx(path):
    with gzip.open(path) as f:
        data = f.read()
    nd = data[3]
    dims = struct.unpack(">" + "I" * nd, data[4:4 + 4 * nd])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * nd).reshape(dims)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    ckpt, logits_path = sys.argv[1], sys.argv[2]
    if os.path.islink(os.path.join(ckpt, "latest")):
        ckpt = os.path.join(ckpt, os.readlink(os.path.join(ckpt, "latest")))
    theirs, their_meta = read_safetensors(logits_path)
    weights = their_meta.get("weights", "model.safetensors")
    state, meta = read_safetensors(os.path.join(ckpt, weights))
    classes = int(meta["classes"])
    if meta.get("spec") == "fmnist-cnn":
        model = fmnist_cnn(classes)
    elif meta.get("spec") == "resnet20":
        model = ResNet20(int(meta["input_shape"].split(",")[0]), classes)
    else:
        sys.exit(f"this check knows the PyTorch twins of fmnist-cnn and resnet20 only, not {meta.get('spec')!r}")
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


main()
