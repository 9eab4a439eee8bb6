"""The order in which `ddp train --seed S` visits the training set in epoch e (0-based), in Python, so
a PyTorch peer can train on exactly ddp's batches (torch_ddp_recipe.py --ddp-order S).
It restates DistributedSampler.permutation: SeededRNG (xoshiro256**, seeded by SplitMix64) seeded
with S XOR splitMix64(e), then Fisher-Yates drawing each swap with Lemire's multiply-shift and
rejection. Checked against the Swift sampler's first indices for (S, e) = (0, 0) and (1, 4).
Usage: python3 ddp_order.py S e [count]  (prints the first 8 indices)"""
import sys

MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def _mix(z):
    """SplitMix64's output function."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def epoch_seed(seed, epoch):
    return seed ^ _mix((epoch + GOLDEN) & MASK)


def _rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & MASK


def permutation(count, seed, epoch):
    state, s = [], epoch_seed(seed, epoch)
    for _ in range(4):
        s = (s + GOLDEN) & MASK
        state.append(_mix(s))
    s0, s1, s2, s3 = state
    order = list(range(count))
    for i in range(count - 1, 0, -1):
        bound = i + 1
        while True:  # one xoshiro256** draw, kept unless it falls in the biased low range
            draw = (_rotl((s1 * 5) & MASK, 7) * 9) & MASK
            t = (s1 << 17) & MASK
            s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = _rotl(s3, 45)
            product = draw * bound
            if (product & MASK) >= (-bound & MASK) % bound:
                break
        j = product >> 64
        order[i], order[j] = order[j], order[i]
    return order


if __name__ == "__main__":
    seed, epoch = int(sys.argv[1]), int(sys.argv[2])
    print(permutation(int(sys.argv[3]) if len(sys.argv) > 3 else 60000, seed, epoch)[:8])
