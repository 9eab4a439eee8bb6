"""Writes torch_reference.json: what PyTorch computes for fmnist-cnn and resnet20 on a fixed
batch with fixed weights (one training-mode forward and backward, then an eval-mode forward).
LayersTests/TorchReferenceTests rebuilds the same weights and batch in Swift and compares.

    /usr/bin/python3 make_reference.py     (PyTorch 1.13, Debian's python3-torch)

Weights, statistics and inputs come from a formula both sides evaluate in float64 and round to
float32, so the fixture holds only results: logits, loss, per-tensor sums and norms of every
gradient and running statistic, and a few sampled entries of each (the fixture stays small).
Dropout is set to 0 in the fmnist-cnn here (its masks cannot match PyTorch's generator).
"""
import json
import math

import torch
import torch.nn.functional as F

from torch_models import fmnist_cnn, resnet20

SAMPLES = 8


def value(name, k, j, fan_in):
    """Entry j of state-dict tensor number k (named `name`), before rounding to float32."""
    s = math.sin(0.7 * j + 1.3 * k + 0.5)
    if name.endswith("running_var"):
        return 1.0 + 0.5 * abs(s)
    if name.endswith("running_mean") or name.endswith("bias"):
        return 0.1 * s
    if fan_in == 0:  # BN weight (gamma)
        return 1.0 + 0.2 * s
    return s * math.sqrt(3.0 / fan_in)


def sample_indices(k, count):
    return [(k * 7919 + t * 104729) % count for t in range(SAMPLES)]


def summary(k, tensor):
    flat = tensor.detach().double().flatten()
    return {"sum": flat.sum().item(), "norm": flat.norm().item(),
            "samples": [[i, flat[i].item()] for i in sample_indices(k, flat.numel())]}


def run(name, model, shape, batch=4):
    state = model.state_dict()
    with torch.no_grad():
        for k, (key, tensor) in enumerate(state.items()):
            if tensor.dtype != torch.float32:
                continue
            fan_in = int(torch.tensor(tensor.shape[1:]).prod().item()) if tensor.dim() > 1 else 0
            values = [value(key, k, j, fan_in) for j in range(tensor.numel())]
            tensor.copy_(torch.tensor(values, dtype=torch.float64).float().reshape(tensor.shape))
    count = batch * shape[0] * shape[1] * shape[2]
    x = torch.tensor([math.sin(0.37 * i + 0.1) for i in range(count)], dtype=torch.float64).float()
    x = x.reshape(batch, *shape)
    labels = torch.tensor([(3 * n + 1) % 10 for n in range(batch)])
    model.train()
    logits = model(x)
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    entries = []
    for k, (key, tensor) in enumerate(model.state_dict().items()):
        entry = {"name": key}
        if tensor.dtype == torch.float32 and (key.endswith("running_mean") or key.endswith("running_var")):
            entry.update(summary(k, tensor))
        elif tensor.dtype != torch.float32:
            entry["int64"] = int(tensor.item())
        entries.append(entry)
    params = dict(model.named_parameters())
    for k, (key, _) in enumerate(model.state_dict().items()):
        if key in params:
            entries[k]["gradient"] = summary(k, params[key].grad)
    model.eval()
    with torch.no_grad():
        eval_logits = model(x)
    return {"model": name, "input": list(shape), "batch": batch, "labels": labels.tolist(),
            "logits": logits.detach().flatten().tolist(), "loss": loss.item(),
            "eval_logits": eval_logits.flatten().tolist(), "entries": entries}


if __name__ == "__main__":
    torch.set_num_threads(1)
    fixture = [run("fmnist-cnn (dropout 0)", fmnist_cnn(1, 28, 28, p1=0.0, p2=0.0), (1, 28, 28)),
               run("resnet20", resnet20(3, 32, 32), (3, 32, 32))]
    with open("torch_reference.json", "w") as f:
        json.dump({"generator": "make_reference.py", "torch": torch.__version__, "cases": fixture}, f)
        f.write("\n")
