#!/usr/bin/env bash
# Elastic restart after a lost host (issue 18): two network namespaces act as hosts with 2 slots
# each (scripts/netns/up.sh); scripts/launch.sh --max-restarts 2 starts 4 ranks of lenet5 on
# them (3840 Fashion-MNIST images, batch 16 per rank: 60 steps per epoch, 3 epochs, a
# checkpoint every epoch, every step logged). Past the first checkpoint, host 2 dies: every
# process in its namespace is SIGKILLed and the namespace deleted, so it no longer answers.
# launch.sh must name the lost host, restart once from the epoch checkpoint on the 2 ranks the
# surviving host holds (global batch 64 kept: 2 x 16 x accumulate 2), and finish the 3 epochs;
# the final checkpoint must be byte-identical to the same command resumed by hand on 2 ranks
# from a copy of that checkpoint. Prints how long the host's death took to become training
# again. Prints "SKIP: ..." where namespaces cannot be made.
name=elastic_netns
source "$(dirname "$0")/lib/common.sh"
netns="$repo/scripts/netns"
source "$netns/common.sh"
why="$(netns_unusable)"
[ -z "$why" ] || { echo "SKIP: $name: $why"; exit 0; }

lock=/run/lock/ddp-netns.lock; [ -d /run/lock ] || lock=/tmp/ddp-netns.lock
exec 9> "$lock"
flock -w 600 9 || fail "another run holds $lock"
trap 'status=$?; cleanup; "$netns/down.sh" > /dev/null || status=1; exit $status' EXIT
"$netns/down.sh"
"$netns/up.sh" 2 --slots 2 --hostfile "$work/hostfile" > /dev/null
victim_ns="$(netns_name 1)"; victim_addr="$(netns_addr 1)"

args=(train --model lenet5 --epochs 3 --batch-size 16 --train-subset 3840 --seed 2 --threads 1 --timeout 20
      --keep-checkpoints 5 --log-every 1 --quiet)
hosts=(--hostfile "$work/hostfile" --tcp --iface "$NETNS_CIDR" --mca plm_rsh_agent "$netns/rsh-netns.sh"
       --mca mpi_yield_when_idle 1)
metrics="$work/elastic.jsonl"
# The first step logged after the restart's "run" line (the second one in the file).
restarted_step() { awk '/"event":"run"/ { runs++ } runs == 2 && /"event":"step"/ { print; exit }' "$metrics" 2> /dev/null; }

start "$work/elastic.log" 600 "${launch[@]}" "${hosts[@]}" --max-restarts 2 -n 4 -- \
    "${args[@]}" --checkpoint-dir "$work/run" --metrics "$metrics"
deadline=$(( $(date +%s) + 180 ))
until [ "$(logged_step "$metrics")" -ge 65 ] 2> /dev/null; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "step 65 not reached within 180 s: $(cat "$work/elastic.log")"
    sleep 0.05
done
[ "$(ip netns pids "$victim_ns" | wc -l)" -ge 3 ] || fail "host $victim_ns does not run its orted and 2 ranks"
kill -KILL $(ip netns pids "$victim_ns")
killed_at="$(now)"
passed="$(logged_step "$metrics")"
for _ in $(seq 50); do [ -z "$(ip netns pids "$victim_ns")" ] && break; sleep 0.1; done
ip netns delete "$victim_ns"
note "host $victim_addr ($victim_ns) killed after step $passed"

restart_after=""; training_after=""
while kill -0 "$job" 2> /dev/null; do
    [ -z "$restart_after" ] && grep -q "restart 1/2" "$work/elastic.log" && restart_after="$(since "$killed_at")"
    [ -z "$training_after" ] && [ -n "$(restarted_step)" ] && training_after="$(since "$killed_at")"
    sleep 0.05
done
finish
[ "$status" -eq 0 ] || fail "the elastic job ended with exit $status: $(cat "$work/elastic.log")"
line="$(grep "restart 1/2" "$work/elastic.log")" || fail "launch.sh logged no restart: $(cat "$work/elastic.log")"
! grep -q "restart 2/2" "$work/elastic.log" || fail "more than one restart: $(grep restart "$work/elastic.log")"
[[ "$line" == *"lost $victim_addr;"* ]] || fail "the restart does not name the lost host $victim_addr: $line"
[[ "$line" =~ from\ (step-[0-9]+)\ on\ 2\ ranks$ ]] || fail "not a resume on 2 ranks from a checkpoint: $line"
from="${BASH_REMATCH[1]}"
[ "$from" = step-00000060 ] || fail "resumed from $from, expected the epoch-1 checkpoint step-00000060"
[ "$(readlink "$work/run/latest")" = step-00000180 ] || fail "the run ended at $(readlink "$work/run/latest")"
grep -q '"ranks":2,"batch_size":16,"accumulate":2' "$metrics" || fail "the restart is not 2 x 16 x accumulate 2: $(grep '"event":"run"' "$metrics")"
note "${line#launch.sh: }"
note "killed host to the restart's launch: $restart_after s; to its first step: $training_after s"

# The same command by hand on 2 ranks of this host, from a copy of the checkpoint restarted from.
mkdir "$work/hand"
cp -a "$work/run/$from" "$work/hand/"
ln -s "$from" "$work/hand/latest"
start "$work/hand.log" 300 "${launch[@]}" -n 2 -- "${args[@]}" --checkpoint-dir "$work/hand" \
    --metrics "$work/hand.jsonl" --resume "$work/hand"
finish
[ "$status" -eq 0 ] || fail "the resume by hand failed (exit $status): $(cat "$work/hand.log")"
for f in model.safetensors trainer.safetensors; do
    same_file "$work/run/latest/$f" "$work/hand/latest/$f" "elastic restart vs resume by hand"
done
note "passed: the job lost a host mid-epoch 2, went on alone on 2 ranks and ended byte-identical to a resume by hand"
