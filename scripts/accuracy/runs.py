"""The parts of scripts/accuracy.sh and scripts/accuracy/seeds.sh that read files.

  runs.py peer-args CHECKPOINT_DIR   the PyTorch DDP peer's arguments for the recipe a ddp run was
                                     trained with (read from its checkpoint's config): ranks,
                                     per-rank batch, peak learning rate, epochs, label smoothing
  runs.py table OUT                  the table of OUT/ddp-P/metrics.jsonl and OUT/torch-P.jsonl
  runs.py reached FILE TARGET        exit 0 if an epoch of FILE (either kind) reached TARGET, else 1
  runs.py crossings OUT TARGET       per seed, the first epoch reaching TARGET in
                                     OUT/ddp-P-seedS/metrics.jsonl and OUT/torch-P-seedS.jsonl, and
                                     per side how many seeds crossed at each epoch and their mean

Accuracy is the test accuracy after the last epoch; "92%" is the first epoch whose evaluation
reaches it, with the run's elapsed seconds there; time is the elapsed seconds at the last
evaluation."""
import json, os, re, struct, sys


def checkpoint_meta(directory):
    with open(os.path.join(directory, "latest", "trainer.safetensors"), "rb") as f:
        n, = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n))["__metadata__"]


def peer_args(directory):
    meta = checkpoint_meta(directory)
    c, ranks = json.loads(meta["config"]), int(meta["ranks"])
    if c["optimizer"] != "sgd" or c["schedule"] != "onecycle" or c["model"] != "fmnist-cnn":
        sys.exit("runs.py: the PyTorch peer trains fmnist-cnn with SGD and one-cycle only")
    peak = c["lr"] * ranks if c["scaleLR"] else c["lr"]
    print(f'--ranks {ranks} --batch {c["batchSize"]} --epochs {c["epochs"]} --lr {peak:g} '
          f'--label-smoothing {c["labelSmoothing"]:g}')


def epochs(path):
    """(epoch, test_acc, ema_test_acc or None, elapsed_s) per evaluation, from either file."""
    rows = []
    for line in open(path):
        r = json.loads(line)
        if r.get("event", "epoch") == "epoch" and r.get("test_acc") is not None:
            rows.append((r["epoch"], r["test_acc"], r.get("ema_test_acc"), r["elapsed_s"]))
    return rows


def first(rows, column, target=0.92):
    """(epoch, "seconds") of the first evaluation whose column reaches the target, or ("never", "-")."""
    return next(((str(r[0]), f"{r[3]:.0f} s") for r in rows if r[column] is not None and r[column] >= target),
                ("never", "-"))


def table(out):
    ranks = sorted({int(m.group(1)) for f in os.listdir(out) for m in [re.fullmatch(r"(?:ddp|torch)-(\d+)(?:\.jsonl)?", f)] if m})
    print("| ranks | ddp final | ddp EMA final | ddp 92% at epoch (EMA) | ddp time to 92% (EMA) | ddp time "
          "| PyTorch DDP final | PyTorch 92% at epoch | PyTorch time to 92% | PyTorch time |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for p in ranks:
        cells = [str(p)]
        d = os.path.join(out, f"ddp-{p}", "metrics.jsonl")
        if os.path.exists(d) and (rows := epochs(d)):
            last = rows[-1]
            ema = f"{100 * last[2]:.2f}%" if last[2] is not None else "-"
            (epoch, time), (ema_epoch, ema_time) = first(rows, 1), first(rows, 2)
            cells += [f"{100 * last[1]:.2f}%", ema, f"{epoch} ({ema_epoch})", f"{time} ({ema_time})", f"{last[3]:.0f} s"]
        else:
            cells += ["-"] * 5
        t = os.path.join(out, f"torch-{p}.jsonl")
        if os.path.exists(t) and (rows := epochs(t)):
            cells += [f"{100 * rows[-1][1]:.2f}%", *first(rows, 1), f"{rows[-1][3]:.0f} s"]
        else:
            cells += ["-"] * 4
        print("| " + " | ".join(cells) + " |")


def reached(path, target):
    sys.exit(0 if first(epochs(path), 1, float(target))[0] != "never" else 1)


def crossings(out, target):
    """Seeds cut once they crossed (scripts/accuracy/seeds.sh) hold epochs up to the crossing; a
    run that ended without crossing counts as "never" and is left out of the mean."""
    runs = {}  # (side, ranks, seed) -> first epoch reaching the target
    for f in sorted(os.listdir(out)):
        m = re.fullmatch(r"(ddp|torch)-(\d+)-seed(\d+)(?:\.jsonl)?", f)
        path = os.path.join(out, f, "metrics.jsonl") if m and m.group(1) == "ddp" else os.path.join(out, f)
        if m and os.path.isfile(path) and (rows := epochs(path)):
            runs[m.group(1), int(m.group(2)), int(m.group(3))] = first(rows, 1, float(target))[0]
    sides = {"ddp": "ddp", "torch": "PyTorch DDP"}
    for p in sorted({k[1] for k in runs}):
        seeds = sorted({k[2] for k in runs if k[1] == p})
        print(f"{p} ranks, first epoch reaching {float(target):.2%}")
        print("| seed | " + " | ".join(sides.values()) + " |")
        print("|---|" + "---|" * len(sides))
        for s in seeds:
            print(f"| {s} | " + " | ".join(runs.get((side, p, s), "-") for side in sides) + " |")
        for side, name in sides.items():
            crossed = [int(e) for (d, q, _), e in runs.items() if d == side and q == p and e != "never"]
            never = sum(1 for (d, q, _), e in runs.items() if d == side and q == p and e == "never")
            if crossed or never:
                counts = ", ".join(f"{e}: {crossed.count(e)}" for e in sorted(set(crossed)))
                mean = f"{sum(crossed) / len(crossed):.2f}" if crossed else "-"
                print(f"{name}: {len(crossed)} seeds; seeds crossing after epoch {counts}; mean epoch {mean}"
                      + (f"; {never} never crossed" if never else ""))


COMMANDS = {"peer-args": (peer_args, 1), "table": (table, 1), "reached": (reached, 2), "crossings": (crossings, 2)}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS or len(sys.argv) != 2 + COMMANDS[sys.argv[1]][1]:
        sys.exit(__doc__)
    COMMANDS[sys.argv[1]][0](*sys.argv[2:])
