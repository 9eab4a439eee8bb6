"""The PyTorch DDP peer (shared/peers/torch_ddp.py) with ddp's training recipe where it differs
from the peer's plain cross-entropy: `--label-smoothing` (PyTorch's own `label_smoothing`).
`--seed S` moves the peer's one seed (torch.manual_seed(0): the init and dropout) to S, so runs
can be repeated over seeds; the peer's epoch shuffles keep their own fixed seeds.
Everything else (net, sampler, SGD, one-cycle, evaluation, output) is the peer's.
Usage: python3 torch_ddp_recipe.py --label-smoothing 0.1 [--seed S] [torch_ddp.py's arguments]"""
import argparse, functools, importlib.util, os

import torch.multiprocessing as mp
import torch.nn.functional as F

_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "peers", "torch_ddp.py")
_spec = importlib.util.spec_from_file_location("torch_ddp_peer", _path)
peer = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(peer)


def worker(rank, a):
    # Each worker is a new process (spawn): the smoothing is set where the peer's loss is called,
    # the seed where the peer seeds torch.
    if a.label_smoothing:
        F.cross_entropy = functools.partial(F.cross_entropy, label_smoothing=a.label_smoothing)
    if a.seed:
        seed = peer.torch.manual_seed
        peer.torch.manual_seed = lambda s: seed(s + a.seed)
    peer.worker(rank, a)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    for k, v in dict(ranks=2, threads=1, batch=64, epochs=10, port=29511).items():
        ap.add_argument("--" + k, type=int, default=v)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--target", type=float, default=0.0)
    ap.add_argument("--label-smoothing", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    mp.spawn(worker, args=(a,), nprocs=a.ranks)
