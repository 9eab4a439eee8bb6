import AllReduce
import Layers
import Tensor

/// Cheap cross-rank checks that turn a silent desynchronization into a clear error.
enum ConsistencyCheck {
    /// At start: every rank must train the same model on the same data with the same seed.
    static func verifyStart(comm: any Communicator, model: Model, data: TrainingData, config: TrainConfig) throws {
        let fields: [(String, Double)] = [
            ("model spec", Double(fingerprint(model.spec))), ("parameter count", Double(model.parameterCount)),
            ("training set size", Double(data.train.count)), ("test set size", Double(data.test.count)),
            ("seed", Double(config.seed & 0xF_FFFF_FFFF_FFFF)), ("batch size", Double(config.batchSize)),
            ("accumulation", Double(config.accumulate)),
            ("sync-bn", config.syncBN ? 1 : 0), ("epochs", Double(config.epochs)),
        ]
        let all = try comm.allGather(fields.map { $0.1 })
        for (r, values) in all.enumerated() where r > 0 {
            for (i, (name, _)) in fields.enumerated() where values[i] != all[0][i] {
                throw TrainError.desync("rank \(r) has a different \(name) than rank 0 "
                    + "(\(format(values[i])) vs \(format(all[0][i]))): start every rank with the same flags and data")
            }
        }
    }

    /// At start: the kernel path of every rank, in rank order. A cluster may mix CPUs with and
    /// without AVX-512 (or a node forced to the portable path): that is allowed, and reported.
    static func kernelPaths(comm: any Communicator) throws -> [KernelPath] {
        let all = try comm.allGather([KernelPath.current == .avx512 ? 1.0 : 0.0])
        return all.map { $0[0] == 1 ? .avx512 : .portable }
    }

    /// Every N steps: the parameters must be bitwise identical on all ranks. One number per rank
    /// is exchanged; only on a mismatch are per-tensor fingerprints gathered to name the culprit.
    static func verifyParameters(comm: any Communicator, model: Model, step: Int) throws {
        let whole = Double(fingerprint(model.parameters.buffer))
        let all = try comm.allGather([whole])
        guard all.contains(where: { $0[0] != all[0][0] }) else { return }
        // Parameters only, as the whole fingerprint: without SyncBN each rank's BN running
        // statistics legitimately differ until the epoch's end averages them.
        let tensors = model.namedParameters()
        let mine = tensors.map { Double(fingerprint($0.value.buffer)) }
        let perRank = try comm.allGather(mine)
        for (i, (name, _)) in tensors.enumerated() {
            let differing = perRank.indices.filter { perRank[$0][i] != perRank[0][i] }
            if !differing.isEmpty {
                throw TrainError.desync("after step \(step), tensor '\(name)' differs between rank 0 and rank(s) "
                    + "\(differing.map(String.init).joined(separator: ", "))")
            }
        }
        throw TrainError.desync("after step \(step), parameters differ between ranks")
    }

    /// An order-sensitive hash of the exact bit patterns, kept to 52 bits so it travels as a Double.
    static func fingerprint(_ values: UnsafeMutableBufferPointer<Float>) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for (i, v) in values.enumerated() {
            h = (h ^ UInt64(v.bitPattern)) &* 0x100_0000_01B3 &+ UInt64(i)
        }
        return h >> 12
    }

    static func fingerprint(_ s: String) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
        return h >> 12
    }

    private static func format(_ x: Double) -> String { x == x.rounded() ? "\(Int64(x))" : "\(x)" }
}
