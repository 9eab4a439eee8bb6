import Foundation

/// A seeded random number generator that gives the same numbers on every platform and build.
///
/// xoshiro256** (Blackman and Vigna) seeded through SplitMix64, so nearby seeds give unrelated
/// streams. Floats are derived from the top 24 bits (uniform in [0, 1)); normals by Box-Muller
/// in Double, one value per call (no cached second value, so the state is just four words and
/// checkpoints can store it exactly).
public struct SeededRNG: RandomNumberGenerator, Sendable, Equatable {
    public private(set) var state: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var s = seed
        func splitMix() -> UInt64 {
            s &+= 0x9E37_79B9_7F4A_7C15
            var z = s
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (splitMix(), splitMix(), splitMix(), splitMix())
    }

    /// Restores a generator from `state` words (e.g. read from a checkpoint).
    public init(state: [UInt64]) {
        precondition(state.count == 4, "SeededRNG state has 4 words")
        self.state = (state[0], state[1], state[2], state[3])
    }

    public var stateWords: [UInt64] { [state.0, state.1, state.2, state.3] }

    public static func == (a: SeededRNG, b: SeededRNG) -> Bool { a.stateWords == b.stateWords }

    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = rotl(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = rotl(state.3, 45)
        return result
    }

    @inline(__always) private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// Uniform in [0, 1), 24 bits of resolution (every Float32 multiple of 2^-24).
    @inline(__always)
    public mutating func uniform() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }

    /// `count` successive `uniform()` values into `values` (the same numbers, without a call
    /// per number from other modules).
    public mutating func fillUniform(_ values: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i < count { values[i] = uniform(); i &+= 1 }
    }

    /// Uniform in [0, 1) with 53 bits, for Box-Muller.
    @inline(__always)
    public mutating func uniformDouble() -> Double { Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0) }

    /// Standard normal sample (Box-Muller, cosine branch).
    public mutating func normal() -> Float {
        let u1 = 1.0 - uniformDouble() // (0, 1]: log stays finite
        let u2 = uniformDouble()
        return Float((-2.0 * log(u1)).squareRoot() * cos(2.0 * Double.pi * u2))
    }

    /// Uniform integer in 0..<n without modulo bias (Lemire's multiply-shift with rejection).
    public mutating func below(_ n: Int) -> Int {
        precondition(n > 0, "below(\(n))")
        let bound = UInt64(n)
        var m = next().multipliedFullWidth(by: bound)
        if m.low < bound {
            let threshold = (0 &- bound) % bound
            while m.low < threshold { m = next().multipliedFullWidth(by: bound) }
        }
        return Int(m.high)
    }

    /// A permutation of 0..<n by Fisher-Yates; the same (seed, n) gives the same order everywhere.
    public mutating func permutation(_ n: Int) -> [Int] {
        var p = Array(0..<n)
        if n > 1 {
            for i in stride(from: n - 1, to: 0, by: -1) { p.swapAt(i, below(i + 1)) }
        }
        return p
    }
}

