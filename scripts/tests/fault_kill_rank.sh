#!/usr/bin/env bash
# A crashed rank: 3 ranks train (lenet5 on 1920 Fashion-MNIST images, 20 steps per epoch, a
# checkpoint every epoch); once the first checkpoint exists, rank 1 is SIGKILLed mid-epoch. The
# job must end within 60 s with a nonzero exit and a line naming rank 1; `latest` must name a
# complete checkpoint that `ddp eval` reads; and --resume from it must end with parameters
# byte-identical to a resume from an untouched copy of it and to a run never interrupted.
name=fault_kill_rank
source "$(dirname "$0")/lib/common.sh"

args=(train --model lenet5 --epochs 3 --batch-size 32 --train-subset 1920 --seed 1 --timeout 20 --quiet)
run="$work/run"

start "$work/crash.log" 180 "${launch[@]}" -n 3 -- "${args[@]}" --checkpoint-dir "$run"
wait_for "$run/latest" 90 || fail "no first checkpoint within 90 s: $(cat "$work/crash.log")"
sleep 0.3
victim="$(rank_pid "$job" 1)" || fail "cannot find rank 1's process"
kill -KILL "$victim"
killed_at="$(now)"
finish
took="$(since "$killed_at")"
[ "$status" -ne 124 ] || fail "the job was still running 180 s after it started (hang)"
[ "$status" -ne 0 ] || fail "the job exited 0 although rank 1 was killed"
lt "$took" 60 || fail "the job took $took s to end after rank 1 was killed"
grep -Eq 'rank 1( |:)' "$work/crash.log" || fail "no line names rank 1: $(cat "$work/crash.log")"
note "rank 1 killed: job ended in $took s with exit $status; $(grep -E 'rank 1( |:)' "$work/crash.log" | head -1 | sed 's/^ *//')"

checkpoint_ok "$run"
latest="$(readlink "$run/latest")"
[ "${latest#step-}" -lt 60 ] || fail "the run finished before the kill ($latest): nothing was interrupted"
note "latest -> $latest, complete and readable by ddp eval"
leftovers="$(find "$run" -maxdepth 1 -name '.*-*' | wc -l)"

cp -a "$run" "$work/copy"
start "$work/resume.log" 180 "${launch[@]}" -n 3 -- "${args[@]}" --resume "$run" --checkpoint-dir "$run"
finish
[ "$status" -eq 0 ] || fail "--resume after the crash failed (exit $status): $(cat "$work/resume.log")"
[ "$(find "$run" -maxdepth 1 -name '.*-*' | wc -l)" -eq 0 ] || fail "temporaries of the killed writer are still in $run"
start "$work/copy.log" 180 "${launch[@]}" -n 3 -- "${args[@]}" --resume "$work/copy" --checkpoint-dir "$work/copy"
finish
[ "$status" -eq 0 ] || fail "--resume from the copy failed (exit $status): $(cat "$work/copy.log")"
start "$work/straight.log" 180 "${launch[@]}" -n 3 -- "${args[@]}" --checkpoint-dir "$work/straight"
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
