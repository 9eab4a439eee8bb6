#!/usr/bin/env bash
# Set-up, the unit tests (single process; in-process transport for multi-rank logic),
# then the multi-rank tests under mpirun.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
[ -x /opt/swift/usr/bin/swift ] && export PATH="/opt/swift/usr/bin:$PATH"

echo "== swift test"
swift test 2>&1 | tee /tmp/ddp-swift-test.log | grep -Ev '^\[[0-9]+/[0-9]+\]|^Test Case .* (started|passed)' 
test "${PIPESTATUS[0]}" -eq 0

echo "== mpirun tests"
for t in scripts/tests/*.sh; do
    [ -e "$t" ] || continue
    echo "-- $t"
    bash "$t"
done
echo "test.sh: all tests passed"
