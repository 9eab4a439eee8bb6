#!/usr/bin/env bash
# Bad input under mpirun -n 2: whatever is wrong, the job ends quickly with a nonzero exit and
# ddp prints one line (not one per rank), and a checkpoint it was asked to resume from is left
# exactly as it was. Cases: a bad label file on all ranks; a bad file on rank 1 only (MPMD);
# more ranks than samples; different flags on the ranks; a corrupt checkpoint to --resume;
# --local-ranks under mpirun.
name=bad_input_mpi
source "$(dirname "$0")/lib/common.sh"

mpirun=(mpirun --oversubscribe --mca btl_vader_single_copy_mechanism none)
[ "$(id -u)" -eq 0 ] && mpirun+=(--allow-run-as-root)

# Tiny Fashion-MNIST-format data: 64 training and 16 test images of 8x8 pixels.
idx() { # idx FILE KIND COUNT [BAD_LABEL_AT]
    /usr/bin/python3 - "$@" <<'PY'
import struct, sys
path, kind, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
bad = int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[4] else -1
if kind == "images":
    data = struct.pack(">IIII", 0x803, count, 8, 8) + bytes((i * 37) % 256 for i in range(count * 64))
else:
    data = struct.pack(">II", 0x801, count) + bytes(10 if i == bad else i % 10 for i in range(count))
open(path, "wb").write(data)
PY
}
dataset() { # dataset DIR [BAD_LABEL_AT]
    mkdir -p "$1"
    idx "$1/train-images-idx3-ubyte" images 64; idx "$1/train-labels-idx1-ubyte" labels 64 "${2:-}"
    idx "$1/t10k-images-idx3-ubyte" images 16; idx "$1/t10k-labels-idx1-ubyte" labels 16
}
dataset "$work/good"
dataset "$work/bad" 5
args=(train --dataset fashion-mnist --model flatten-fc --epochs 1 --batch-size 4 --schedule constant --quiet)

# expect WHAT EXIT_NONZERO FRAGMENT LINES <command...>: run bounded, check exit, line count, text.
expect() {
    local what="$1" fragment="$2" count="$3"; shift 3
    local started; started="$(now)"
    set +e; timeout 60 "$@" > "$work/out.log" 2>&1; status=$?; set -e
    local took; took="$(since "$started")"
    [ "$status" -ne 124 ] || fail "$what: still running after 60 s"
    [ "$status" -ne 0 ] || fail "$what: exit 0"
    lt "$took" 30 || fail "$what: took $took s"
    local lines; lines="$(ddp_lines "$work/out.log")"
    [ "$(printf '%s\n' "$lines" | grep -c .)" -eq "$count" ] || fail "$what: expected $count line(s) from ddp, got: $(cat "$work/out.log")"
    [ "$(printf '%s\n' "$lines" | sort -u | wc -l)" -eq 1 ] || fail "$what: different lines: $lines"
    [[ "$lines" == *"$fragment"* ]] || fail "$what: '$fragment' missing from: $lines"
    note "$what: exit $status in $took s: $(printf '%s\n' "$lines" | head -1)"
}

expect "bad label file on both ranks" "train-labels-idx1-ubyte: label 10 of sample 5 is out of range" 1 \
    "${launch[@]}" -n 2 -- "${args[@]}" --data-dir "$work/bad"
expect "bad label file on rank 1 only" "$work/bad/train-labels-idx1-ubyte: label 10 of sample 5" 1 \
    "${mpirun[@]}" -n 1 "$ddp" "${args[@]}" --data-dir "$work/good" : -n 1 "$ddp" "${args[@]}" --data-dir "$work/bad"
expect "more ranks than samples" "dataset of 64 samples is smaller than one global batch 40 x 2 = 80" 1 \
    "${launch[@]}" -n 2 -- "${args[@]}" --data-dir "$work/good" --batch-size 40
expect "another seed on rank 1" "ranks out of sync: rank 1 has a different seed than rank 0 (7 vs 0)" 1 \
    "${mpirun[@]}" -n 1 "$ddp" "${args[@]}" --data-dir "$work/good" : -n 1 "$ddp" "${args[@]}" --data-dir "$work/good" --seed 7

# A good checkpoint of 2 ranks, then a copy with its model file cut short.
timeout 60 "${launch[@]}" -n 2 -- "${args[@]}" --data-dir "$work/good" --checkpoint-dir "$work/run" > "$work/run.log" 2>&1 ||
    fail "the good run failed: $(cat "$work/run.log")"
cp -a "$work/run" "$work/corrupt"
model="$work/corrupt/$(readlink "$work/corrupt/latest")/model.safetensors"
head -c 300 "$model" > "$work/cut" && mv "$work/cut" "$model"
before="$(cd "$work/corrupt" && find . -type f -exec sha256sum {} + | sort; readlink latest)"
expect "--resume of a corrupt checkpoint" "model.safetensors: header length" 1 \
    "${launch[@]}" -n 2 -- "${args[@]}" --data-dir "$work/good" --epochs 2 --resume "$work/corrupt" --checkpoint-dir "$work/corrupt"
after="$(cd "$work/corrupt" && find . -type f -exec sha256sum {} + | sort; readlink latest)"
[ "$before" = "$after" ] || fail "the failed --resume changed $work/corrupt"

# Flags are checked once, before mpirun starts the ranks (launch.sh runs ddp --check-args).
expect "--local-ranks under mpirun" "--local-ranks cannot be combined with mpirun" 1 \
    "${launch[@]}" -n 2 -- "${args[@]}" --data-dir "$work/good" --local-ranks 2
note "passed"
