#!/usr/bin/env bash
# Benchmark (not a test): `ddp bench allreduce` (our allreduce and MPI_Allreduce, same data) over
# TCP between network namespaces acting as hosts, repeated, with the median of every figure.
#
# usage: scripts/netns/bench_allreduce.sh [--hosts N] [--slots "S..."] [--repeats R]
#                                         [--sizes LIST] [--rate RATE] [--algorithms "A..."]
#                                         [--raw FILE] [--mca KEY VALUE]... [-- BENCH ARGS...]
#   --hosts N      namespaces (default 2)
#   --slots "S..." ranks per namespace, one benchmark series per value (default "1 2": 2 and 4
#                  ranks on 2 namespaces)
#   --repeats R    runs of the benchmark per series (default 5); the table shows medians over runs
#                  of each run's own figure (itself a median over --iterations)
#   --sizes LIST   message sizes (default 4K,64K,256K,1M,4M,16M)
#   --rate RATE    shape every namespace's link with tc tbf at RATE (e.g. 1gbit; default: unshaped)
#   --algorithms "A..."  our algorithms to compare (e.g. "ring hierarchical"), one benchmark run
#                  each per repeat, alternating; the column "vs A1" is the median over runs of
#                  each one's bus bandwidth over the first one's in the same repeat
#   --raw FILE     also keep every run's JSON lines (one "run" field added) in FILE
#   --mca KEY VALUE  MCA parameter for mpirun (repeatable), e.g. to force Open MPI's allreduce
#                  algorithm: --mca coll_tuned_use_dynamic_rules 1 --mca coll_tuned_allreduce_algorithm 4
#   BENCH ARGS     passed on to `ddp bench allreduce` (e.g. --iterations 40 --algorithm ring)
# All traffic is TCP (btl tcp,self), also between ranks of one namespace. Needs root; holds the
# lock of scripts/tests/multihost_netns.sh and tears the namespaces down on any exit.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/common.sh"

hosts=2; slot_list="1 2"; repeats=5; sizes="4K,64K,256K,1M,4M,16M"; rate=none; algorithms=""; raw=""; mca=()
while [ $# -gt 0 ]; do
    case "$1" in
        --hosts|--slots|--repeats|--sizes|--rate|--algorithms|--raw)
            [ $# -ge 2 ] || { echo "bench_allreduce.sh: $1 needs a value" >&2; exit 2; } ;;&
        --hosts) hosts="$2"; shift 2 ;;
        --slots) slot_list="$2"; shift 2 ;;
        --repeats) repeats="$2"; shift 2 ;;
        --sizes) sizes="$2"; shift 2 ;;
        --rate) rate="$2"; shift 2 ;;
        --algorithms) algorithms="$2"; shift 2 ;;
        --raw) raw="$2"; shift 2 ;;
        --mca) [ $# -ge 3 ] || { echo "bench_allreduce.sh: --mca needs KEY VALUE" >&2; exit 2; }
               mca+=(--mca "$2" "$3"); shift 3 ;;
        --) shift; break ;;
        -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench_allreduce.sh: unknown argument '$1' (bench arguments go after '--')" >&2; exit 2 ;;
    esac
done
for v in "$hosts" "$repeats" $slot_list; do
    [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "bench_allreduce.sh: expected a positive integer, got '$v'" >&2; exit 2; }
done
[ "$hosts" -ge 2 ] || { echo "bench_allreduce.sh: --hosts must be at least 2" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "bench_allreduce.sh: needs root (ip netns)" >&2; exit 1; }
max_slots=0; for s in $slot_list; do [ "$s" -gt $max_slots ] && max_slots=$s; done

netns_begin bench_allreduce.sh
"$here/up.sh" "$hosts" --slots "$max_slots" >&2
netns_shape "$hosts" "$rate"
echo "load before: $(uptime)"
for s in $slot_list; do
    for ((run = 1; run <= repeats; run++)); do
        for series in ${algorithms:-default}; do
            chosen=(); [ "$series" = default ] || chosen=(--algorithm "$series")
            netns_launch "$hosts" "$s" "${mca[@]+"${mca[@]}"}" -- \
                bench allreduce --sizes "$sizes" --json "${chosen[@]+"${chosen[@]}"}" "$@" |
                sed "s/^{/{\"series\":\"$series\",\"run\":$run,/" >> "$work/raw.jsonl"
        done
    done
done
echo "load after:  $(uptime)"
[ -z "$raw" ] || cp "$work/raw.jsonl" "$raw"

# Median over runs per (ranks, bytes, series) of every figure; the ratios' medians are over per-run
# ratios.
field() { sed -n "s/.*\"$1\":\"\{0,1\}\([^\",}]*\).*/\1/p"; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
series_list=(${algorithms:-default})
printf '%-5s %9s %-18s %10s %10s %9s %9s %6s %6s  (medians of %d runs, TCP between %d namespaces, links %s)\n' \
    ranks bytes algorithm "ours us" "MPI us" "ours GB/s" "MPI GB/s" "vs MPI" "vs ${series_list[0]}" "$repeats" "$hosts" "$rate"
for s in $slot_list; do
    ranks=$((hosts * s))
    for bytes in $(grep "\"ranks\":$ranks," "$work/raw.jsonl" | field bytes | sort -nu); do
        for series in "${series_list[@]}"; do
            rows="$(grep "\"series\":\"$series\",.*\"ranks\":$ranks,\"bytes\":$bytes," "$work/raw.jsonl")"
            versus="$(for ((run = 1; run <= repeats; run++)); do
                first="$(grep "\"series\":\"${series_list[0]}\",\"run\":$run,.*\"ranks\":$ranks,\"bytes\":$bytes," "$work/raw.jsonl" | field ring_busbw_GBps)"
                this="$(grep "\"run\":$run," <<< "$rows" | field ring_busbw_GBps)"
                [ -n "$first" ] && [ -n "$this" ] && awk -v a="$this" -v b="$first" 'BEGIN { if (b > 0) printf "%.3f\n", a / b }'
            done | median)"
            printf '%-5s %9s %-18s %10s %10s %9s %9s %6s %6s\n' "$ranks" "$bytes" "$(field algorithm <<< "$rows" | sort -u | paste -sd/)" \
                "$(field ring_us <<< "$rows" | median)" "$(field mpi_us <<< "$rows" | median)" \
                "$(field ring_busbw_GBps <<< "$rows" | median)" "$(field mpi_busbw_GBps <<< "$rows" | median)" \
                "$(field ratio <<< "$rows" | median)" "$versus"
        done
    done
done
