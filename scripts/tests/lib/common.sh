# Shared by the fault and bad-input scripts in scripts/tests/ (sourced, not run: test.sh runs
# only scripts/tests/*.sh). The sourcing script sets $name first. Provides: $repo, $ddp (the
# release build), $work (a scratch directory removed at exit), launch (scripts/launch.sh with
# that binary, an array), bounded waits, rank lookup and assertions. KEEP_WORK=1 keeps $work
# (the logs) for inspection.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
cd "$repo"
[ -x /opt/swift/usr/bin/swift ] && export PATH="/opt/swift/usr/bin:$PATH"

swift build -c release 2>&1 | grep -Ev '^\[[0-9]+/[0-9]+\]' || true
test "${PIPESTATUS[0]}" -eq 0
ddp="$(swift build -c release --show-bin-path)/ddp"

work="$(mktemp -d "/tmp/ddp-$name.XXXXXX")"
jobs_started=()
cleanup() {
    # Only what this script started: each job is `timeout ... mpirun ...`; timeout passes the
    # TERM on to mpirun, which ends its ranks.
    local pid
    for pid in "${jobs_started[@]+"${jobs_started[@]}"}"; do kill -TERM "$pid" 2>/dev/null || true; done
    [ -n "${KEEP_WORK:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "$name: FAILED: $*" >&2; exit 1; }
note() { echo "$name: $*"; }
now() { date +%s.%N; }
# seconds since $1, one decimal
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
# less-than on decimals
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }

# "${launch[@]}" -n P -- <ddp args>: scripts/launch.sh with this build.
launch=("$repo/scripts/launch.sh" --program "$ddp")

# start LOG SECONDS <command...>: runs the command in the background under `timeout SECONDS`,
# output to LOG; sets $job to timeout's pid.
start() {
    local log="$1" seconds="$2"; shift 2
    timeout "$seconds" "$@" > "$log" 2>&1 &
    job=$!
    jobs_started+=("$job")
}

# finish: waits for $job; sets $status.
finish() { set +e; wait "$job"; status=$?; set -e; }

# wait_for PATH SECONDS: true once PATH exists, false after SECONDS.
wait_for() {
    local deadline; deadline=$(awk -v t="$(now)" -v s="$2" 'BEGIN { printf "%.3f", t + s }')
    while lt "$(now)" "$deadline"; do
        [ -e "$1" ] && return 0
        sleep 0.05
    done
    return 1
}

# logged_step METRICS: the global step of the last step line rank 0 wrote to METRICS (--log-every 1).
logged_step() { sed -n 's/^{"event":"step",.*"step":\([0-9]*\),.*/\1/p' "$1" 2>/dev/null | tail -1; }

# rank_pid JOB RANK: the pid of MPI rank RANK of the mpirun that `timeout` (JOB) started.
rank_pid() {
    local mpirun child
    # mpirun is timeout's child, or its grandchild under launch.sh --max-restarts (no exec).
    mpirun="$(pgrep -P "$1" -x mpirun || pgrep -P "$(pgrep -P "$1" | head -1)" -x mpirun)" || return 1
    for child in $(pgrep -P "$mpirun"); do
        if { tr '\0' '\n' < "/proc/$child/environ"; } 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2"; then
            echo "$child"; return 0
        fi
    done
    return 1
}

# ddp_lines LOG: the lines ddp itself printed as errors or stops (not mpirun's banner).
ddp_lines() { grep -E '^ddp: (error|stopped|rank)' "$1" || true; }

# checkpoint_ok RUN_DIR: `latest` names a complete checkpoint that `ddp eval` reads.
checkpoint_ok() {
    local latest; latest="$(readlink "$1/latest")" || fail "$1/latest is missing"
    [ -s "$1/$latest/model.safetensors" ] && [ -s "$1/$latest/trainer.safetensors" ] ||
        fail "$1/latest -> $latest is not a complete checkpoint"
    timeout 120 "$ddp" eval --checkpoint "$1" --json > "$work/eval.json" 2>&1 ||
        fail "ddp eval cannot read $1: $(cat "$work/eval.json")"
    grep -Eq '"samples":[1-9][0-9]*' "$work/eval.json" || fail "eval of $1: $(cat "$work/eval.json")"
}

# same_file A B WHAT: byte-identical files.
same_file() { cmp -s "$1" "$2" || fail "$3: $1 and $2 differ"; }
