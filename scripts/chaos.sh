#!/usr/bin/env bash
# Soak test of elastic restarts (issue 18), run by hand, not by scripts/test.sh: one training run
# under scripts/launch.sh --max-restarts, on this host at a fixed world size, takes FAULTS random
# faults, one per attempt, each after a random 5-40 steps of that attempt:
#   kill  SIGKILL of a random rank              -> mpirun ends the job; restart from the last
#                                                  epoch checkpoint
#   stop  SIGSTOP of a random rank, left stopped -> the others give up on it after ddp's
#                                                  --timeout; mpirun ends the job; restart
#   term  SIGTERM to mpirun                     -> the ranks stop at the end of the step and write
#                                                  a checkpoint; restart from it
# The run must still finish, and its last checkpoint must be byte-identical to the same run
# never interrupted. Prints one line per fault (what, where, how long until training again)
# and a summary.
#
# usage: scripts/chaos.sh [--faults N] [--seed S] [--ranks P] [--keep]
#   --faults N  faults to inject (default 20)     --seed S  choice of faults and moments (default 1)
#   --ranks P   world size (default 3)            --keep    keep the work directory
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
faults=20; seed=1; ranks=3; keep=0
while [ $# -gt 0 ]; do
    case "$1" in
        --faults|--seed|--ranks) [ $# -ge 2 ] && [[ "$2" =~ ^[0-9]+$ ]] || { echo "chaos.sh: $1 needs a number" >&2; exit 64; } ;;&
        --faults) faults="$2"; shift 2 ;;
        --seed) seed="$2"; shift 2 ;;
        --ranks) ranks="$2"; shift 2 ;;
        --keep) keep=1; shift ;;
        -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "chaos.sh: unknown argument '$1'" >&2; exit 64 ;;
    esac
done
[ "$ranks" -ge 2 ] || { echo "chaos.sh: --ranks must be at least 2" >&2; exit 64; }
[ -x /opt/swift/usr/bin/swift ] && export PATH="/opt/swift/usr/bin:$PATH"
(cd "$repo" && swift build -c release --product ddp 2>&1 | grep -Ev '^\[[0-9]+/[0-9]+\]' || true)
ddp="$(cd "$repo" && swift build -c release --show-bin-path)/ddp"
work="$(mktemp -d /tmp/ddp-chaos.XXXXXX)"
launcher=""
finish() {
    [ -n "$launcher" ] && kill -TERM "$launcher" 2> /dev/null
    pkill -CONT -f "$work/" 2> /dev/null || true
    if [ $keep = 1 ]; then echo "chaos.sh: kept $work"; else rm -rf "$work"; fi
}
trap finish EXIT
RANDOM="$seed"

# 1920 images over P ranks x 32 per step (20 steps per epoch at 3 ranks); 150 epochs, so that
# the run outlasts the faults (each gains at most 40 steps, plus what the ranks train in the
# --sigkill-timeout between a SIGTERM to mpirun and its SIGTERM to them, about 200 here). --timeout 8: a stopped rank is given up
# on within seconds. launch.sh's --sigkill-timeout 3 gives a stopped job 6 s to end.
args=(train --model lenet5 --epochs 150 --batch-size 32 --train-subset 1920 --seed 7 --timeout 8 --log-every 1 --quiet)
launch=("$repo/scripts/launch.sh" --program "$ddp" --sigkill-timeout 3 -n "$ranks")
metrics="$work/chaos.jsonl"

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
# attempts: the attempts that have started training (a "run" line each); attempt_steps: the steps
# the last one has logged; last_step: the global step of its last line.
attempts() { grep -c '"event":"run"' "$metrics" 2> /dev/null || echo 0; }
attempt_steps() { awk '/"event":"run"/ { n = 0 } /"event":"step"/ { n++ } END { print n + 0 }' "$metrics" 2> /dev/null || echo 0; }
last_step() { sed -n 's/^{"event":"step",.*"step":\([0-9]*\),.*/\1/p' "$metrics" | tail -1; }
rank_pid() {
    local mpirun child
    mpirun="$(pgrep -P "$launcher" -x mpirun)" || return 1
    for child in $(pgrep -P "$mpirun"); do
        tr '\0' '\n' < "/proc/$child/environ" 2> /dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$1" && { echo "$child"; return 0; }
    done
    return 1
}
# wait_until SECONDS CONDITION...: polls CONDITION; false if SECONDS pass or the launcher ends.
wait_until() {
    local deadline; deadline=$(( $(date +%s) + $1 )); shift
    until "$@"; do
        kill -0 "$launcher" 2> /dev/null && [ "$(date +%s)" -lt "$deadline" ] || return 1
        sleep 0.05
    done
}
steps_reached() { [ "$(attempts)" -eq "$1" ] && [ "$(attempt_steps)" -ge "$2" ]; }

started="$(now)"
"${launch[@]}" --max-restarts "$faults" -- "${args[@]}" --checkpoint-dir "$work/run" --metrics "$metrics" \
    > "$work/chaos.log" 2>&1 &
launcher=$!
declare -A kinds=()
injected=0
for ((i = 1; i <= faults; i++)); do
    after=$((5 + RANDOM % 36))
    wait_until 300 steps_reached "$i" "$after" || break
    kind="$(echo kill stop term | cut -d' ' -f$((1 + RANDOM % 3)))"
    rank=$((RANDOM % ranks))
    case "$kind" in
        kill) pid="$(rank_pid "$rank")" && kill -KILL "$pid" || continue; what="SIGKILL to rank $rank" ;;
        stop) pid="$(rank_pid "$rank")" && kill -STOP "$pid" || continue; what="SIGSTOP to rank $rank" ;;
        term) kill -TERM "$(pgrep -P "$launcher" -x mpirun)" || continue; what="SIGTERM to mpirun" ;;
    esac
    at="$(now)"; step="$(last_step)"
    injected=$((injected + 1)); kinds[$kind]=$(( ${kinds[$kind]:-0} + 1 ))
    if wait_until 120 steps_reached $((i + 1)) 1; then back="training again after $(since "$at") s"
    else back="no new attempt trained within 120 s"; fi
    resumed="$(grep "restart $i/" "$work/chaos.log" | sed 's/.*resuming [^ ]* from \([^ ]*\).*/\1/' || true)"
    printf 'fault %2d/%d: %-17s at step %4s; resumed from %s; %s\n' "$i" "$faults" "$what" "$step" "${resumed:-?}" "$back"
done
status=0; wait "$launcher" || status=$?
launcher=""
took="$(since "$started")"
[ "$status" -eq 0 ] || { tail -20 "$work/chaos.log"; echo "chaos.sh: FAILED: the run under faults ended with exit $status" >&2; exit 1; }

straight_started="$(now)"
"${launch[@]}" -- "${args[@]}" --checkpoint-dir "$work/straight" --metrics "$work/straight.jsonl" > "$work/straight.log" 2>&1 ||
    { cat "$work/straight.log"; echo "chaos.sh: FAILED: the uninterrupted run failed" >&2; exit 1; }
straight_took="$(since "$straight_started")"
same=1
for f in model.safetensors trainer.safetensors; do cmp -s "$work/run/latest/$f" "$work/straight/latest/$f" || same=0; done
echo "faults: $injected of $faults injected (kill ${kinds[kill]:-0}, stop ${kinds[stop]:-0}, term ${kinds[term]:-0}); restarts: $(grep -c 'restart [0-9]*/' "$work/chaos.log")"
echo "run under faults: $took s; uninterrupted: $straight_took s; both end at $(readlink "$work/run/latest") / $(readlink "$work/straight/latest")"
if [ $same = 1 ] && [ "$injected" -eq "$faults" ]; then
    echo "chaos.sh: passed: the last checkpoint is byte-identical to the uninterrupted run's"
else
    [ $same = 1 ] || echo "chaos.sh: FAILED: the last checkpoint differs from the uninterrupted run's" >&2
    [ "$injected" -eq "$faults" ] || echo "chaos.sh: FAILED: only $injected of $faults faults were injected" >&2
    exit 1
fi
