#!/usr/bin/env bash
# A rank that stops answering without dying (SIGSTOP: mpirun sees nothing wrong): the collective
# watchdog (--timeout 5) must name it (not a neighbour waiting for it) and abort the job within
# seconds, and the checkpoint directory must stay intact.
name=fault_hang_rank
source "$(dirname "$0")/lib/common.sh"

run="$work/run"
start "$work/hang.log" 180 "${launch[@]}" -n 3 -- train --model lenet5 --epochs 20 --batch-size 32 \
    --train-subset 1920 --seed 1 --timeout 5 --quiet --checkpoint-dir "$run"
wait_for "$run/latest" 90 || fail "no first checkpoint within 90 s: $(cat "$work/hang.log")"
sleep 0.3
victim="$(rank_pid "$job" 2)" || fail "cannot find rank 2's process"
kill -STOP "$victim"
stopped_at="$(now)"
finish
took="$(since "$stopped_at")"
kill -KILL "$victim" 2>/dev/null || true   # in case mpirun left it behind, stopped
[ "$status" -ne 124 ] || fail "the job hung: still running 180 s after it started"
[ "$status" -ne 0 ] || fail "the job exited 0 although rank 2 stopped answering"
lt "$took" 40 || fail "the job took $took s to end after rank 2 stopped (watchdog 5 s)"
grep -q 'rank 2 did not answer within 5 s' "$work/hang.log" ||
    fail "no line names the silent rank 2: $(cat "$work/hang.log")"
# Rank 1 waits for rank 0, which waits for rank 2: the watchdog must follow that chain.
! grep -q 'rank [01] did not answer' "$work/hang.log" ||
    fail "a line blames a rank that was only waiting: $(cat "$work/hang.log")"
note "rank 2 stopped: job ended in $took s with exit $status; $(grep -m1 'did not answer' "$work/hang.log")"
checkpoint_ok "$run"
note "passed: latest -> $(readlink "$run/latest"), complete and readable by ddp eval"
