#!/usr/bin/env bash
# Stragglers named, under mpirun: 2 ranks, each bound to its own core (launch.sh --bind-to
# core), fmnist-cnn on 19200 Fashion-MNIST images (300 steps of 2 x 32), --rank-times-every 50.
#  A. Alone on their cores: both ranks' compute and wait seconds are in the epoch line and in
#     every "ranks" line, and no rank is named (their compute differs by well under 20%).
#  B. A busy loop bound to core 1 takes half of it: the rank bound there is named the straggler
#     in the epoch line's `straggler`, in every "ranks" line, in rank 0's printed ranks line and
#     in the progress line; its compute is at least 1.2x the other's and the other's wait is the
#     larger.
name=straggler_mpi
source "$(dirname "$0")/lib/common.sh"

fmnist=/usr/share/datasets/fashion-mnist
[ -e "$fmnist/train-images-idx3-ubyte.gz" ] || [ -e "$fmnist/train-images-idx3-ubyte" ] ||
    { echo "SKIP: no Fashion-MNIST in $fmnist (scripts/setup.sh installs it)"; exit 0; }
[ "$(nproc)" -ge 2 ] || { echo "SKIP: one core; a rank per core needs 2"; exit 0; }
python=/usr/bin/python3; [ -x "$python" ] || python=python3

args=(train --model fmnist-cnn --epochs 1 --batch-size 32 --train-subset 19200 --threads 1 --seed 1
      --rank-times-every 50 --timeout 120)

# check METRICS EXPECTED: EXPECTED is the straggler's rank, or "none".
check() {
    "$python" - "$1" "$2" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
expected = None if sys.argv[2] == "none" else int(sys.argv[2])
epoch = [l for l in lines if l["event"] == "epoch"][-1]
windows = [l for l in lines if l["event"] == "ranks"]
assert [w["step"] for w in windows] == [50, 100, 150, 200, 250, 300], [w["step"] for w in windows]
for l in windows + [epoch]:
    assert len(l["ranks_compute_s"]) == 2 and len(l["ranks_wait_s"]) == 2, l
    assert min(l["ranks_compute_s"]) > 0, l
c, w = epoch["ranks_compute_s"], epoch["ranks_wait_s"]
assert epoch["straggler"] == expected, (epoch["straggler"], c, w)
if expected is not None:
    assert c[expected] >= 1.2 * c[1 - expected], c
    assert w[1 - expected] > w[expected], w
    assert all(x["straggler"] == expected for x in windows), [(x["straggler"], x["ranks_compute_s"]) for x in windows]
print("compute %.1f %.1f s, wait %.1f %.1f s, straggler %s (compute ratio %.2f)"
      % (c[0], c[1], w[0], w[1], epoch["straggler"], max(c) / min(c)))
PY
}

# A
start "$work/a.log" 300 "${launch[@]}" -n 2 --bind-to core -- "${args[@]}" --metrics "$work/a.jsonl"
finish
[ "$status" -eq 0 ] || fail "A: exit $status: $(cat "$work/a.log")"
result="$(check "$work/a.jsonl" none)" || fail "A: $(tail -3 "$work/a.log")"
note "A: alone: $result"

# B: the busy loop holds core 1 from the start; the rank mpirun bound to core 1 is the one to name.
busy() { while :; do :; done; }
busy & busy_pid=$!
jobs_started+=("$busy_pid")
taskset -p -c 1 "$busy_pid" > /dev/null
start "$work/b.log" 300 "${launch[@]}" -n 2 --bind-to core -- "${args[@]}" --metrics "$work/b.jsonl"
# Open MPI may bind a rank only inside MPI_Init: read the ranks' cores once they differ.
cores=()
for _ in $(seq 200); do
    cores=()
    for rank in 0 1; do
        pid="$(rank_pid "$job" "$rank")" || break
        cores+=("$(awk '/^Cpus_allowed_list/ { print $2 }' "/proc/$pid/status" 2>/dev/null)")
    done
    [ "${#cores[@]}" -eq 2 ] && [ "${cores[0]}" != "${cores[1]}" ] && break
    sleep 0.1
done
finish
kill "$busy_pid"
[ "$status" -eq 0 ] || fail "B: exit $status: $(cat "$work/b.log")"
slow=""
for rank in 0 1; do [ "${cores[$rank]}" = 1 ] && slow=$rank; done
[ -n "$slow" ] || fail "B: no rank was bound to core 1 alone (ranks' cores: ${cores[*]})"
result="$(check "$work/b.jsonl" "$slow")" || fail "B: $(grep -E '^ranks|^step' "$work/b.log")"
grep -Eq "^ranks  compute .*  straggler: rank $slow \\(" "$work/b.log" ||
    fail "B: rank 0 printed no straggler line: $(cat "$work/b.log")"
grep -Eq "^epoch 1/1  step [0-9]+/300 .*ETA .*  straggler: rank $slow \\(" "$work/b.log" ||
    fail "B: no progress line names rank $slow: $(grep '^epoch' "$work/b.log")"
note "B: a busy loop on core 1, the core of rank $slow (ranks' cores: ${cores[*]}): $result"
