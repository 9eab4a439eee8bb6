#!/usr/bin/env bash
# Any world size resumes any checkpoint (issue 18): a run of 4 ranks under mpirun, stopped by
# --max-steps in the middle of its second epoch, goes on under mpirun with 2 ranks, keeping
# the global batch of 4 x 16 = 64 (a small MLP on 512 synthetic images: 8 steps per epoch, 16
# in all, the one-cycle schedule):
#  A. resumed on 2 ranks: the per-rank batch is derived (2 x 32); the run ends at step 16 and
#     its epochs report steps 8 and 16;
#  B. resumed on 2 ranks with --batch-size 16: 2 x 16 x --accumulate 2, the same ending;
#  C. both end where the uninterrupted 4-rank run does, to float tolerance (the allreduce adds
#     in another order).
# Before A, a resume on 3 ranks, which cannot share 64, is refused in one line.
name=resume_world_size_mpi
source "$(dirname "$0")/lib/common.sh"
python=/usr/bin/python3; [ -x "$python" ] || python=python3

args=(train --dataset synthetic --model flatten-fc32-relu-fc --train-subset 512 --batch-size 16 --epochs 2
      --schedule onecycle --lr 0.02 --seed 5 --threads 1 --quiet)

# run LOG RANKS <more ddp args...>: a job under mpirun that must succeed within 120 s.
run() {
    local log="$1" ranks="$2"; shift 2
    start "$log" 120 "${launch[@]}" -n "$ranks" -- "$@"
    finish
    [ "$status" -eq 0 ] || fail "$(basename "$log" .log) (exit $status): $(cat "$log")"
}

# steps_of METRICS: the step each epoch line of the metrics file reports, space-separated.
steps_of() { grep '"event":"epoch"' "$1" | grep -o '"step":[0-9]*' | cut -d: -f2 | tr '\n' ' '; }

run "$work/straight.log" 4 "${args[@]}" --checkpoint-dir "$work/straight"
run "$work/first.log" 4 "${args[@]}" --checkpoint-dir "$work/a" --metrics "$work/a.jsonl" --max-steps 11
[ "$(readlink "$work/a/latest")" = step-00000011 ] || fail "the 4-rank run stopped at $(readlink "$work/a/latest")"
set +e; timeout 60 "${launch[@]}" -n 3 -- train --resume "$work/a" > "$work/three.log" 2>&1; status=$?; set -e
[ "$status" -eq 64 ] || fail "a resume on 3 ranks: exit $status, expected 64: $(cat "$work/three.log")"
[ "$(grep -c . "$work/three.log")" -eq 1 ] &&
    grep -q "this launch has 3 ranks, which cannot share the global batch of 64 of the run resumed from" "$work/three.log" ||
    fail "a resume on 3 ranks, expected one line of refusal: $(cat "$work/three.log")"
[ "$(readlink "$work/a/latest")" = step-00000011 ] || fail "the refused resume wrote a checkpoint"
note "3 ranks refused: $(cat "$work/three.log")"
cp -a "$work/a" "$work/b"
cp "$work/a.jsonl" "$work/b.jsonl"

# A
run "$work/resume-a.log" 2 train --resume "$work/a"
grep -q "ranks 2 x batch 32 = global batch 64, 8 steps/epoch, 2 epochs" "$work/resume-a.log" ||
    fail "A: not the global batch of 64 on 2 ranks: $(cat "$work/resume-a.log")"
grep -q "changed: --batch-size 32 (was 16); ranks 2 (was 4)" "$work/resume-a.log" || fail "A: changes: $(cat "$work/resume-a.log")"
[ "$(readlink "$work/a/latest")" = step-00000016 ] || fail "A: ended at $(readlink "$work/a/latest"), expected step-00000016"
[ "$(steps_of "$work/a.jsonl")" = "8 16 " ] || fail "A: epochs at steps $(steps_of "$work/a.jsonl"), expected 8 16"
note "A: 4 ranks x 16 resumed as 2 x 32 at step 11, ended at step 16"

# B
run "$work/resume-b.log" 2 train --resume "$work/b" --metrics "$work/b.jsonl" --batch-size 16
grep -q "ranks 2 x batch 16 x accumulate 2 micro-batches = global batch 64, 8 steps/epoch" "$work/resume-b.log" ||
    fail "B: not 2 x 16 x 2: $(cat "$work/resume-b.log")"
[ "$(readlink "$work/b/latest")" = step-00000016 ] || fail "B: ended at $(readlink "$work/b/latest"), expected step-00000016"
[ "$(steps_of "$work/b.jsonl")" = "8 16 " ] || fail "B: epochs at steps $(steps_of "$work/b.jsonl"), expected 8 16"
note "B: resumed as 2 x 16 x accumulate 2, ended at step 16"

# C
"$python" - "$work/straight/latest/model.safetensors" "$work/a/latest/model.safetensors" "$work/b/latest/model.safetensors" <<'PY' ||
import json, struct, sys
def tensors(path):
    b = open(path, "rb").read(); n = struct.unpack("<Q", b[:8])[0]
    header = json.loads(b[8:8 + n]); header.pop("__metadata__", None)
    out = {}
    for name, t in header.items():
        lo, hi = t["data_offsets"]
        raw = b[8 + n + lo:8 + n + hi]
        out[name] = struct.unpack("<%df" % (len(raw) // 4), raw)
    return out
straight = tensors(sys.argv[1])
for path in sys.argv[2:]:
    other = tensors(path)
    assert other.keys() == straight.keys(), path
    worst = max(abs(x - y) for k in straight for x, y in zip(straight[k], other[k]))
    print("%s: max parameter difference %.3g" % (path, worst))
    assert worst < 1e-5, (path, worst)
PY
    fail "C: a resumed run does not end where the uninterrupted one does"
note "passed"
