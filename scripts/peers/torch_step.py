"""PyTorch peer of `ddp bench step`: images/s of full training steps (forward, cross-entropy,
backward, SGD with Nesterov momentum and weight decay) of a ddp preset's PyTorch twin
(Tests/LayersTests/Fixtures/torch_models.py), on Fashion-MNIST batches, eager or with
torch.compile, FP32 or under CPU autocast to bf16.

    python3 scripts/peers/torch_step.py --model resnet20 --threads 2 --steps 40 [--compile] [--bf16]

Prints one JSON line. torch_ref.py (shared/peers) is the reference peer for fmnist-cnn in eager
FP32; this one adds resnet20, torch.compile and autocast, for the fast-path benchmark
(scripts/bench.sh --fast-paths)."""
import argparse, json, os, sys, time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "LayersTests", "Fixtures"))
import torch_models  # noqa: E402


def fashion_mnist(count):
    """The first `count` training images, normalized as torch_ref.py does, and their labels."""
    import gzip, struct
    import numpy as np
    d = "/usr/share/datasets/fashion-mnist"

    def idx(path):
        with gzip.open(path) as f:
            data = f.read()
        nd = struct.unpack(">I", data[:4])[0] & 0xff
        dims = struct.unpack(">" + "I" * nd, data[4:4 + 4 * nd])
        return np.frombuffer(data, np.uint8, offset=4 + 4 * nd).reshape(dims)
    x = torch.tensor(idx(f"{d}/train-images-idx3-ubyte.gz")[:count], dtype=torch.float32).unsqueeze(1) / 255.
    y = torch.tensor(idx(f"{d}/train-labels-idx1-ubyte.gz")[:count], dtype=torch.long)
    return (x - x.mean()) / x.std(), y


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="fmnist-cnn", choices=sorted(torch_models.PRESETS))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps first (compilation happens here)")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--bf16", action="store_true", help="torch.autocast('cpu', torch.bfloat16) around forward and loss")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    x, y = fashion_mnist(a.batch * 16)
    model = torch_models.PRESETS[a.model](1, 28, 28)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4, nesterov=True)
    step_model = torch.compile(model) if a.compile else model
    model.train()

    def step(s):
        i = (s % 16) * a.batch
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
            loss = F.cross_entropy(step_model(x[i:i + a.batch]), y[i:i + a.batch])
        opt.zero_grad()
        loss.backward()
        opt.step()
    for s in range(a.warmup):
        step(s)
    start, cpu = time.perf_counter(), time.process_time()
    for s in range(a.steps):
        step(s)
    wall = time.perf_counter() - start
    print(json.dumps({"peer": "pytorch", "version": torch.__version__, "model": a.model, "threads": a.threads,
                      "batch": a.batch, "compile": a.compile, "bf16": a.bf16,
                      "images_per_s": a.steps * a.batch / wall,
                      "images_per_cpu_s": a.steps * a.batch / (time.process_time() - cpu)}))


main()
