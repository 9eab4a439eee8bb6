"""The dropout masks `ddp train --seed S --dropout-masks per-rank` draws on rank R, in Python, so a
PyTorch peer can train with exactly ddp's masks (torch_ddp_recipe.py --ddp-masks S). Under ddp's
default, `--dropout-masks shared`, every rank draws rank 0's (R = 0).
It restates RunState's dropout stream and Dropout.forward: SeededRNG (xoshiro256**, seeded by
SplitMix64) seeded with S * 0x9E3779B9 + 0x1000 + R; one uniform per element in memory order,
the top 24 bits of a draw times 2^-24; the element is dropped when its uniform is < p and scaled
by 1 / (1 - p) otherwise. Every training forward of every Dropout layer draws in the order the
layers run, so the peer's net must run the same layers on the same batch shapes.
The generator runs in a few lines of C (compiled here with `cc`): Python would take hours for the
200,000 draws of one fmnist-cnn step.
Checked end to end: PyTorch DDP with these masks, ddp's batches and ddp's initial weights
(torch_ddp_recipe.py --ddp-order 0 --ddp-masks 0 --init-from-ddp) gives the global losses of
`ddp train --seed 0 --log-every 1`'s first three steps to 7 digits (each loss depends on that
step's masks), then the two drift apart by rounding (docs/runs/masks/).
Usage: python3 ddp_masks.py S R [count]  (prints the first uniforms)"""
import ctypes, os, subprocess, sys, tempfile

import numpy as np

_C = r"""
#include <stdint.h>
static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
void ddp_seed(uint64_t *s, uint64_t seed) {
    for (int i = 0; i < 4; i++) {
        seed += 0x9E3779B97F4A7C15ull;
        uint64_t z = seed;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        s[i] = z ^ (z >> 31);
    }
}
void ddp_uniforms(uint64_t *s, float *out, long n) {
    for (long i = 0; i < n; i++) {
        uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
        s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t; s[3] = rotl(s[3], 45);
        out[i] = (float)(r >> 40) * (1.0f / 16777216.0f);
    }
}
"""

_lib = None


def _library():
    global _lib
    if _lib is None:
        folder = tempfile.mkdtemp(prefix="ddp_masks")
        source, shared = os.path.join(folder, "masks.c"), os.path.join(folder, "masks.so")
        with open(source, "w") as f:
            f.write(_C)
        subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", shared, source], check=True)
        _lib = ctypes.CDLL(shared)
        _lib.ddp_seed.argtypes = [ctypes.c_void_p, ctypes.c_uint64]
        _lib.ddp_uniforms.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_long]
    return _lib


class Stream:
    """Rank `rank`'s dropout stream of `ddp train --seed seed`."""

    def __init__(self, seed, rank):
        self.state = np.zeros(4, dtype=np.uint64)
        _library().ddp_seed(self.state.ctypes.data, (seed * 0x9E3779B9 + 0x1000 + rank) % (1 << 64))

    def uniforms(self, count):
        out = np.empty(count, dtype=np.float32)
        _library().ddp_uniforms(self.state.ctypes.data, out.ctypes.data, count)
        return out

    def mask(self, shape, p):
        """ddp's mask for a Dropout(p) input of `shape`: 0 or 1 / (1 - p), as Float32."""
        u = self.uniforms(int(np.prod(shape))).reshape(shape)
        keep = np.float32(1) / (np.float32(1) - np.float32(p))
        return np.where(u < np.float32(p), np.float32(0), keep).astype(np.float32)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    print(" ".join(f"{u:.8f}" for u in Stream(int(sys.argv[1]), int(sys.argv[2])).uniforms(count)))
