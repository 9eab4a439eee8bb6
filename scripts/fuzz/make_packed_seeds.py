"""Seed inputs of the packed-file target of scripts/fuzz.sh: small packed files written from the
format's definition (Sources/Formats/PackedData.swift), not by ddp."""
import json, os, struct, sys, zlib

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
PAGE = 4096


def packed(train_images, train_labels, test_images, test_labels, shape, names):
    sections = [train_images, train_labels, test_images, test_labels]
    offsets, offset = [], PAGE
    for s in sections:
        offsets.append(offset)
        offset = (offset + len(s) + PAGE - 1) // PAGE * PAGE
    crc = 0
    for s in sections:
        crc = zlib.crc32(s, crc)
    header = {"dataset": "folder", "source": "seed", "channels": shape[0], "height": shape[1], "width": shape[2],
              "class_names": names, "normalization_mean": [0.5] * shape[0], "normalization_std": [0.25] * shape[0],
              "train": {"count": len(train_labels), "images_offset": offsets[0], "labels_offset": offsets[1]},
              "test": {"count": len(test_labels), "images_offset": offsets[2], "labels_offset": offsets[3]},
              "data_offset": PAGE, "file_size": offsets[3] + len(test_labels), "checksum": "crc32:%08x" % crc}
    text = json.dumps(header, sort_keys=True).encode()
    body = b"\x89DDPACK\n" + struct.pack("<II", 1, len(text)) + text
    body += bytes(PAGE - len(body))
    for i, s in enumerate(sections):
        body += s
        if i < 3:
            body += bytes(offsets[i + 1] - offsets[i] - len(s))
    return body


open(os.path.join(out, "gray"), "wb").write(packed(bytes(range(2 * 4)), bytes([0, 1]), bytes([9] * 4), bytes([1]),
                                                   (1, 2, 2), ["a", "b"]))
open(os.path.join(out, "rgb"), "wb").write(packed(bytes(range(3 * 3 * 2)), bytes([2, 0, 1]), b"", b"",
                                                  (3, 1, 2), ["x", "y", "z"]))
