#!/usr/bin/env bash
# Benchmark (not a test): our allreduce vs MPI_Allreduce under mpirun -n 2, 3, 4 (RANKS="..." to
# change), each preceded by the C peer (Open MPI's MPI_Allreduce alone, ../shared/peers/
# mpi_allreduce_bw.c; PEER=path to change). Extra arguments go to `ddp bench allreduce`.
# The machine may be shared: the load average is printed first; compare medians from quiet runs.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x /opt/swift/usr/bin/swift ] && export PATH="/opt/swift/usr/bin:$PATH"

peer="${PEER:-../shared/peers/mpi_allreduce_bw.c}"
[ -f "$peer" ] || { echo "bench_allreduce: C peer not found at $peer (set PEER=...)" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mpicc -O2 "$peer" -o "$work/mpi_allreduce_bw"

swift build -c release 2>&1 | grep -Ev '^\[[0-9]+/[0-9]+\]' || true
test "${PIPESTATUS[0]}" -eq 0
ddp="$(swift build -c release --show-bin-path)/ddp"

mpirun=(mpirun --oversubscribe --mca btl_vader_single_copy_mechanism none)
[ "$(id -u)" -eq 0 ] && mpirun+=(--allow-run-as-root)

echo "load: $(uptime)"
for ranks in ${RANKS:-2 3 4}; do
    echo "== $ranks ranks: C peer (MPI_Allreduce alone)"
    "${mpirun[@]}" -n "$ranks" "$work/mpi_allreduce_bw"
    echo "== $ranks ranks: ddp bench allreduce"
    "${mpirun[@]}" -n "$ranks" "$ddp" bench allreduce --sizes 4K,64K,256K,1M,4M,16M,64M "$@"
done
