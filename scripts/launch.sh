#!/usr/bin/env bash
# Starts ddp (or another MPI program) under OpenMPI's mpirun with the flags this project needs,
# on this host, on the hosts of a hostfile, or in a SLURM allocation. See docs/CLUSTER.md.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
source "$repo/scripts/lib/elastic.sh"

usage() {
    cat <<'EOF'
usage: scripts/launch.sh [-n P] [--hostfile FILE] [--iface NAME|CIDR] [--tcp] [--bind-to POLICY]
                         [--mca KEY VALUE]... [--max-restarts K] [--program PATH] [--dry-run]
                         -- <ddp args>

  -n P              number of ranks (default under SLURM: $SLURM_NTASKS; required otherwise)
  --hostfile FILE   OpenMPI hostfile, lines "HOST slots=N" ('#' comments); the ddp binary
                    must be at the same path on every host (shared file system)
  --iface NAME|CIDR network for MPI traffic and mpirun's control channel, e.g. eth1 or
                    10.1.0.0/16 (btl_tcp_if_include + oob_tcp_if_include)
  --tcp             TCP between all ranks, also those on one host (btl tcp,self)
  --bind-to POLICY  mpirun process binding (default none: each rank's BLAS threads need
                    more than the one core mpirun would bind it to)
  --sigkill-timeout S
                    when mpirun gets SIGTERM or SIGINT (Ctrl-C), it waits S seconds, sends
                    the ranks SIGTERM, waits S seconds more, then SIGKILLs them (MCA
                    odls_base_sigkill_timeout; Open MPI's default 1 s is too short for ddp
                    to finish the step and write its checkpoint). Default 5, or
                    $DDP_SIGKILL_TIMEOUT. mpirun runs the same two waits in full whenever
                    it ends a job early (a rank died or exited nonzero, as ddp does after
                    any error or stop); kill -USR1 <mpirun> reaches the ranks at once
  --mca KEY VALUE   extra MCA parameter for mpirun (repeatable; wins over launch.sh's own)
  --max-restarts K  when the job fails (a rank or host died, a rank hung past ddp's --timeout,
                    mpirun or a rank was signalled), start it again from the latest checkpoint
                    of its --checkpoint-dir, up to K times, on the hostfile's hosts that still
                    answer (each probed with mpirun's rsh agent) and as many ranks as their
                    slots and the global batch allow; each restart is one line on stderr.
                    A signal to launch.sh itself stops the job without a restart. 'ddp train'
                    only (default 0: no restarts; see scripts/lib/elastic.sh)
  --program PATH    run PATH instead of ddp (e.g. an MPI check program)
  --dry-run         print the mpirun command instead of running it

Before mpirun starts the ranks, ddp checks its arguments once (ddp --check-args, as rank 0
of P): a typo, a bad value or a resume that cannot go on is one line and exit status 64 at
once, not one error per rank after the job started. A usage error of launch.sh itself
exits 64 too.

Adds --oversubscribe when P exceeds the slots (hostfile / SLURM) or this host's cores,
--allow-run-as-root when root, and exports OPENBLAS_*, OMP_NUM_THREADS and DDP_* to the
ranks. Without OPENBLAS_NUM_THREADS each rank of ddp sets its BLAS threads to its node's
cores / OMPI_COMM_WORLD_LOCAL_SIZE.
EOF
}
fail() { echo "launch.sh: $*" >&2; echo "run 'scripts/launch.sh --help' for usage" >&2; exit 64; }
is_count() { [[ "$1" =~ ^[1-9][0-9]*$ ]]; }

# hostfile_slots FILE: the ranks FILE's hosts hold, or "error: WHY" and a failure.
# A line without slots= gets the node's core count from mpirun; unknown here, so count it as
# one slot: at worst --oversubscribe is added needlessly, which only permits, never forces.
hostfile_slots() {
    local total
    total="$(awk -v file="$1" '
        { sub(/#.*/, "") }
        NF == 0 { next }
        { n = 1
          for (i = 2; i <= NF; i++) if ($i ~ /^slots=/) { n = substr($i, 7)
              if (n !~ /^[0-9]+$/) { printf "error: hostfile %s, line %d: slots must be a number, got \"%s\"\n", file, NR, n; bad = 1; exit } }
          total += n; hosts++ }
        END { if (bad) exit; if (hosts == 0) printf "error: hostfile %s lists no hosts (expected lines \"HOST slots=N\")\n", file; else print total }
    ' "$1")"
    echo "$total"
    [[ "$total" != error:* ]]
}

ranks=""; hostfile=""; iface=""; tcp=0; bind_to="none"; program=""; dry_run=0; max_restarts=0
sigkill_timeout="${DDP_SIGKILL_TIMEOUT:-5}"
mca_keys=(); mca_values=()
while [ $# -gt 0 ]; do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        -n|-np) [ $# -ge 2 ] || fail "$1 needs a number of ranks"; ranks="$2"; shift 2 ;;
        --hostfile) [ $# -ge 2 ] || fail "--hostfile needs a file"; hostfile="$2"; shift 2 ;;
        --iface) [ $# -ge 2 ] || fail "--iface needs an interface name or CIDR subnet"; iface="$2"; shift 2 ;;
        --tcp) tcp=1; shift ;;
        --bind-to) [ $# -ge 2 ] || fail "--bind-to needs a policy (none, core, socket, ...)"; bind_to="$2"; shift 2 ;;
        --sigkill-timeout) [ $# -ge 2 ] || fail "--sigkill-timeout needs a number of seconds"; sigkill_timeout="$2"; shift 2 ;;
        --mca) [ $# -ge 3 ] || fail "--mca needs KEY VALUE"; mca_keys+=("$2"); mca_values+=("$3"); shift 3 ;;
        --max-restarts) [ $# -ge 2 ] || fail "--max-restarts needs a number"; max_restarts="$2"; shift 2 ;;
        --program) [ $# -ge 2 ] || fail "--program needs a path"; program="$2"; shift 2 ;;
        --dry-run) dry_run=1; shift ;;
        --) shift; break ;;
        *) fail "unknown option '$1' (ddp's own arguments go after '--')" ;;
    esac
done
program_args=("$@")

# ---- ranks and capacity (slots) ------------------------------------------------------------
in_slurm=0; [ -n "${SLURM_JOB_ID:-}" ] && in_slurm=1
capacity=""; capacity_what=""
if [ -n "$hostfile" ]; then
    [ -f "$hostfile" ] && [ -r "$hostfile" ] || fail "hostfile '$hostfile' does not exist or is not readable"
    hostfile="$(cd "$(dirname "$hostfile")" && pwd)/$(basename "$hostfile")"
    capacity="$(hostfile_slots "$hostfile")" || fail "${capacity#error: }"
    capacity_what="slots in $hostfile"
elif [ $in_slurm = 1 ]; then
    # SLURM_TASKS_PER_NODE looks like "2(x3),1": 2 tasks on each of 3 nodes, then 1.
    if [ -n "${SLURM_TASKS_PER_NODE:-}" ]; then
        capacity=0
        IFS=',' read -ra groups <<< "$SLURM_TASKS_PER_NODE"
        for g in "${groups[@]}"; do
            if [[ "$g" =~ ^([0-9]+)\(x([0-9]+)\)$ ]]; then capacity=$((capacity + BASH_REMATCH[1] * BASH_REMATCH[2]))
            elif [[ "$g" =~ ^[0-9]+$ ]]; then capacity=$((capacity + g))
            else fail "cannot read SLURM_TASKS_PER_NODE='$SLURM_TASKS_PER_NODE'"; fi
        done
    else
        capacity="${SLURM_NTASKS:-}"
    fi
    capacity_what="tasks in SLURM job $SLURM_JOB_ID"
else
    capacity="$(nproc)"
    capacity_what="cores on $(hostname)"
fi
if [ -z "$ranks" ]; then
    if [ $in_slurm = 1 ] && [ -n "${SLURM_NTASKS:-}" ]; then ranks="$SLURM_NTASKS"
    elif [ $in_slurm = 1 ] && [ -n "$capacity" ]; then ranks="$capacity"
    else fail "-n P is required (number of ranks) outside a SLURM job"; fi
fi
is_count "$ranks" || fail "-n expects a positive number of ranks, got '$ranks'"
[[ "$max_restarts" =~ ^[0-9]+$ ]] || fail "--max-restarts expects a number of restarts >= 0, got '$max_restarts'"
[[ "$sigkill_timeout" =~ ^[0-9]+$ ]] ||
    fail "--sigkill-timeout / DDP_SIGKILL_TIMEOUT expects whole seconds >= 0, got '$sigkill_timeout'"

# ---- the program ---------------------------------------------------------------------------
if [ -z "$program" ]; then
    if ! command -v swift >/dev/null; then
        for d in /opt/swift/usr/bin /usr/share/swift/usr/bin; do [ -x "$d/swift" ] && PATH="$d:$PATH"; done
    fi
    command -v swift >/dev/null || fail "swift not found (needed to locate the ddp build); use --program PATH"
    program="$(cd "$repo" && swift build -c release --show-bin-path)/ddp"
    if [ ! -x "$program" ] && [ $dry_run = 0 ]; then
        echo "launch.sh: $program missing; building (swift build -c release --product ddp)" >&2
        (cd "$repo" && swift build -c release --product ddp >&2)
    fi
else
    # Ranks on other hosts start in the home directory: hand them an absolute path.
    if [[ "$program" != */* ]]; then
        resolved="$(command -v "$program" || true)"
        [ -n "$resolved" ] || [ $dry_run = 1 ] || fail "--program '$program' is not on PATH"
        program="${resolved:-$program}"
    elif [[ "$program" != /* ]]; then
        program="$PWD/$program"
    fi
    [ $dry_run = 1 ] || [ -x "$program" ] || fail "--program '$program' is not an executable file"
fi

[ "$max_restarts" = 0 ] || elastic_check

# ---- the mpirun command --------------------------------------------------------------------
# mca KEY VALUE: launch.sh's defaults, each dropped when the user gave the same key.
mca() {
    local k
    for k in "${mca_keys[@]+"${mca_keys[@]}"}"; do [ "$k" = "$1" ] && return 0; done
    cmd+=(--mca "$1" "$2")
}

# build_cmd P HOSTFILE ARGS...: cmd = mpirun starting P ranks of $program ARGS on HOSTFILE's
# hosts (this host, or SLURM's, when empty).
build_cmd() {
    local p="$1" hosts="$2" slots="$capacity" i name
    shift 2
    [ -n "$hosts" ] && slots="$(hostfile_slots "$hosts")"
    cmd=(mpirun -n "$p")
    [ -n "$hosts" ] && cmd+=(--hostfile "$hosts")
    [ -n "$slots" ] && [ "$p" -gt "$slots" ] && cmd+=(--oversubscribe)
    if [ "$(id -u)" = 0 ] && ! { [ "${OMPI_ALLOW_RUN_AS_ROOT:-}" = 1 ] && [ "${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM:-}" = 1 ]; }; then
        cmd+=(--allow-run-as-root)
    fi
    cmd+=(--bind-to "$bind_to")
    # Containers usually forbid the cross-memory attach (ptrace) that vader's single copy uses.
    mca btl_vader_single_copy_mechanism none
    # On SIGTERM or SIGINT (kill, Ctrl-C, a scheduler) Open MPI 4.1's mpirun runs
    # odls_base_default_kill_local_procs: SIGCONT to the ranks, sleep(T), SIGTERM, sleep(T),
    # SIGKILL, with T = odls_base_sigkill_timeout (default 1; SIGTERM cannot be forwarded as is
    # through ess_base_forward_signals). ddp stops on SIGTERM at the end of the step and writes a
    # checkpoint, which can take more than 1 s on a loaded node. mpirun sleeps both waits in full,
    # and it runs the same sequence whenever it ends a job early: a rank that died, MPI_Abort, or
    # ranks exiting nonzero (a clean stop by signal exits 128 + signal, an error 1), and
    # orte_abort_on_non_zero_status=0 would hide those statuses (mpirun then exits 0). So T is a
    # trade-off between the ranks' time to act and how long every such end takes (2T): 5 s is
    # several times a step and a checkpoint of the models here (well under a second each), and a
    # failed or stopped job returns about 10 s after its ranks are done.
    mca odls_base_sigkill_timeout "$sigkill_timeout"
    # A host that dies sends nothing (no FIN, no RST): its control connection to mpirun just goes
    # quiet, and mpirun, whose other ranks are gone by then, waits until TCP keepalive gives up
    # on it, 300 + 9 x 20 s by default (65-300 s measured with a namespace "host" killed). 5 s
    # idle, then 3 probes 2 s apart: a host silent for 11 s is lost. A live host's kernel
    # answers the probes however busy its ranks are.
    mca oob_tcp_keepalive_time 5
    mca oob_tcp_keepalive_intvl 2
    mca oob_tcp_keepalive_probes 3
    [ $tcp = 1 ] && mca btl tcp,self
    if [ -n "$iface" ]; then
        mca btl_tcp_if_include "$iface"
        mca oob_tcp_if_include "$iface"
    fi
    for i in "${!mca_keys[@]}"; do cmd+=(--mca "${mca_keys[$i]}" "${mca_values[$i]}"); done
    # Environment for the ranks: only what the user set explicitly (remote ranks do not inherit it).
    while IFS= read -r name; do
        cmd+=(-x "$name")
    done < <(compgen -e | grep -E '^(OPENBLAS_[A-Z_]+|OMP_NUM_THREADS|DDP_[A-Z0-9_]+)$' | grep -vx DDP_SIGKILL_TIMEOUT | sort)
    cmd+=("$program" "$@")
}
build_cmd "$ranks" "$hostfile" "${program_args[@]+"${program_args[@]}"}"

if [ $dry_run = 1 ]; then
    # Shell-quoted only where needed, so the line reads like what one would type (and tests can
    # grep it): "--mca btl tcp,self" rather than printf %q's "tcp\,self".
    line=""
    for word in "${cmd[@]}"; do
        if [[ "$word" =~ ^[A-Za-z0-9_./,:=+@%^-]+$ ]]; then line+="$word "
        else line+="'${word//\'/\'\\\'\'}' "; fi
    done
    echo "${line% }"
    exit 0
fi
command -v mpirun >/dev/null || fail "mpirun not found (install openmpi-bin: scripts/setup.sh)"
if [ "$(basename "$program")" = ddp ]; then
    # ddp's own parse and checks, once, as rank 0 of this launch would make them. It prints
    # nothing when the job can start; help or version output means there is nothing to launch.
    checked="$(OMPI_COMM_WORLD_SIZE="$ranks" OMPI_COMM_WORLD_RANK=0 "$program" --check-args "${program_args[@]+"${program_args[@]}"}")" || exit $?
    if [ -n "$checked" ]; then printf '%s\n' "$checked"; exit 0; fi
fi
[ -n "$capacity" ] && [ "$ranks" -gt "$capacity" ] &&
    echo "launch.sh: $ranks ranks > $capacity $capacity_what: oversubscribing" >&2
[ "$max_restarts" = 0 ] || elastic_launch "$max_restarts"
exec "${cmd[@]}"
