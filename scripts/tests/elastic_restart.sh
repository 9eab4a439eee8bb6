#!/usr/bin/env bash
# scripts/launch.sh --max-restarts on one host, 3 ranks of lenet5 (3840 Fashion-MNIST images,
# batch 16 per rank: 80 steps per epoch, a checkpoint every epoch, every step logged):
#  A. rank 1 is SIGKILLed in epoch 2: launch.sh logs "restart 1/1", relaunches the same 3 ranks
#     from the epoch-1 checkpoint (every host answers), and the run goes on;
#  B. rank 1 is SIGKILLed again: with no restart left launch.sh gives up in one line naming
#     the run's directory, with mpirun's nonzero status;
#  C. a SIGTERM to launch.sh itself is the user's stop: it reaches the ranks through mpirun,
#     they write a checkpoint and stop, and nothing restarts.
# (The lost host is scripts/tests/elastic_netns.sh; 20 faults in one run are scripts/chaos.sh.)
name=elastic_restart
source "$(dirname "$0")/lib/common.sh"

args=(train --model lenet5 --epochs 3 --batch-size 16 --train-subset 3840 --seed 1 --timeout 20 --log-every 1 --quiet)
metrics="$work/run.jsonl"
# logged_step RUN: the last step logged by the RUN-th run of the metrics file (1: the first).
logged_step() { awk -v want="$1" '/"event":"run"/ { runs++ } runs == want && /"event":"step"/ { s = $0 }
                END { sub(/.*"step":/, "", s); sub(/,.*/, "", s); print s + 0 }' "$metrics" 2> /dev/null || echo 0; }
# wait_step RUN STEP: until the RUN-th run has logged STEP.
wait_step() {
    local deadline=$(( $(date +%s) + 120 ))
    until [ "$(logged_step "$1")" -ge "$2" ]; do
        [ "$(date +%s)" -lt "$deadline" ] || fail "run $1 did not reach step $2 within 120 s: $(cat "$work/run.log")"
        sleep 0.05
    done
}

start "$work/run.log" 300 "${launch[@]}" --max-restarts 1 -n 3 -- "${args[@]}" --checkpoint-dir "$work/run" --metrics "$metrics"
wait_step 1 90
kill -KILL "$(rank_pid "$job" 1)"
wait_step 2 95
line="$(grep "restart 1/1" "$work/run.log")" || fail "A: no restart logged: $(cat "$work/run.log")"
[[ "$line" == *"; every host answers; resuming $work/run from step-00000080 on 3 ranks" ]] ||
    fail "A: expected a resume of 3 ranks from step-00000080: $line"
note "A: ${line#launch.sh: }"

kill -KILL "$(rank_pid "$job" 1)"
finish
[ "$status" -ne 0 ] && [ "$status" -ne 124 ] || fail "B: exit $status after the second kill, expected mpirun's failure"
line="$(grep "giving up" "$work/run.log")" || fail "B: no 'giving up' line: $(cat "$work/run.log")"
[[ "$line" == *"the job failed 2 times (--max-restarts 1); last exit $status; its checkpoints are in $work/run" ]] ||
    fail "B: unexpected line: $line"
! grep -q "restart 2/" "$work/run.log" || fail "B: restarted past --max-restarts 1"
note "B: ${line#launch.sh: }"

start "$work/stop.log" 300 "${launch[@]}" --max-restarts 3 -n 3 -- "${args[@]}" --epochs 50 --checkpoint-dir "$work/stop"
wait_for "$work/stop/latest" 120 || fail "C: no checkpoint within 120 s: $(cat "$work/stop.log")"
kill -TERM "$(pgrep -P "$job")"
finish
[ "$status" -ne 0 ] && [ "$status" -ne 124 ] || fail "C: exit $status after SIGTERM to launch.sh"
grep -q "ddp: stopped by SIGTERM" "$work/stop.log" || fail "C: the ranks did not stop on SIGTERM: $(cat "$work/stop.log")"
! grep -q "launch.sh: .* restart [0-9]" "$work/stop.log" || fail "C: a stop asked for was restarted: $(grep "restart [0-9]" "$work/stop.log")"
note "C: SIGTERM to launch.sh: the ranks stopped at $(readlink "$work/stop/latest"), exit $status, no restart"
note "passed"
