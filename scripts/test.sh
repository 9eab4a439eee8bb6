#!/usr/bin/env bash
# Set-up, the unit tests (single process; the in-process transport covers multi-rank logic),
# then every multi-rank test script under scripts/tests/ (each runs mpirun itself).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
for d in /opt/swift/usr/bin /usr/share/swift/usr/bin; do
    if ! command -v swift >/dev/null && [ -x "$d/swift" ]; then export PATH="$d:$PATH"; fi
done

echo "== swift test"
log=/tmp/ddp-swift-test.log
# Stream the output without per-test "started/passed" chatter; the status is swift test's own.
set +e
swift test 2>&1 | tee "$log" | grep --line-buffered -Ev '^\[[0-9]+/[0-9]+\] |^Test Case .* (started|passed)'
status=${PIPESTATUS[0]}
set -e
if [ "$status" -ne 0 ]; then
    echo "test.sh: swift test failed (exit $status; full log: $log)" >&2
    exit "$status"
fi

# The numerics again on the portable path (what a CPU without AVX-512 runs), on any machine:
# PyTorch fixtures, gradient checks, the P-ranks-equal-one-batch equivalence, short training
# runs with checkpoints and resume, the allocation count, and Winograd (its portable C passes).
numerics='KernelPathTests|TorchReferenceTests|PyTorchStepFixtureTests|OptimizerTests|GradientCheckTests'
numerics+='|Conv2dTests|PoolingTests|BatchNorm2dTests|SyncBatchNormTests|BasicBlockTests|LinearTests'
numerics+='|ActivationTests|ModelTests|StepAllocationTests|EquivalenceTests|CheckpointResumeTests|TrainerMetricsTests'
numerics+='|WinogradConvolutionTests|Conv2dWinogradTests'
echo "== swift test, portable kernel path (DDP_KERNELS=portable)"
set +e
DDP_KERNELS=portable swift test --skip-build --filter "$numerics" 2>&1 | tee "$log" |
    grep --line-buffered -Ev '^\[[0-9]+/[0-9]+\] |^Test Case .* (started|passed)'
status=${PIPESTATUS[0]}
set -e
if [ "$status" -ne 0 ]; then
    echo "test.sh: swift test on the portable path failed (exit $status; full log: $log)" >&2
    exit "$status"
fi

echo "== multi-rank tests"
failed=() skipped=() passed=0
out=$(mktemp)
for t in scripts/tests/*.sh; do
    [ -e "$t" ] || continue
    echo "-- $t"
    # A script that cannot run here prints "SKIP: why" and exits 0: counted apart from passes.
    if bash "$t" 2>&1 | tee "$out"; [ "${PIPESTATUS[0]}" -eq 0 ]; then
        if grep -q '^SKIP: ' "$out"; then skipped+=("$t"); else passed=$((passed + 1)); fi
    else
        failed+=("$t")
    fi
done
rm -f "$out"
echo "scripts: $passed passed, ${#skipped[@]} skipped, ${#failed[@]} failed"
((${#skipped[@]} == 0)) || echo "test.sh: skipped: ${skipped[*]}"
if ((${#failed[@]})); then
    echo "test.sh: failed: ${failed[*]}" >&2
    exit 1
fi
echo "test.sh: all tests passed"
