#!/usr/bin/env bash
# Multi-rank test of AllReduce under real MPI: `ddp bench allreduce --verify` under mpirun -n 1..4
# checks our ring, recursive doubling and hierarchical allreduce (one node: shared memory only) against MPI_Allreduce (and a Double reference) on
# rank-dependent data for sizes 0, 1, P-1, P+1, odd and ~1M, plus broadcast, allgather, gradient
# buckets, the timeout and the collective-mismatch check. Exits nonzero on any mismatch or hang.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -x /opt/swift/usr/bin/swift ] && export PATH="/opt/swift/usr/bin:$PATH"

swift build -c release 2>&1 | grep -Ev '^\[[0-9]+/[0-9]+\]' || true
test "${PIPESTATUS[0]}" -eq 0
ddp="$(swift build -c release --show-bin-path)/ddp"

mpirun=(mpirun --oversubscribe --mca btl_vader_single_copy_mechanism none)
[ "$(id -u)" -eq 0 ] && mpirun+=(--allow-run-as-root)

for ranks in 1 2 3 4; do
    echo "allreduce_mpi: $ranks rank(s)"
    # A healthy run takes a few seconds; the bound turns a hang into a failure.
    if ! timeout 180 "${mpirun[@]}" -n "$ranks" "$ddp" bench allreduce --verify; then
        echo "allreduce_mpi: FAILED with $ranks rank(s)" >&2
        exit 1
    fi
done
echo "allreduce_mpi: passed on 1, 2, 3 and 4 ranks"
