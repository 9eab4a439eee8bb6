#!/usr/bin/env bash
# The NaN guard under mpirun, 2 ranks (lenet5, synthetic 1x28x28, 64 steps per epoch): epoch 1
# trains at lr 0.05 (--no-scale-lr: as given, not doubled for the 2 ranks) and writes a
# checkpoint; the step schedule then multiplies the LR by 1e7, so epoch 2 runs at 5e5 and the
# loss or a gradient turns non-finite within a few steps. Both ranks must stop at that step
# together: the job ends well inside --timeout (a rank left in a collective would wait that
# long, then abort) with exit 1 and no abort, one message naming the epoch, the step and the LR
# that says a too-high learning rate is the usual cause and names the kept checkpoint; that
# checkpoint (the end of epoch 1) must be intact: `latest` names it, nothing newer was written,
# and `ddp eval` reads it with a finite test loss.
name=nan_guard_mpi
source "$(dirname "$0")/lib/common.sh"

run="$work/run"
args=(train --dataset synthetic --model lenet5 --epochs 3 --batch-size 32 --lr 0.05 --no-scale-lr
      --schedule step --step-epochs 1 --gamma 1e7 --seed 1 --timeout 30 --quiet --checkpoint-dir "$run")

started="$(now)"
start "$work/train.log" 180 "${launch[@]}" -n 2 -- "${args[@]}"
finish
took="$(since "$started")"
[ "$status" -ne 124 ] || fail "the job was still running after 180 s (hang): $(cat "$work/train.log")"
[ "$status" -eq 1 ] || fail "expected exit 1 from the NaN guard, got $status: $(cat "$work/train.log")"
lt "$took" 60 || fail "the job took $took s: a rank waited for its peer instead of stopping with it"
! grep -Eqi 'MPI_ABORT|rank [0-9]+ failed|timed out' "$work/train.log" ||
    fail "the ranks did not stop together: $(cat "$work/train.log")"

lines="$(ddp_lines "$work/train.log")"
[ "$(printf '%s\n' "$lines" | grep -c .)" -eq 1 ] || fail "expected one ddp line, got: $lines"
note "ended in $took s with exit $status: $lines"
for pattern in 'at epoch 2, step [0-9]+ ' 'with lr 5(00000|e\+05)' \
               'a learning rate that is too high is the usual cause' "last good checkpoint is kept at $run/step-00000064"; do
    printf '%s\n' "$lines" | grep -Eq "$pattern" || fail "the message lacks /$pattern/: $lines"
done

checkpoint_ok "$run"
[ "$(readlink "$run/latest")" = step-00000064 ] || fail "latest -> $(readlink "$run/latest"), expected step-00000064 (end of epoch 1)"
[ "$(find "$run" -maxdepth 1 -name 'step-*' | wc -l)" -eq 1 ] || fail "checkpoints after the blow-up: $(ls "$run")"
grep -Eq '"test_loss":[0-9.]+(e-?[0-9]+)?,' "$work/eval.json" || fail "eval of the kept checkpoint: $(cat "$work/eval.json")"
note "passed: latest -> step-00000064, read by ddp eval: $(cat "$work/eval.json")"
