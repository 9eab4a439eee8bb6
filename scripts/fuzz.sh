#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer through swiftc -sanitize=fuzzer, with AddressSanitizer) of
# the parsers that read files users hand to ddp: IDX (raw and gzip) and CIFAR-10 records
# (scripts/fuzz/IDXFuzzTarget.swift), safetensors (scripts/fuzz/SafeTensorsFuzzTarget.swift),
# NumPy .npy / .npz (scripts/fuzz/NumpyFuzzTarget.swift), PNG / JPEG images through libpng and
# TurboJPEG (scripts/fuzz/ImageFuzzTarget.swift) and packed data files
# (scripts/fuzz/PackedFuzzTarget.swift; its inputs may be 20,000 bytes, the others 8,192).
# Each target is compiled with the module sources it needs, seeded with small valid files, and
# run for SECONDS (default 30) with a 64 MB limit on any single allocation (a parser must never
# trust a length from the file). The image decoder's limit is its own bound instead: a JPEG's
# header says how many pixels it holds and no file size bounds that, so the decoder trusts it up
# to ImageDecoder.maximumPixels (2^26), whose RGBA rows take 256 MB; the target's limit is 320 MB.
# The corpus grows in .build/fuzz/ across runs. Each target's
# final figures (date, time, executions, corpus, findings) go to .build/fuzz/TARGET-summary.txt
# (docs/runs/fuzz-TARGET.txt keeps the ones docs/RESULTS.md quotes).
#
# usage: scripts/fuzz.sh [SECONDS]     exit 0: no finding; 1: a finding (input kept, path printed);
#                                      77: this toolchain cannot build fuzz targets (skipped)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-30}"
[ -x /opt/swift/usr/bin/swift ] && export PATH="/opt/swift/usr/bin:$PATH"
out=.build/fuzz
mkdir -p "$out"
python=/usr/bin/python3; [ -x "$python" ] || python=python3
"$python" scripts/fuzz/make_seeds.py "$out/seeds-idx" "$out/seeds-safetensors" "$out/seeds-image"
"$python" scripts/fuzz/make_npy_seeds.py "$out/seeds-npy"
"$python" scripts/fuzz/make_packed_seeds.py "$out/seeds-packed"

build() { # build NAME MODULE SOURCES...
    local name="$1" module="$2"; shift 2
    if ! swiftc -sanitize=fuzzer,address -parse-as-library -O -module-name "$module" "$@" -o "$out/$name" \
            > "$out/$name.build.log" 2>&1; then
        echo "fuzz.sh: cannot build $name with -sanitize=fuzzer here; skipped (see $out/$name.build.log)"
        exit 77
    fi
}
build idx-fuzz DataFuzz scripts/fuzz/IDXFuzzTarget.swift Sources/Data/IDXReader.swift Sources/Data/ByteSource.swift \
    Sources/Data/RegularFile.swift Sources/Data/GzipSource.swift Sources/Data/ZlibStream.swift Sources/Data/CIFAR10Reader.swift Sources/Data/DataError.swift -I Sources/CZlib
build safetensors-fuzz FormatsFuzz scripts/fuzz/SafeTensorsFuzzTarget.swift Sources/Formats/SafeTensor*.swift \
    Sources/Formats/StrictJSON.swift Sources/Formats/DurableFile.swift
build image-fuzz DataFuzz scripts/fuzz/ImageFuzzTarget.swift Sources/Data/ImageDecoder.swift Sources/Data/PNGDecoder.swift \
    Sources/Data/JPEGDecoder.swift Sources/Data/DecodedImage.swift Sources/Data/ImageResize.swift \
    Sources/Data/ResampleWeights.swift Sources/Data/ByteSource.swift Sources/Data/RegularFile.swift Sources/Data/DataError.swift \
    -I Sources/CPNG -I Sources/CTurboJPEG -lpng16 -lturbojpeg
# .npy arrays and .npz archives (--dataset npy): scripts/fuzz/NumpyFuzzTarget.swift.
build npy-fuzz DataFuzz scripts/fuzz/NumpyFuzzTarget.swift Sources/Data/NumpyArray.swift Sources/Data/NumpyHeader.swift \
    Sources/Data/NumpyImages.swift Sources/Data/NumpyDataset.swift Sources/Data/ImageLayout.swift Sources/Data/ZipArchive.swift \
    Sources/Data/ZipMemberSource.swift Sources/Data/ByteSource.swift Sources/Data/GzipSource.swift Sources/Data/ZlibStream.swift \
    Sources/Data/IDXReader.swift \
    Sources/Data/Dataset.swift Sources/Data/ImageBytes.swift Sources/Data/MappedFile.swift Sources/Data/ClassNames.swift \
    Sources/Data/SkippedFile.swift Sources/Data/DecodedImage.swift Sources/Data/RegularFile.swift Sources/Data/DataError.swift \
    -I Sources/CZlib

# The packed data file (ddp pack): scripts/fuzz/PackedFuzzTarget.swift.
build packed-fuzz FormatsFuzz scripts/fuzz/PackedFuzzTarget.swift Sources/Formats/PackedData*.swift \
    Sources/Formats/JSONLine.swift Sources/Formats/DurableFile.swift Sources/Formats/Error+SystemReason.swift \
    Sources/Formats/Double+Printable.swift -I Sources/CZlib -lz

# The JPEG seeds come from TurboJPEG's encoder (a plain build: no sanitizer needed to write them).
if ! swiftc -parse-as-library -I Sources/CTurboJPEG scripts/fuzz/JPEGSeeds.swift -o "$out/jpeg-seeds" \
        > "$out/jpeg-seeds.build.log" 2>&1 || ! "$out/jpeg-seeds" "$out/seeds-image"; then
    echo "fuzz.sh: cannot write the JPEG seeds (see $out/jpeg-seeds.build.log)" >&2
    exit 1
fi

status=0
for target in idx safetensors npy image packed; do
    mkdir -p "$out/corpus-$target" "$out/findings-$target"
    log="$out/$target.log"
    limit=64; [ "$target" = image ] && limit=320
    # A packed file's sections start on page boundaries: the smallest is over 12 KiB.
    length=8192; [ "$target" = packed ] && length=20000
    # The run limit (timeout) is a second line of defence: libFuzzer stops itself at -max_total_time.
    started="$(date -u '+%Y-%m-%d %H:%M UTC')"
    if timeout $((seconds + 60)) "$out/$target-fuzz" -max_total_time="$seconds" -max_len="$length" -timeout=10 \
            -malloc_limit_mb="$limit" -rss_limit_mb=2048 -print_final_stats=1 \
            -artifact_prefix="$out/findings-$target/" "$out/corpus-$target" "$out/seeds-$target" > "$log" 2>&1; then
        runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")"
        echo "fuzz.sh: $target: ${runs:-?} inputs in $seconds s, no finding (corpus $(ls "$out/corpus-$target" | wc -l) files)"
        findings=0
    else
        echo "fuzz.sh: $target: FINDING (log $log):" >&2
        grep -E 'ERROR|SUMMARY|Fatal|Test unit written' "$log" | head -5 >&2
        status=1
        findings="$(ls "$out/findings-$target" | wc -l)"
    fi
    { echo "scripts/fuzz.sh $seconds: target $target, started $started on $(nproc) cores"
      grep -E '^(Done [0-9]+ runs|stat::)' "$log" || true
      echo "corpus files: $(ls "$out/corpus-$target" | wc -l); findings: $findings"
    } > "$out/$target-summary.txt"
done
exit "$status"
