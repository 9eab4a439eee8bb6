"""Seed inputs for scripts/fuzz.sh: small valid files of each format the targets parse (the JPEG
seeds come from scripts/fuzz/JPEGSeeds.swift, which TurboJPEG's encoder writes)."""
import gzip, json, os, struct, sys, zlib

idx_dir, st_dir, image_dir = sys.argv[1], sys.argv[2], sys.argv[3]
for d in (idx_dir, st_dir, image_dir):
    os.makedirs(d, exist_ok=True)

images = struct.pack(">IIII", 0x803, 3, 4, 5) + bytes(range(60))
labels = struct.pack(">II", 0x801, 3) + bytes([0, 9, 3])
cifar = bytes([7]) + bytes((i * 13) % 256 for i in range(3072))
for name, data in [("images", images), ("labels", labels), ("images.gz", gzip.compress(images)),
                   ("labels.gz", gzip.compress(labels)), ("cifar", cifar)]:
    open(os.path.join(idx_dir, name), "wb").write(data)

def safetensors(header, data):
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data

open(os.path.join(st_dir, "small"), "wb").write(safetensors({
    "__metadata__": {"spec": "flatten-fc", "input_shape": "1,8,8", "classes": "10"},
    "1.weight": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
    "1.num_batches_tracked": {"dtype": "I64", "shape": [], "data_offsets": [16, 24]},
    "mask": {"dtype": "BOOL", "shape": [3], "data_offsets": [24, 27]},
}, bytes(range(27))))
open(os.path.join(st_dir, "empty"), "wb").write(safetensors({}, b""))


# PNG from the format's definition: signature, chunks (length, type, data, CRC-32 of type and
# data), scanlines each led by a filter byte; Adam7 interlacing stores 7 reduced images in turn.
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

def scanline(samples, depth):
    if depth == 16:
        return b"".join(struct.pack(">H", v) for v in samples)
    if depth == 8:
        return bytes(samples)
    bits = "".join(format(v, "0%db" % depth) for v in samples)
    bits += "0" * (-len(bits) % 8)
    return bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8))

ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]

def png(width, height, depth, colour, pixel, filter_byte=0, interlaced=False, extra=b""):
    """pixel(x, y) -> the samples of one pixel; filter 1 (Sub) is applied for bytes >= 1."""
    per_pixel = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour]
    passes = ADAM7 if interlaced else [(0, 0, 1, 1)]
    raw = b""
    for x0, y0, dx, dy in passes:
        xs, ys = range(x0, width, dx), range(y0, height, dy)
        if not xs or not ys:
            continue
        for y in ys:
            line = scanline([v for x in xs for v in pixel(x, y)], depth)
            if filter_byte == 1:
                step = max(1, per_pixel * depth // 8)
                line = bytes((line[i] - (line[i - step] if i >= step else 0)) % 256 for i in range(len(line)))
            raw += bytes([filter_byte]) + line
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 1 if interlaced else 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + extra
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))

palette = chunk(b"PLTE", bytes(range(0, 240, 5))) + chunk(b"tRNS", bytes([255, 0, 128]))
seeds = {
    "gray8.png": png(7, 5, 8, 0, lambda x, y: [(x * 37 + y * 11) % 256]),
    "gray1.png": png(9, 3, 1, 0, lambda x, y: [(x + y) % 2]),
    "gray16.png": png(4, 4, 16, 0, lambda x, y: [(x * 9001 + y * 333) % 65536], filter_byte=1),
    "gray-alpha.png": png(5, 3, 8, 4, lambda x, y: [x * 40, y * 100]),
    "rgb8.png": png(6, 4, 8, 2, lambda x, y: [x * 40, y * 60, (x * y) % 256], filter_byte=1),
    "rgb16.png": png(3, 2, 16, 2, lambda x, y: [x * 20000, y * 30000, 65535]),
    "rgba-interlaced.png": png(11, 9, 8, 6, lambda x, y: [x * 20, y * 25, 128, (x + y) * 12], interlaced=True),
    "palette4.png": png(7, 3, 4, 3, lambda x, y: [(x + 2 * y) % 16], extra=palette),
    "gray-gamma.png": png(4, 4, 8, 0, lambda x, y: [x * 60 + y], extra=chunk(b"gAMA", struct.pack(">I", 100000))),
}
for name, data in seeds.items():
    open(os.path.join(image_dir, name), "wb").write(data)
