#!/usr/bin/env bash
# A crashed rank: 3 ranks train (lenet5 on 1920 Fashion-MNIST images, 20 steps per epoch, a
# checkpoint every epoch, every step logged to a metrics file); two steps into epoch 2, rank 1
# is SIGKILLed. The metrics must show the kill came mid-epoch, past the last checkpoint. The
# job must end within 60 s with a nonzero exit, and because the death was noticed: mpirun's
# line about rank 1 (that pid, signal 9) or ddp's watchdog naming rank 1. `latest` must name
# the epoch-boundary checkpoint the run had passed, complete and read by `ddp eval`; and
# `train --resume DIR` (no other flag: the checkpoint restores them) must end byte-identical to
# a resume from an untouched copy of it (every flag repeated, as before checkpoints restored
# them) and to a run never interrupted (with the same --log-every, a setting the checkpoints
# record).
name=fault_kill_rank
source "$(dirname "$0")/lib/common.sh"

args=(train --model lenet5 --epochs 3 --batch-size 32 --train-subset 1920 --seed 1 --timeout 20 --quiet)
run="$work/run"

metrics="$work/crash.jsonl"
start "$work/crash.log" 180 "${launch[@]}" -n 3 -- "${args[@]}" --checkpoint-dir "$run" --metrics "$metrics" --log-every 1
deadline=$(( $(date +%s) + 90 ))
until [ "$(logged_step "$metrics")" -ge 22 ] 2>/dev/null; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "step 22 not reached within 90 s: $(cat "$work/crash.log")"
    sleep 0.05
done
victim="$(rank_pid "$job" 1)" || fail "cannot find rank 1's process"
kill -KILL "$victim"
killed_at="$(now)"
passed="$(logged_step "$metrics")"
finish
took="$(since "$killed_at")"
[ "$status" -ne 124 ] || fail "the job was still running 180 s after it started (hang)"
[ "$status" -ne 0 ] || fail "the job exited 0 although rank 1 was killed"
lt "$took" 60 || fail "the job took $took s to end after rank 1 was killed"
# Ended because the death was noticed, not by chance: mpirun reports the killed process, or
# ddp's collective watchdog (--timeout 20) names the rank that stopped answering.
# (mpirun prints the pid as 0 once it has reaped the process.)
noticed="$(grep -E "process rank 1 with PID [0-9]+ on node .* exited on signal 9|rank 1 did not answer within" "$work/crash.log" | head -1 | sed 's/^ *//')"
[ -n "$noticed" ] || fail "neither mpirun nor ddp reported rank 1 dead: $(cat "$work/crash.log")"
note "rank 1 killed after step $passed: job ended in $took s with exit $status; $noticed"

checkpoint_ok "$run"
latest="$(readlink "$run/latest")"
latest_step=$((10#${latest#step-}))
# Mid-epoch: the run had passed the checkpoint, at a step that is no epoch boundary.
[ $((latest_step % 20)) -eq 0 ] || fail "latest -> $latest is not an epoch-boundary checkpoint"
[ "$latest_step" -lt "$passed" ] || fail "latest -> $latest, but the run had only logged step $passed"
[ $((passed % 20)) -ne 0 ] || fail "the kill came at an epoch boundary (step $passed), not mid-epoch"
note "latest -> $latest (the run was at step $passed, mid-epoch 2), complete and readable by ddp eval"
leftovers="$(find "$run" -maxdepth 1 -name '.*-*' | wc -l)"

cp -a "$run" "$work/copy"
start "$work/resume.log" 180 "${launch[@]}" -n 3 -- train --resume "$run"
finish
[ "$status" -eq 0 ] || fail "--resume after the crash failed (exit $status): $(cat "$work/resume.log")"
[ "$(find "$run" -maxdepth 1 -name '.*-*' | wc -l)" -eq 0 ] || fail "temporaries of the killed writer are still in $run"
start "$work/copy.log" 180 "${launch[@]}" -n 3 -- "${args[@]}" --resume "$work/copy" --checkpoint-dir "$work/copy"
finish
[ "$status" -eq 0 ] || fail "--resume from the copy failed (exit $status): $(cat "$work/copy.log")"
start "$work/straight.log" 180 "${launch[@]}" -n 3 -- "${args[@]}" --checkpoint-dir "$work/straight" --log-every 1
finish
[ "$status" -eq 0 ] || fail "the uninterrupted run failed (exit $status): $(cat "$work/straight.log")"

for d in "$run" "$work/copy" "$work/straight"; do
    [ "$(readlink "$d/latest")" = step-00000060 ] || fail "$d/latest -> $(readlink "$d/latest"), expected step-00000060"
done
for f in model.safetensors trainer.safetensors; do
    same_file "$run/latest/$f" "$work/copy/latest/$f" "resume after the crash vs resume from a copy"
    same_file "$run/latest/$f" "$work/straight/latest/$f" "resume after the crash vs the uninterrupted run"
done
note "passed: crash -> resume equals the resume from a copy and the uninterrupted run, byte for byte ($leftovers temporaries of the killed writer cleaned up)"
