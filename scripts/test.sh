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

echo "== multi-rank tests"
failed=() passed=0
for t in scripts/tests/*.sh; do
    [ -e "$t" ] || continue
    echo "-- $t"
    if bash "$t"; then passed=$((passed + 1)); else failed+=("$t"); fi
done
echo "scripts: $passed passed, ${#failed[@]} failed"
if ((${#failed[@]})); then
    echo "test.sh: failed: ${failed[*]}" >&2
    exit 1
fi
echo "test.sh: all tests passed"
