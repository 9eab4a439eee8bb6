#!/usr/bin/env python3
"""Writes Fashion-MNIST out as image folders, the layout `ddp train --dataset folder` reads:

    OUT/train/<label>-<class>/<index>.png      OUT/test/<label>-<class>/<index>.png

(or .jpg with --jpeg, through `cjpeg` of libjpeg-turbo-progs). Folder names start with the
label, so their sorted order is the label order and the folders' labels are Fashion-MNIST's.
PNGs are 8-bit grayscale, written here from the format's definition (zlib only, no imaging
library); <index> is the sample's position in the IDX file.

usage: export_fashion_mnist.py OUT [--data-dir DIR] [--limit N] [--rgb-size N --jpeg]
"""
import argparse
import gzip
import os
import struct
import subprocess
import zlib

CLASSES = ["tshirt-top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot"]


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return shape, data[4 + 4 * dims:]


def find(directory, stem):
    for name in (stem + ".gz", stem):
        if os.path.exists(os.path.join(directory, name)):
            return os.path.join(directory, name)
    raise SystemExit(f"export: {directory}/{stem}[.gz] not found")


def png(width, height, rows, colour):
    """A PNG of 8-bit gray (colour False) or RGB rows, filter 0 on every row."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + row for row in rows)
    header = struct.pack(">IIBBBBB", width, height, 8, 2 if colour else 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


def scaled_rgb(pixels, side, size):
    """The 28x28 gray image as size x size RGB (nearest neighbour, tinted by position), so the
    JPEG benchmark has colour images of another size."""
    rows = []
    for y in range(size):
        row = bytearray()
        for x in range(size):
            v = pixels[(y * side // size) * side + (x * side // size)]
            row += bytes((v, (v + x) % 256, (v + y) % 256))
        rows.append(bytes(row))
    return rows


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--limit", type=int, default=0, help="at most N images per split (0: all)")
    parser.add_argument("--jpeg", action="store_true", help="write JPEGs (quality 90) through cjpeg")
    parser.add_argument("--rgb-size", type=int, default=0, help="write N x N RGB images instead of 28x28 gray")
    args = parser.parse_args()
    for split, prefix in (("train", "train"), ("test", "t10k")):
        (count, h, w), pixels = read_idx(find(args.data_dir, f"{prefix}-images-idx3-ubyte"))
        _, labels = read_idx(find(args.data_dir, f"{prefix}-labels-idx1-ubyte"))
        n = min(count, args.limit) if args.limit else count
        for label, name in enumerate(CLASSES):
            os.makedirs(os.path.join(args.out, split, f"{label}-{name}"), exist_ok=True)
        for i in range(n):
            image = pixels[i * h * w:(i + 1) * h * w]
            folder = os.path.join(args.out, split, f"{labels[i]}-{CLASSES[labels[i]]}")
            if args.rgb_size:
                rows, size, colour = scaled_rgb(image, w, args.rgb_size), args.rgb_size, True
            else:
                rows, size, colour = [image[y * w:(y + 1) * w] for y in range(h)], w, False
            if args.jpeg:
                # cjpeg reads PNM: P5 (gray) or P6 (RGB).
                pnm = (b"P6" if colour else b"P5") + f"\n{size} {size}\n255\n".encode() + b"".join(rows)
                jpg = subprocess.run(["cjpeg", "-quality", "90"], input=pnm, stdout=subprocess.PIPE, check=True).stdout
                with open(os.path.join(folder, f"{i:05d}.jpg"), "wb") as f:
                    f.write(jpg)
            else:
                with open(os.path.join(folder, f"{i:05d}.png"), "wb") as f:
                    f.write(png(size, size, rows, colour))
        print(f"export: {n} {split} images into {args.out}/{split}")


if __name__ == "__main__":
    main()
