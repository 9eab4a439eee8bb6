"""The PyTorch DDP peer (shared/peers/torch_ddp.py) with ddp's training recipe where it differs
from the peer's plain cross-entropy: `--label-smoothing` (PyTorch's own `label_smoothing`).
`--seed S` moves the peer's one seed (torch.manual_seed(0): the init and dropout) to S, so runs
can be repeated over seeds; `--shuffle-seed K` moves the seeds of its epoch shuffles (1000 + epoch)
by 1000 K, so the data order can vary too (K = 0, the default, keeps the peer's own order);
`--ddp-order S` trains on the batches `ddp train --seed S` draws instead (ddp_order.py);
`--ddp-masks S` drops what ddp's Dropout layers drop under `--seed S --dropout-masks per-rank` on
the same rank (ddp_masks.py), with `--ddp-masks-shared` what they drop under ddp's default
`--dropout-masks shared` (rank 0's stream on every rank); `--init-from-ddp DIR` starts from the weights of ddp's checkpoint DIR (its
model.safetensors, loaded strictly; `ddp train --seed S --lr 0 --max-steps 1` writes one holding
seed S's initial weights). With all three the peer trains on ddp's randomness: what is left between
the two is their arithmetic.
`--eval-every N` also evaluates the test set every N steps (`step_test_acc` lines).
Each epoch's line also gets `train_loss`, the mean loss of rank 0's batches (ddp's is over all ranks).
Everything else (net, sampler, SGD, one-cycle, evaluation, output) is the peer's.
Usage: python3 torch_ddp_recipe.py --label-smoothing 0.1 [--seed S] [--shuffle-seed K | --ddp-order S]
       [--ddp-masks S [--ddp-masks-shared]] [--init-from-ddp DIR] [torch_ddp.py's arguments]"""
import argparse, functools, importlib.util, os

import torch.multiprocessing as mp
import torch.nn.functional as F

import ddp_masks
import ddp_order

_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "peers", "torch_ddp.py")
_spec = importlib.util.spec_from_file_location("torch_ddp_peer", _path)
peer = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(peer)


def worker(rank, a):
    # Each worker is a new process (spawn): the smoothing is set where the peer's loss is called,
    # the seed where the peer seeds torch.
    if a.label_smoothing:
        F.cross_entropy = functools.partial(F.cross_entropy, label_smoothing=a.label_smoothing)
    losses, loss = [], F.cross_entropy
    def recorded(*args, **kwargs):
        value = loss(*args, **kwargs)
        losses.append(value.item())
        return value
    F.cross_entropy = recorded
    dumps = peer.json.dumps
    def with_train_loss(line, *args, **kwargs):  # rank 0 prints one line per epoch
        if "epoch" in line:
            line = dict(line, train_loss=sum(losses) / len(losses))
            losses.clear()
        return dumps(line, *args, **kwargs)
    peer.json.dumps = with_train_loss
    if a.seed:
        seed = peer.torch.manual_seed
        peer.torch.manual_seed = lambda s: seed(s + a.seed)
    if a.shuffle_seed:
        # The peer's only generator object is its shuffle's: torch.Generator().manual_seed(1000 + epoch).
        generator = peer.torch.Generator
        class ShiftedGenerator:
            def manual_seed(self, s): return generator().manual_seed(s + 1000 * a.shuffle_seed)
        peer.torch.Generator = ShiftedGenerator
    if a.ddp_order is not None:
        # The generator carries the epoch from its seed to the peer's one torch.randperm call,
        # which then returns ddp's order of that epoch.
        class EpochOfShuffle:
            def manual_seed(self, s):
                self.epoch = s - 1000
                return self
        peer.torch.Generator = EpochOfShuffle
        peer.torch.randperm = lambda n, generator: peer.torch.tensor(
            ddp_order.permutation(n, a.ddp_order, generator.epoch))
    if a.ddp_masks is not None:
        stream = ddp_masks.Stream(a.ddp_masks, 0 if a.ddp_masks_shared else rank)
        def ddp_dropout(self, x):
            if not self.training or self.p == 0:
                return x
            return x * peer.torch.from_numpy(stream.mask(tuple(x.shape), self.p))
        peer.torch.nn.Dropout.forward = ddp_dropout
    if a.init_from_ddp:
        net = peer.R["net"]
        def ddp_net():
            m = net()
            m.load_state_dict(ddp_state(a.init_from_ddp), strict=True)
            return m
        peer.R["net"] = ddp_net
    if a.eval_every:
        evaluate_every(rank, a.eval_every)
    peer.worker(rank, a)


def ddp_state(checkpoint):
    """The state dict in ddp's checkpoint directory (or the one its `latest` link names)."""
    here = os.path.dirname(os.path.abspath(__file__))
    spec = importlib.util.spec_from_file_location("torch_check", os.path.join(here, "..", "torch_check_checkpoint.py"))
    check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check)
    tensors, _ = check.read_safetensors(os.path.join(check.step_directory(checkpoint), "model.safetensors"))
    return tensors


def evaluate_every(rank, every):
    """Rank 0 (the other ranks do nothing here) evaluates the whole test set every `every` optimizer steps, in eval mode and without
    gradients (no dropout draw, no BatchNorm update), so the run trains exactly as without it:
    the test accuracy inside the epochs, not only at their ends. One line per evaluation:
    {"peer", "step", "step_test_acc"}."""
    if rank != 0:
        return
    models, ddp_class = [], peer.DDP
    def recording_ddp(module, *args, **kwargs):
        models.append(ddp_class(module, *args, **kwargs))
        return models[-1]
    peer.DDP = recording_ddp
    xtr = peer.torch.tensor(peer.R["idx"](f"{peer.R['D']}/train-images-idx3-ubyte.gz"), dtype=peer.torch.float32) / 255.
    xte = peer.torch.tensor(peer.R["idx"](f"{peer.R['D']}/t10k-images-idx3-ubyte.gz"), dtype=peer.torch.float32).unsqueeze(1) / 255.
    yte = peer.torch.tensor(peer.R["idx"](f"{peer.R['D']}/t10k-labels-idx1-ubyte.gz"), dtype=peer.torch.long)
    xte = (xte - xtr.mean()) / xtr.std()
    scheduler = peer.torch.optim.lr_scheduler.OneCycleLR
    step_of, calls = scheduler.step, [0]
    def step(self, *args, **kwargs):
        step_of(self, *args, **kwargs)
        calls[0] += 1
        done = calls[0] - 1  # the scheduler's constructor steps once itself
        if done > 0 and done % every == 0:
            m = models[0].module
            m.eval()
            with peer.torch.no_grad():
                right = sum((m(xte[i:i + 1000]).argmax(1) == yte[i:i + 1000]).sum().item() for i in range(0, len(xte), 1000))
            m.train()
            print(peer.json.dumps({"peer": "pytorch-ddp-gloo", "step": done, "step_test_acc": right / len(xte)}), flush=True)
    scheduler.step = step


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    for k, v in dict(ranks=2, threads=1, batch=64, epochs=10, port=29511).items():
        ap.add_argument("--" + k, type=int, default=v)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--target", type=float, default=0.0)
    ap.add_argument("--label-smoothing", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shuffle-seed", type=int, default=0)
    ap.add_argument("--ddp-order", type=int, default=None)
    ap.add_argument("--eval-every", type=int, default=0)
    ap.add_argument("--ddp-masks", type=int, default=None)
    ap.add_argument("--ddp-masks-shared", action="store_true")
    ap.add_argument("--init-from-ddp", default=None)
    a = ap.parse_args()
    mp.spawn(worker, args=(a,), nprocs=a.ranks)
