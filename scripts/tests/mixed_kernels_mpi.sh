#!/usr/bin/env bash
# A mixed cluster: 2 ranks of fmnist-cnn (convolutions, batch norm, max pooling, dropout, SGD
# with momentum and weight decay) where rank 1 runs the portable code of a CPU without AVX-512
# (DDP_KERNELS=portable) and rank 0 ddp's AVX-512 kernels. Their shares of each gradient round
# differently, but every rank applies the same allreduced gradient with an update that is
# bit-identical on both paths, so the parameters must stay bitwise identical: the desync check
# runs after every step of a whole epoch (32 steps), with BatchNorm per rank and with --sync-bn.
# The banner must name the mix, and the mixed run must differ from an all-AVX-512 run (else
# rank 1 did not really run the portable path). Under DDP_CONV=auto the two ranks can run
# different algorithms: they must agree on one plan that both can run (no direct kernels).
name=mixed_kernels_mpi
source "$(dirname "$0")/lib/common.sh"

"$ddp" info --json | grep -q '"kernels":"avx512' ||
    { echo "SKIP: this CPU runs the portable path only (no AVX-512): there is nothing to mix"; exit 0; }

# The program mpirun starts: ddp itself, with rank 1 forced onto the portable path.
cat > "$work/ddp-rank1-portable" <<WRAPPER
#!/bin/sh
[ "\$OMPI_COMM_WORLD_RANK" = 1 ] && export DDP_KERNELS=portable
exec "$ddp" "\$@"
WRAPPER
chmod +x "$work/ddp-rank1-portable"

args=(train --model fmnist-cnn --epochs 1 --train-subset 4096 --batch-size 64 --schedule constant
      --lr 0.05 --weight-decay 5e-4 --seed 3 --desync-check-every 1 --timeout 60)

# run NAME PROGRAM [ddp args...]: trains into $work/NAME, fails unless the run completed.
run() {
    local what="$1" program="$2"; shift 2
    start "$work/$what.log" 600 "$repo/scripts/launch.sh" --program "$program" -n 2 -- \
        "${args[@]}" --checkpoint-dir "$work/$what" "$@"
    finish
    [ "$status" -eq 0 ] || fail "$what: exit $status: $(cat "$work/$what.log")"
    [ -s "$work/$what/latest/model.safetensors" ] || fail "$what: no final checkpoint"
}

for bn in per-rank sync; do
    extra=(); [ $bn = sync ] && extra=(--sync-bn)
    run "mixed-$bn" "$work/ddp-rank1-portable" "${extra[@]+"${extra[@]}"}"
    grep -q 'kernels: mixed: avx512 on rank 0; portable on rank 1' "$work/mixed-$bn.log" ||
        fail "mixed-$bn: the banner does not name the mix: $(grep -m1 'kernels:' "$work/mixed-$bn.log")"
    ! grep -q 'differs between rank' "$work/mixed-$bn.log" || fail "mixed-$bn: $(grep -m1 differs "$work/mixed-$bn.log")"
    note "BatchNorm $bn: 32 steps, parameters identical on both ranks after every one"
done

export DDP_CONV=auto
run mixed-auto "$work/ddp-rank1-portable" --max-steps 4
unset DDP_CONV
grep -q "DDP_CONV=auto's timings" "$work/mixed-auto.log" || fail "mixed-auto: no plan in the banner: $(head -20 "$work/mixed-auto.log")"
layers=$(grep -m1 'conv layers:' "$work/mixed-auto.log")
! grep -q 'direct' <<<"$layers" || fail "mixed-auto: a layer on the direct kernels, which rank 1 cannot run: $layers"
note "DDP_CONV=auto: one plan both ranks run (${layers#*conv layers: }), in lock-step for 4 steps"

run avx512-per-rank "$ddp"
! cmp -s "$work/mixed-per-rank/latest/model.safetensors" "$work/avx512-per-rank/latest/model.safetensors" ||
    fail "the mixed run ended with the same bytes as the all-AVX-512 run: rank 1 did not run the portable path"
note "passed: mixed runs in lock-step; they differ from the all-AVX-512 run, as rounding should"
