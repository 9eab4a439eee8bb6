#!/usr/bin/env bash
# scripts/launch.sh --dry-run: the mpirun flags it derives from ranks, cores, hostfile slots,
# SLURM variables, root, environment and options; and its usage errors (exit 64, one clear line).
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
launch="$repo/scripts/launch.sh"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cores="$(nproc)"
failures=0

# The SLURM and OpenMPI variables of the caller must not leak into the cases.
for v in $(compgen -e | grep -E '^(SLURM_|OMPI_ALLOW_|OPENBLAS_|OMP_NUM_THREADS$|DDP_)'); do unset "$v"; done

# expect NAME [+WORD | -WORD]... -- LAUNCH ARGS: the printed command contains every +WORD
# (a fragment such as "--mca btl tcp,self") and none of the -WORD.
expect() {
    local name="$1"; shift
    local want=() not=()
    while [ "$1" != "--" ]; do
        case "$1" in +*) want+=("${1#+}") ;; -*) not+=("${1#-}") ;; esac
        shift
    done
    shift
    local line
    line="$("$@")" || { echo "FAIL $name: exit $?"; failures=$((failures + 1)); return; }
    for w in "${want[@]+"${want[@]}"}"; do
        [[ " $line " == *" $w "* ]] || { echo "FAIL $name: missing '$w' in: $line"; failures=$((failures + 1)); return; }
    done
    for w in "${not[@]+"${not[@]}"}"; do
        [[ " $line " != *" $w "* ]] || { echo "FAIL $name: unexpected '$w' in: $line"; failures=$((failures + 1)); return; }
    done
    echo "ok   $name"
}
# usage_error NAME LAUNCH ARGS: exit status 64 and one "launch.sh: ..." line naming the problem.
usage_error() {
    local name="$1"; shift
    local status=0 err
    err="$("$@" 2>&1 >/dev/null)" || status=$?
    if [ $status = 64 ] && [[ "$err" == launch.sh:* ]]; then echo "ok   $name: ${err%%$'\n'*}"
    else echo "FAIL $name: status $status, stderr: $err"; failures=$((failures + 1)); fi
}

if [ "$(id -u)" = 0 ]; then root=+--allow-run-as-root; else root=---allow-run-as-root; fi
expect "P = cores: no oversubscription" "+mpirun -n $cores" ---oversubscribe "$root" "+--bind-to none" \
    "+--mca btl_vader_single_copy_mechanism none" "+/bin/true a b" -- \
    "$launch" -n "$cores" --program /bin/true --dry-run -- a b
expect "P > cores: oversubscribe" "+-n $((cores + 1))" +--oversubscribe -- \
    "$launch" -n $((cores + 1)) --program /bin/true --dry-run
expect "ddp release binary is the default program" "+$(cd "$repo" && PATH="/opt/swift/usr/bin:$PATH" swift build -c release --show-bin-path)/ddp train --epochs 1" -- \
    env PATH="/opt/swift/usr/bin:$PATH" "$launch" -n 1 --dry-run -- train --epochs 1

printf '# two nodes\nnode1 slots=2   # first\n\nnode2 slots=3\n' > "$work/hosts"
expect "hostfile: 5 slots hold 5 ranks" "+--hostfile $work/hosts" ---oversubscribe -- \
    "$launch" -n 5 --hostfile "$work/hosts" --program /bin/true --dry-run
expect "hostfile: 6 ranks > 5 slots" +--oversubscribe -- \
    "$launch" -n 6 --hostfile "$work/hosts" --program /bin/true --dry-run
printf 'node1\nnode2\n' > "$work/noslots"
expect "hostfile lines without slots count 1 each" +--oversubscribe -- \
    "$launch" -n 3 --hostfile "$work/noslots" --program /bin/true --dry-run

expect "SLURM: -n from SLURM_NTASKS, no hostfile" "+mpirun -n 6" ---oversubscribe ---hostfile -- \
    env SLURM_JOB_ID=42 SLURM_NTASKS=6 SLURM_TASKS_PER_NODE='2(x3)' "$launch" --program /bin/true --dry-run
expect "SLURM: P above the job's tasks" "+-n 8" +--oversubscribe -- \
    env SLURM_JOB_ID=42 SLURM_TASKS_PER_NODE='2(x2),3' "$launch" -n 8 --program /bin/true --dry-run

expect "--iface, --tcp" "+--mca btl tcp,self" "+--mca btl_tcp_if_include eth1" "+--mca oob_tcp_if_include eth1" -- \
    "$launch" -n 2 --tcp --iface eth1 --program /bin/true --dry-run
expect "--mca of the user replaces a default" "+--mca btl_vader_single_copy_mechanism cma" \
    "-btl_vader_single_copy_mechanism none" -- \
    "$launch" -n 2 --mca btl_vader_single_copy_mechanism cma --program /bin/true --dry-run
expect "ranks get 5 s between mpirun's SIGTERM and its SIGKILL" "+--mca odls_base_sigkill_timeout 5" -- \
    "$launch" -n 2 --program /bin/true --dry-run
expect "--sigkill-timeout, not exported to the ranks" "+--mca odls_base_sigkill_timeout 7" "--x DDP_SIGKILL_TIMEOUT" -- \
    env DDP_SIGKILL_TIMEOUT=9 "$launch" -n 2 --sigkill-timeout 7 --program /bin/true --dry-run
expect "DDP_SIGKILL_TIMEOUT" "+--mca odls_base_sigkill_timeout 9" -- \
    env DDP_SIGKILL_TIMEOUT=9 "$launch" -n 2 --program /bin/true --dry-run
expect "a lost host is given up after 11 s of silence (TCP keepalive)" "+--mca oob_tcp_keepalive_time 5" \
    "+--mca oob_tcp_keepalive_intvl 2" "+--mca oob_tcp_keepalive_probes 3" -- "$launch" -n 2 --program /bin/true --dry-run
expect "--max-restarts: the same first command" "+mpirun -n 2" "+/bin/ddp train --checkpoint-dir /tmp/x" -- \
    "$launch" -n 2 --max-restarts 3 --program /bin/ddp --dry-run -- train --checkpoint-dir /tmp/x
expect "--bind-to" "+--bind-to core" "---bind-to none" -- "$launch" -n 2 --bind-to core --program /bin/true --dry-run
expect "exports OPENBLAS_*, OMP_NUM_THREADS, DDP_* set by the user, nothing else" \
    "+-x DDP_SEED" "+-x OMP_NUM_THREADS" "+-x OPENBLAS_CORETYPE" "+-x OPENBLAS_NUM_THREADS" "--x HOME" -- \
    env OPENBLAS_NUM_THREADS=3 OPENBLAS_CORETYPE=SkylakeX OMP_NUM_THREADS=3 DDP_SEED=1 \
    "$launch" -n 2 --program /bin/true --dry-run
expect "no BLAS thread count unless the user set one" "--x OPENBLAS_NUM_THREADS" -- \
    "$launch" -n 2 --program /bin/true --dry-run
expect "arguments with blanks are quoted" "+'a b'" "+'it'\\''s'" -- \
    "$launch" -n 1 --program /bin/true --dry-run -- "a b" "it's"
if [ "$(id -u)" = 0 ]; then
    expect "root with the OMPI_ALLOW_RUN_AS_ROOT pair: no flag needed" ---allow-run-as-root -- \
        env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "$launch" -n 1 --program /bin/true --dry-run
fi

usage_error "no -n outside SLURM" "$launch" --program /bin/true --dry-run
usage_error "-n 0" "$launch" -n 0 --program /bin/true --dry-run
usage_error "-n abc" "$launch" -n abc --program /bin/true --dry-run
usage_error "missing hostfile" "$launch" -n 2 --hostfile "$work/none" --program /bin/true --dry-run
printf 'node1 slots=two\n' > "$work/bad"
usage_error "bad slots" "$launch" -n 2 --hostfile "$work/bad" --program /bin/true --dry-run
printf '# only a comment\n' > "$work/empty"
usage_error "hostfile without hosts" "$launch" -n 2 --hostfile "$work/empty" --program /bin/true --dry-run
usage_error "unknown option" "$launch" -n 2 --frobnicate --program /bin/true
usage_error "--sigkill-timeout 1.5" "$launch" -n 2 --sigkill-timeout 1.5 --program /bin/true --dry-run
usage_error "--mca without value" "$launch" -n 2 --mca btl
usage_error "program not executable" "$launch" -n 2 --program "$work/hosts"
usage_error "--max-restarts two" "$launch" -n 2 --max-restarts two --program /bin/ddp --dry-run -- train --checkpoint-dir /tmp/x
usage_error "--max-restarts without a checkpoint directory" "$launch" -n 2 --max-restarts 2 --program /bin/ddp --dry-run -- train
usage_error "--max-restarts of another program" "$launch" -n 2 --max-restarts 2 --program /bin/true --dry-run

if [ $failures -ne 0 ]; then echo "launch_dry_run: $failures failed"; exit 1; fi
echo "launch_dry_run: passed"
