/// The initial state of the PyTorch step fixtures, recomputed instead of stored: Swift's copy of
/// `init_values` in scripts/fixtures/make_fixtures.py. Integer hashing and one exact division give
/// a uniform u whose float32 value is exact; the scaling is one IEEE operation in Double rounded
/// once to Float, so both sides produce the same bits (checked against the fixture's
/// `init_stats.<name>`).
enum FixtureInit {
    /// FNV-1a (64 bit) of the UTF-8 name.
    static func nameKey(_ name: String) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in name.utf8 { h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return h
    }

    /// Element j: splitmix64's finalizer of seed * golden + nameKey + j, top 24 bits h,
    /// u = (2h + 1 - 2^24) / 2^25 in (-0.5, 0.5).
    static func unitUniform(seed: UInt64, name: String, count: Int) -> [Double] {
        let base = seed &* 0x9E37_79B9_7F4A_7C15 &+ nameKey(name)
        return (0..<count).map { j in
            var z = base &+ UInt64(j)
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            return Double(2 * Int64(z >> 40) + 1 - (1 << 24)) / Double(1 << 25)
        }
    }

    /// Conv/linear weights U(-b, b) with b = sqrt(6 / fan_in); BN gamma and running variance
    /// 1 + u; biases and running means 0.4 u.
    static func values(seed: UInt64, name: String, shape: [Int]) -> [Float] {
        let count = shape.reduce(1, *)
        let u = unitUniform(seed: seed, name: name, count: count)
        if shape.count > 1 {
            let width = 2 * (6 / Double(count / shape[0])).squareRoot()
            return u.map { Float($0 * width) }
        }
        if name.hasSuffix(".running_var") || name.hasSuffix(".weight") { return u.map { Float(1 + $0) } }
        return u.map { Float(0.4 * $0) }
    }
}
