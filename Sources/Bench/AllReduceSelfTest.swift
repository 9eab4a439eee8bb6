import AllReduce
/// `ddp bench allreduce --verify`: our collectives under real MPI, checked against
/// `MPI_Allreduce` and a Double reference on rank-dependent data (scripts/tests/allreduce_mpi.sh
/// runs it under mpirun -n 1...4). The unit tests check the same over the in-process transport.
public enum AllReduceSelfTest {
    /// Runs every check; returns the failures of all ranks (the same list on every rank; empty
    /// when all passed). `log` gets a line per section and one per failure.
    public static func run(on communicator: MPICommunicator, log: (String) -> Void) throws -> [String] {
        let ranks = communicator.size
        var failures: [String] = []
        let savedAlgorithm = communicator.workspace.algorithm
        defer { communicator.workspace.algorithm = savedAlgorithm }

        let reference = try ReferenceAllReduce(over: communicator)
        let sizes = Array(Set([0, 1, max(ranks - 1, 0), ranks + 1, 1001, (1 << 20) + 3])).sorted()
        for algorithm in [AllReduceAlgorithm.ring, .recursiveDoubling, .hierarchical] {
            communicator.workspace.algorithm = algorithm
            var cases = 0
            for count in sizes {
                for random in [false, true] {
                    for op in [ReduceOp.sum, .average] {
                        failures += try checkAllReduce(Float.self, count: count, random: random, op: op,
                                                       communicator: communicator, reference: reference)
                        failures += try checkAllReduce(Double.self, count: count, random: random, op: op,
                                                       communicator: communicator, reference: reference)
                        cases += 2
                    }
                }
            }
            log("allreduce \(algorithm.rawValue): \(cases) cases, sizes \(sizes.map(String.init).joined(separator: ", "))")
        }
        communicator.workspace.algorithm = savedAlgorithm

        failures += try checkBroadcast(communicator)
        log("broadcast: roots \(Set([0, ranks - 1]).sorted())")
        failures += try checkAllGather(communicator)
        log("allgather: Double vectors of per-rank lengths, strings")
        failures += try checkBuckets(communicator)
        log("gradient buckets: overlap off and on, random readiness order")
        if ranks > 1 {
            failures += try checkTimeout(communicator)
            log("timeout: a receive from a silent rank 0 ends naming rank 0")
            if ranks > 2 {
                failures += try checkTimeoutChain(communicator)
                log("timeout chain: rank 1 waits for rank 0, which waits for silent rank 2: both name rank 2")
            }
            failures += try checkMismatch(communicator)
            log("mismatch: allReduce of 10 on rank 0, 11 elsewhere: every rank throws")
        }

        let everyone = try communicator.allGather(failures.joined(separator: "\n"))
            .flatMap { $0.split(separator: "\n").map(String.init) }
        for failure in everyone { log("FAILED " + failure) }
        log(everyone.isEmpty ? "allreduce self-test passed on \(ranks) rank(s)"
            : "allreduce self-test: \(everyone.count) failure(s) on \(ranks) rank(s)")
        return everyone
    }

    // MARK: the checks (each returns this rank's failures)

    private static func checkAllReduce<T: ReducibleElement>(
        _: T.Type, count: Int, random: Bool, op: ReduceOp, communicator: MPICommunicator,
        reference: ReferenceAllReduce
    ) throws -> [String] {
        let ranks = communicator.size, rank = communicator.rank
        let label = "rank \(rank): allReduce \(communicator.workspace.algorithm.rawValue) \(T.self) n=\(count) "
            + "\(random ? "random" : "rank+1") \(op.rawValue)"
        func input(_ r: Int, _ i: Int) -> T { random ? T(uniform(rank: r, index: i)) : T(r + 1) }

        var ours = (0..<count).map { input(rank, $0) }
        var theirs = ours
        try communicator.allReduce(&ours, op: op)
        try theirs.withUnsafeMutableBufferPointer { try reference.allReduce($0.baseAddress, count: count) }
        if op == .average { for i in theirs.indices { theirs[i] /= T(ranks) } }

        var failures: [String] = []
        if try !sameOnAllRanks(ours, communicator) { failures.append(label + ": ranks hold different bits") }
        let epsilon = Double(T.ulpOfOne)
        for i in 0..<count {
            var exact = 0.0, magnitude = 0.0
            for r in 0..<ranks { let x = Double(input(r, i)); exact += x; magnitude += abs(x) }
            if op == .average { exact /= Double(ranks); magnitude /= Double(ranks) }
            let tolerance = random ? Double(ranks) * epsilon * magnitude + epsilon * abs(exact) : 0
            if abs(Double(ours[i]) - exact) > tolerance || abs(Double(theirs[i]) - exact) > tolerance {
                failures.append(label + ": element \(i): ours \(ours[i]), MPI_Allreduce \(theirs[i]), exact \(exact)")
                break
            }
        }
        return failures
    }

    private static func checkBroadcast(_ communicator: MPICommunicator) throws -> [String] {
        var failures: [String] = []
        for root in Set([0, communicator.size - 1]).sorted() {
            for count in [0, 1001] {
                let expected = (0..<count).map { Float(uniform(rank: root, index: $0)) }
                var values = communicator.rank == root ? expected : [Float](repeating: -1, count: count)
                try communicator.broadcast(&values, root: root)
                if values != expected {
                    failures.append("rank \(communicator.rank): broadcast of \(count) from root \(root) differs from the root's data")
                }
            }
        }
        return failures
    }

    private static func checkAllGather(_ communicator: MPICommunicator) throws -> [String] {
        func vector(_ r: Int) -> [Double] { (0...r).map { Double(r * 100 + $0) } }
        var failures: [String] = []
        let gathered = try communicator.allGather(vector(communicator.rank))
        if gathered != (0..<communicator.size).map(vector) {
            failures.append("rank \(communicator.rank): allGather of per-rank Double vectors is wrong: \(gathered)")
        }
        let names = try communicator.allGather("rank \(communicator.rank) says hello")
        if names != (0..<communicator.size).map({ "rank \($0) says hello" }) {
            failures.append("rank \(communicator.rank): allGather of strings is wrong: \(names)")
        }
        return failures
    }

    /// Buckets fed a random readiness order (different on every rank) give the same bits with
    /// overlap off and on, and the average within tolerance.
    private static func checkBuckets(_ communicator: MPICommunicator) throws -> [String] {
        let count = 100_003, ranks = communicator.size, rank = communicator.rank
        var results: [[Float]] = []
        for overlap in [false, true] {
            var gradients = (0..<count).map { Float(uniform(rank: rank, index: $0)) }
            try gradients.withUnsafeMutableBufferPointer { buffer in
                let buckets = try GradientBuckets(communicator: communicator, buffer: buffer.baseAddress!, count: count,
                                                  capBytes: 64 << 10, overlap: overlap)
                var state = UInt64(rank * 7 + (overlap ? 1 : 0))
                var offset = count
                while offset > 0 {
                    state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                    offset = max(0, offset - Int(state >> 33) % 30_000)
                    buckets.gradientReady(offset)
                }
                try buckets.finish()
            }
            results.append(gradients)
        }
        var failures: [String] = []
        if results[0] != results[1] { failures.append("rank \(rank): buckets with overlap differ from buckets without") }
        for i in 0..<count {
            var exact = 0.0, magnitude = 0.0
            for r in 0..<ranks { let x = Double(Float(uniform(rank: r, index: i))); exact += x; magnitude += abs(x) }
            exact /= Double(ranks); magnitude /= Double(ranks)
            let tolerance = Double(ranks) * Double(Float.ulpOfOne) * magnitude + Double(Float.ulpOfOne) * abs(exact)
            if abs(Double(results[1][i]) - exact) > tolerance {
                failures.append("rank \(rank): bucket average at \(i) is \(results[1][i]), exact \(exact)")
                break
            }
        }
        return failures
    }

    /// On a duplicate with a 1 s timeout, rank 1 waits for a message rank 0 never sends.
    private static func checkTimeout(_ communicator: MPICommunicator) throws -> [String] {
        let silent = try communicator.duplicate()
        silent.timeoutSeconds = 1
        var failures: [String] = []
        if communicator.rank == 1 {
            var byte: UInt8 = 0
            do {
                _ = try silent.receive(&byte, count: 1, from: 0)
                failures.append("rank 1: a receive from silent rank 0 returned")
            } catch let error as CommunicatorError {
                guard case .timeout(rank: 1, peer: 0, _, _, _) = error else {
                    return ["rank 1: a receive from silent rank 0 threw \(error) instead of a timeout naming rank 0"]
                }
            }
        }
        try communicator.barrier()
        return failures
    }

    /// On a duplicate with a 1 s timeout, rank 0 waits for rank 2, which never sends, and rank 1
    /// waits for rank 0. Rank 1 must name rank 2 (by following the chain, or through rank 0's
    /// notice), not its neighbour rank 0, which is only waiting too.
    private static func checkTimeoutChain(_ communicator: MPICommunicator) throws -> [String] {
        let chained = try communicator.duplicate()
        chained.timeoutSeconds = 1
        let rank = communicator.rank
        var failures: [String] = []
        if rank < 2 {
            var byte: UInt8 = 0
            do {
                _ = try chained.receive(&byte, count: 1, from: rank == 0 ? 2 : 0)
                failures.append("rank \(rank): a receive in a chain ending at silent rank 2 returned")
            } catch let error as CommunicatorError {
                if !error.description.contains("rank 2 did not answer") {
                    failures.append("rank \(rank): a wait on a chain ending at silent rank 2 threw \(error)")
                }
            }
        }
        try communicator.barrier()
        return failures
    }

    /// On a duplicate, rank 0 allreduces 10 elements and the others 11: every rank must throw
    /// a mismatch (or the notice of one), none may time out or return.
    private static func checkMismatch(_ communicator: MPICommunicator) throws -> [String] {
        let mismatched = try communicator.duplicate()
        mismatched.timeoutSeconds = 20
        mismatched.workspace.algorithm = .ring
        var values = [Float](repeating: 1, count: communicator.rank == 0 ? 10 : 11)
        var failures: [String] = []
        do {
            try mismatched.allReduce(&values)
            failures.append("rank \(communicator.rank): a mismatched allReduce returned")
        } catch let error as CommunicatorError {
            switch error {
            case .collectiveMismatch, .peerFailed: break
            default: failures.append("rank \(communicator.rank): a mismatched allReduce threw \(error)")
            }
        }
        try communicator.barrier()
        return failures
    }

    // MARK: helpers

    /// Whether every rank holds the same bytes (compared by a 64-bit FNV-1a hash).
    private static func sameOnAllRanks<T>(_ values: [T], _ communicator: any Communicator) throws -> Bool {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        values.withUnsafeBytes { for byte in $0 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 } }
        let all = try communicator.allGather([Int64(bitPattern: hash)])
        return all.allSatisfy { $0 == all[0] }
    }

    /// Rank r's value at index i in [-1, 1): SplitMix64 of (r, i), the same on every rank.
    static func uniform(rank: Int, index: Int) -> Double {
        var z = UInt64(rank) &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(index) &* 0xD1B5_4A32_D192_ED03 &+ 0x5DEE_CE66
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Double(z >> 11) / Double(1 << 53) * 2 - 1
    }
}
