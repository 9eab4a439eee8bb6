# Elastic restarts for scripts/launch.sh --max-restarts K (sourced by launch.sh, which sets
# $program, $program_args, $hostfile, $ranks, $in_slurm and the --mca arrays).
#
#   attempt 0   mpirun -n P [--hostfile H] ddp train ARGS
#      |        mpirun exits nonzero: a rank died or was killed, a host went away, a rank hung
#      |        past ddp's --timeout, someone signalled mpirun or a rank. (A signal to launch.sh
#      |        itself is the user's stop: it is passed on to mpirun and nothing restarts.)
#      v
#   probe       every host of H through mpirun's rsh agent (`AGENT HOST true`, 10 s, all at
#               once); the ones that answer make the next hostfile, the others are named
#   size        P' = P scaled to the slots that still answer (P when all answer), lowered
#               until `ddp --check-args` accepts the resume at P' ranks (the global batch must
#               be shared: ddp derives the per-rank batch or the accumulation)
#   attempt k   mpirun -n P' [--hostfile H'] ddp train ARGS --resume DIR
#      ...      up to K restarts; then launch.sh gives up with mpirun's last status.
#
# DIR is the run's --checkpoint-dir (or the run --resume named). The same ARGS are passed
# again, so settings that are not in the checkpoint (--quiet, --timeline, ...) hold, and an
# explicit --batch-size stays the per-rank batch (each surviving rank needs no more memory;
# ddp accumulates micro-batches to keep the global batch). Before DIR holds a checkpoint the
# run starts over with --overwrite: it replaces only the failed attempt's own outputs.

# arg_value NAME ARGS...: the value of the last `NAME V` or `NAME=V` in ARGS, or nothing.
arg_value() {
    local name="$1" value="" previous="" word
    shift
    for word in "$@"; do
        [ "$previous" = "$name" ] && value="$word"
        [[ "$word" == "$name="* ]] && value="${word#*=}"
        previous="$word"
    done
    printf '%s' "$value"
}

# elastic_run_dir: the directory the run writes its checkpoints to, or nothing.
elastic_run_dir() {
    local dir resumed
    dir="$(arg_value --checkpoint-dir "${program_args[@]}")"
    if [ -z "$dir" ]; then
        resumed="$(arg_value --resume "${program_args[@]}")"
        # --resume of one checkpoint (DIR/step-N) continues in its run directory, as ddp does.
        if [ -n "$resumed" ] && [ ! -e "$resumed/latest" ] && [ -f "$resumed/model.safetensors" ]; then
            dir="$(dirname "$resumed")"
        else
            dir="$resumed"
        fi
    fi
    printf '%s' "$dir"
}

# elastic_check: refuses (exit 64) what cannot be restarted.
elastic_check() {
    [ "$(basename "$program")" = ddp ] && [ "${program_args[0]:-}" = train ] ||
        fail "--max-restarts restarts 'ddp train' runs from their checkpoints; the command is '$(basename "$program")${program_args[0]:+ ${program_args[0]}}'"
    [ -n "$(elastic_run_dir)" ] ||
        fail "--max-restarts needs --checkpoint-dir DIR (or --resume DIR): a restart goes on from DIR's latest checkpoint"
}

# restart_args: next_args = the command for the next attempt (see the top of this file).
restart_args() {
    local dir word skip=0
    dir="$(elastic_run_dir)"
    if [ ! -e "$dir/latest" ]; then
        next_args=("${program_args[@]}")
        [ -n "$(arg_value --resume "${program_args[@]}")" ] || next_args+=(--overwrite)
        return
    fi
    next_args=()
    for word in "${program_args[@]}"; do
        if [ $skip = 1 ]; then skip=0; continue; fi
        case "$word" in
            --resume|--init-from) skip=1 ;;
            --resume=*|--init-from=*|--overwrite) ;;
            *) next_args+=("$word") ;;
        esac
    done
    next_args+=(--resume "$dir")
}

# rsh_agent: how mpirun reaches other hosts (its plm_rsh_agent; Open MPI's default is ssh).
rsh_agent() {
    local i
    for i in "${!mca_keys[@]}"; do
        [ "${mca_keys[$i]}" = plm_rsh_agent ] && { printf '%s' "${mca_values[$i]%% : *}"; return; }
    done
    printf '%s' "ssh -o BatchMode=yes -o ConnectTimeout=5"
}

# is_this_host NAME: mpirun starts ranks on this host without the agent.
is_this_host() {
    case "$1" in
        localhost|127.*|::1|"$(hostname)"|"$(hostname -s 2>/dev/null)"|"$(hostname -f 2>/dev/null)") return 0 ;;
    esac
    return 1
}

# probe_hosts FROM TO: writes to TO the lines of hostfile FROM whose host answers; sets
# lost_hosts to the others.
probe_hosts() {
    local agent line host i
    local -a lines=() hosts=() pids=()
    agent="$(rsh_agent)"
    while IFS= read -r line; do
        line="${line%%#*}"
        read -r host _ <<< "$line" || true
        [ -n "$host" ] || continue
        if is_this_host "$host"; then true & else
            # shellcheck disable=SC2086  # the agent is a command line, e.g. "ssh -o X=Y"
            timeout 10 $agent "$host" true < /dev/null > /dev/null 2>&1 &
        fi
        lines+=("$line"); hosts+=("$host"); pids+=($!)
    done < "$1"
    lost_hosts=()
    : > "$2"
    for i in "${!pids[@]}"; do
        if wait "${pids[$i]}"; then echo "${lines[$i]}" >> "$2"; else lost_hosts+=("${hosts[$i]}"); fi
    done
}

# resume_ranks MAX: sets world to the largest P' <= MAX at which ddp accepts next_args, or to
# nothing, with ddp's last refusal (at 1 rank: not a matter of world size) in $refusal.
resume_ranks() {
    local p
    world=""; refusal=""
    for ((p = $1; p >= 1; p--)); do
        if refusal="$(OMPI_COMM_WORLD_SIZE=$p OMPI_COMM_WORLD_RANK=0 "$program" --check-args "${next_args[@]}" 2>&1)"; then
            world="$p"; return
        fi
    done
}

# run_mpirun: runs "${cmd[@]}" and waits for it; sets status. A TERM, INT or USR1 to launch.sh
# goes to mpirun (as if launch.sh had exec'd it) and marks the end as the user's stop.
run_mpirun() {
    "${cmd[@]}" &
    mpirun_pid=$!
    status=0
    # `wait` returns early when a trapped signal arrives; mpirun stays a zombie until reaped, so
    # kill -0 tells whether to wait again for its real status.
    while :; do
        wait "$mpirun_pid" && status=0 || status=$?
        kill -0 "$mpirun_pid" 2> /dev/null || break
    done
}

# elastic_launch K: the restart loop; exits with the job's final status.
elastic_launch() {
    local max="$1" attempt=0 world="$ranks" total alive dir latest hosts_note
    local current_hostfile="$hostfile" alive_file
    stopping=0
    trap 'stopping=1; kill -TERM "$mpirun_pid" 2> /dev/null' TERM
    trap 'stopping=1; kill -INT "$mpirun_pid" 2> /dev/null' INT
    trap 'stopping=1; kill -USR1 "$mpirun_pid" 2> /dev/null' USR1
    [ -n "$hostfile" ] && total="$(hostfile_slots "$hostfile")"
    alive_file="$(mktemp /tmp/ddp-launch-hosts.XXXXXX)"
    while :; do
        run_mpirun
        if [ "$status" = 0 ] || [ "$stopping" = 1 ]; then rm -f "$alive_file"; exit "$status"; fi
        attempt=$((attempt + 1))
        if [ "$attempt" -gt "$max" ]; then
            rm -f "$alive_file"
            echo "launch.sh: $(date -u +%FT%TZ) giving up: the job failed $attempt times (--max-restarts $max); last exit $status; its checkpoints are in $(elastic_run_dir)" >&2
            exit "$status"
        fi
        hosts_note="every host answers"; world="$ranks"
        if [ -n "$hostfile" ]; then
            probe_hosts "$hostfile" "$alive_file"
            if [ "${#lost_hosts[@]}" -gt 0 ]; then
                alive="$(hostfile_slots "$alive_file")" || alive=0
                [ "$alive" -gt 0 ] || { echo "launch.sh: giving up: no host of $hostfile answers" >&2; exit "$status"; }
                hosts_note="lost ${lost_hosts[*]}"
                world=$(( ranks * alive / total )); [ "$world" -ge 1 ] || world=1
            fi
            current_hostfile="$alive_file"
        fi
        restart_args
        resume_ranks "$world"
        [ -n "$world" ] || { echo "launch.sh: $(date -u +%FT%TZ) giving up after mpirun exited $status: ddp will not resume: ${refusal#ddp: error: }" >&2; exit "$status"; }
        dir="$(elastic_run_dir)"; latest="the start (no checkpoint yet)"
        [ -e "$dir/latest" ] && latest="$(readlink "$dir/latest")"
        echo "launch.sh: $(date -u +%FT%TZ) restart $attempt/$max: mpirun exited $status; $hosts_note; resuming $dir from $latest on $world ranks" >&2
        build_cmd "$world" "$current_hostfile" "${next_args[@]}"
    done
}
