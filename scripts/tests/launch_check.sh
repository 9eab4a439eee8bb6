#!/usr/bin/env bash
# scripts/launch.sh checks ddp's arguments once (ddp --check-args) before mpirun starts ranks,
# and a run started under mpirun goes on from its checkpoint with `ddp train --resume DIR` alone:
#  A. a typo (--epoch), a misspelt model and a resume that cannot go on each return in under
#     2 s with one line and exit 64, and start no rank; help is printed once;
#  B. 2 ranks under mpirun, stopped by --max-steps mid-epoch (lenet5, 640 synthetic images,
#     one-cycle over 2 epochs): `ddp train --resume DIR` alone, in one process, runs the 2 ranks
#     as threads and ends byte-identical to the same job never stopped, and the metrics file is
#     the run's, appended to;
#  C. a second run into that directory, or with that metrics file, is refused in one line
#     before any rank starts, and every file stays as it was.
name=launch_check
source "$(dirname "$0")/lib/common.sh"

# quick_error WHAT FRAGMENT <launch args...>: exit 64 within 2 s, one line holding FRAGMENT,
# nothing from mpirun.
quick_error() {
    local what="$1" fragment="$2"; shift 2
    local started; started="$(now)"
    set +e; timeout 30 "${launch[@]}" "$@" > "$work/out.log" 2> "$work/err.log"; status=$?; set -e
    local took; took="$(since "$started")"
    [ "$status" -eq 64 ] || fail "$what: exit $status, expected 64: $(cat "$work/out.log" "$work/err.log")"
    lt "$took" 2 || fail "$what: took $took s (a check before mpirun returns at once)"
    [ "$(grep -c . "$work/err.log")" -eq 1 ] || fail "$what: expected one line, got: $(cat "$work/err.log")"
    grep -qF -- "$fragment" "$work/err.log" || fail "$what: '$fragment' missing from: $(cat "$work/err.log")"
    [ ! -s "$work/out.log" ] || fail "$what: output on stdout: $(cat "$work/out.log")"
    note "$what: exit 64 in $took s: $(cat "$work/err.log")"
}

# A
quick_error "typo" "ddp: error: Unknown option '--epoch'. Did you mean '--epochs'?" -n 2 -- train --epoch 1
quick_error "misspelt model" "did you mean 'fmnist-cnn'?" -n 2 -- train --model fmnist_cnn
# As a user types it: launch.sh finds the release build itself.
this_build=("${launch[@]}"); launch=("$repo/scripts/launch.sh")
quick_error "typo, as typed" "Unknown option '--epoch'" -n 2 -- train --epoch 1
launch=("${this_build[@]}")
quick_error "threads as ranks under mpirun" "--local-ranks cannot be combined with mpirun" -n 2 -- train --local-ranks 2
"${launch[@]}" -n 2 -- train --help > "$work/help.log" 2>&1 || fail "help: exit $?"
[ "$(grep -c '^USAGE: ddp train' "$work/help.log")" -eq 1 ] || fail "help printed other than once: $(head -5 "$work/help.log")"

# B
run="$work/run"
args=(train --dataset synthetic --model lenet5 --epochs 2 --batch-size 32 --train-subset 640 --lr 0.05 --seed 1 --quiet)
start "$work/straight.log" 180 "${launch[@]}" -n 2 -- "${args[@]}" --checkpoint-dir "$work/straight"
finish
[ "$status" -eq 0 ] || fail "the uninterrupted run failed (exit $status): $(cat "$work/straight.log")"
start "$work/stopped.log" 180 "${launch[@]}" -n 2 -- "${args[@]}" --checkpoint-dir "$run" --metrics "$work/m.jsonl" --max-steps 13
finish
[ "$status" -eq 0 ] || fail "the run to --max-steps failed (exit $status): $(cat "$work/stopped.log")"
[ "$(readlink "$run/latest")" = step-00000013 ] || fail "latest -> $(readlink "$run/latest"), expected step-00000013"

quick_error "a resume on ranks that cannot share the global batch" \
    "this launch has 3 ranks, which cannot share the global batch of 64 of the run resumed from $run" \
    -n 3 -- train --resume "$run"

timeout 180 "$ddp" train --resume "$run" > "$work/resume.log" 2>&1 || fail "ddp train --resume alone failed: $(cat "$work/resume.log")"
grep -q "ranks 2 x batch 32 = global batch 64, 10 steps/epoch, 2 epochs" "$work/resume.log" ||
    fail "the resume is not the saved run: $(cat "$work/resume.log")"
[ "$(readlink "$run/latest")" = step-00000020 ] || fail "the resume ended at $(readlink "$run/latest")"
for f in model.safetensors trainer.safetensors; do
    same_file "$run/latest/$f" "$work/straight/latest/$f" "stopped under mpirun, resumed alone vs never stopped"
done
events="$(grep -o '"event":"[a-z]*"' "$work/m.jsonl" | cut -d'"' -f4 | tr '\n' ' ')"
[ "$events" = "run epoch run epoch " ] || fail "metrics file: events $events"
note "resumed alone: byte-identical to the uninterrupted 2-rank job; metrics appended: $events"

# C
before="$(cd "$work" && find run m.jsonl -type f -exec sha256sum {} + | sort; readlink run/latest)"
quick_error "a second run into the directory" "--checkpoint-dir $run already holds another run (2 checkpoints, latest step-00000020)" \
    -n 2 -- "${args[@]}" --checkpoint-dir "$run"
quick_error "a second run into the metrics file" "--metrics $work/m.jsonl already holds 4 lines of another run" \
    -n 2 -- "${args[@]}" --metrics "$work/m.jsonl"
after="$(cd "$work" && find run m.jsonl -type f -exec sha256sum {} + | sort; readlink run/latest)"
[ "$before" = "$after" ] || fail "a refused run changed the files"
note "passed"
