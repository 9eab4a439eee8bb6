#!/usr/bin/env bash
# Stopping a job with a signal, 2 ranks (lenet5, 1280 synthetic images, 20 steps per epoch):
#  A. SIGUSR1 to mpirun (forwarded as is): every rank finishes the step it is in, a checkpoint is
#     written, one line "ddp: stopped by SIGUSR1 at epoch E step S; checkpoint ... (continue
#     with: DDP train --resume RUN)", exit 138;
#     --resume from it to the end of epoch E ends byte-identical to a run of E epochs never
#     stopped (constant LR, so the planned length changes nothing else).
#  B. SIGTERM to one rank only: the same, exit 143 (the other rank learns it in the step's
#     allreduce); the resume completes.
#  C. SIGTERM to mpirun, as `kill <mpirun>` or a scheduler sends it: mpirun (Open MPI 4.1) sends
#     the ranks SIGCONT, waits odls_base_sigkill_timeout seconds, sends SIGTERM, waits as long
#     again, then SIGKILL. launch.sh sets that timeout (5 s by default),
#     so the ranks stop as in B (the line names SIGTERM, what they received), mpirun exits 1,
#     and the checkpoint resumes to the same bytes as a run never stopped.
#  D. SIGINT to mpirun (Ctrl-C: the ranks run in process groups of their own, so the terminal's
#     SIGINT reaches mpirun alone): the same as C.
name=fault_signal
source "$(dirname "$0")/lib/common.sh"

args=(train --dataset synthetic --model lenet5 --schedule constant --lr 0.02 --batch-size 32 --train-subset 1280 --seed 1 --quiet)

# stopped_run NAME SIGNAL TARGET EXIT COMPARE [SEEN [LAUNCH OPTIONS...]]: train into $work/NAME,
# send SIGNAL to TARGET (mpirun or rank1) once the first checkpoint exists, expect exit EXIT
# and the stop line naming SEEN (the signal the ranks got, SIGNAL by default); then resume to
# the end of that epoch and, with COMPARE=1, compare with a run never stopped.
stopped_run() {
    local run="$work/$1" signal="$2" target="$3" expected="$4" compare="$5" seen="${6:-$2}" pid
    local options=("${@:7}")
    start "$work/$1.log" 180 "${launch[@]}" "${options[@]+"${options[@]}"}" -n 2 -- "${args[@]}" --epochs 500 --checkpoint-dir "$run"
    wait_for "$run/latest" 90 || fail "$1: no first checkpoint within 90 s: $(cat "$work/$1.log")"
    if [ "$target" = mpirun ]; then pid="$(pgrep -P "$job" -x mpirun)"; else pid="$(rank_pid "$job" 1)"; fi
    [ -n "$pid" ] || fail "$1: cannot find the $target process"
    kill "-$signal" "$pid"
    local sent; sent="$(now)"
    finish
    local took; took="$(since "$sent")"
    [ "$status" -eq "$expected" ] || fail "$1: exit $status, expected $expected: $(cat "$work/$1.log")"
    lt "$took" 30 || fail "$1: took $took s to stop"
    local lines; lines="$(ddp_lines "$work/$1.log")"
    [ "$(echo "$lines" | wc -l)" -eq 1 ] || fail "$1: expected one line from ddp, got: $lines"
    [[ "$lines" =~ ^ddp:\ stopped\ by\ SIG$seen\ at\ epoch\ ([0-9]+)\ step\ ([0-9]+)\;\ checkpoint\ (.*)\ \(continue\ with:\ $ddp\ train\ --resume\ $run\)$ ]] ||
        fail "$1: unexpected line: $lines"
    local epoch="${BASH_REMATCH[1]}" step="${BASH_REMATCH[2]}" checkpoint="${BASH_REMATCH[3]}"
    local global=$(( (epoch - 1) * 20 + step ))
    [ "$checkpoint" = "$run/$(printf 'step-%08d' "$global")" ] || fail "$1: checkpoint $checkpoint for epoch $epoch step $step"
    [ "$(readlink "$run/latest")" = "$(basename "$checkpoint")" ] || fail "$1: latest -> $(readlink "$run/latest"), not $checkpoint"
    checkpoint_ok "$run"
    note "$1: SIG$signal to $target: exit $status after $took s; $lines"

    start "$work/$1-resume.log" 180 "${launch[@]}" -n 2 -- "${args[@]}" --epochs "$epoch" --resume "$run" --checkpoint-dir "$run"
    finish
    [ "$status" -eq 0 ] || fail "$1: --resume failed (exit $status): $(cat "$work/$1-resume.log")"
    [ "$(readlink "$run/latest")" = "$(printf 'step-%08d' $((epoch * 20)))" ] || fail "$1: the resume ended at $(readlink "$run/latest")"
    [ "$compare" = 1 ] || return 0
    start "$work/$1-straight.log" 180 "${launch[@]}" -n 2 -- "${args[@]}" --epochs "$epoch" --checkpoint-dir "$run-straight"
    finish
    [ "$status" -eq 0 ] || fail "$1: the uninterrupted run failed (exit $status): $(cat "$work/$1-straight.log")"
    for f in model.safetensors trainer.safetensors; do
        same_file "$run/latest/$f" "$run-straight/latest/$f" "$1: stopped and resumed vs never stopped"
    done
}

stopped_run usr1 USR1 mpirun 138 1
stopped_run term-rank TERM rank1 143 0

# (--epochs 500 in every case: the run must still be going when the signal arrives, which for
# the mpirun cases is a whole sigkill timeout after it is sent.)
stopped_run term-mpirun TERM mpirun 1 1 TERM --sigkill-timeout 2
stopped_run int-mpirun INT mpirun 1 1 TERM
note "passed"
