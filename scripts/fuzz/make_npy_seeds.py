"""Seed inputs for scripts/fuzz.sh's npy target: small .npy arrays written from the format's
definition and .npz archives written by Python's zipfile as numpy.savez does (ZIP64 local
headers, stored or deflated members)."""
import os, struct, sys, zipfile

out = sys.argv[1]
os.makedirs(out, exist_ok=True)

def npy(descr, shape, data, version=1):
    dims = "(%d,)" % shape[0] if len(shape) == 1 else "(" + ", ".join(map(str, shape)) + ")"
    text = ("{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, dims)).encode()
    length = 2 if version == 1 else 4
    text += b" " * (-(8 + length + len(text) + 1) % 64) + b"\n"
    return b"\x93NUMPY" + bytes([version, 0]) + len(text).to_bytes(length, "little") + text + data

gray = npy("|u1", [3, 4, 5], bytes(range(60)))
color = npy("<f4", [2, 2, 4, 3], b"".join(struct.pack("<f", i / 47) for i in range(48)), version=2)
labels = npy("<i8", [3, 1], struct.pack("<3q", 0, 9, 3))
small_labels = npy("|i1", [2], bytes([1, 0]), version=3)

def npz(members, compression):
    path = os.path.join(out, "archive-%d.npz" % compression)
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, data in members:
            with archive.open(name, "w", force_zip64=True) as member:
                member.write(data)
    return path

for name, data in [("gray.npy", gray), ("color.npy", color), ("labels.npy", labels), ("small-labels.npy", small_labels)]:
    open(os.path.join(out, name), "wb").write(data)
members = [("x_train.npy", gray), ("y_train.npy", labels), ("x_test.npy", color), ("y_test.npy", small_labels)]
npz(members, zipfile.ZIP_STORED)
npz(members, zipfile.ZIP_DEFLATED)
