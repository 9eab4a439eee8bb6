import AllReduce
import Foundation
import Layers
import Tensor
import XCTest
@testable import Training

/// The parameter fingerprint check names the first tensor (in state-dict order) that differs and
/// the ranks that hold another value than rank 0, on every rank alike; identical replicas pass.
final class DesyncTests: XCTestCase {
    /// Each rank builds the same model (same seed), applies `perturb[rank]` (tensor name, element)
    /// by moving that element one ulp, and runs the check; returns each rank's error text, nil
    /// for a rank that passed.
    private func check(ranks: Int, perturb: [Int: [(String, Int)]]) throws -> [String?] {
        let lock = NSLock()
        var outcome = [String?](repeating: "did not run", count: ranks)
        try InProcessWorld.run(size: ranks, timeoutSeconds: 30) { comm in
            let model = try Model(spec: TrainingFixture.bnSpec, inputShape: [1, 12, 12], classes: 4, seed: 7)
            let tensors = Dictionary(uniqueKeysWithValues: model.stateDict().compactMap { e -> (String, Tensor)? in
                if case .float(let t) = e.value { return (e.name, t) } else { return nil }
            })
            for (name, index) in perturb[comm.rank] ?? [] {
                let t = try XCTUnwrap(tensors[name], "no tensor \(name)")
                t.data[index] = t.data[index].nextUp
            }
            var text: String? = nil
            do { try ConsistencyCheck.verifyParameters(comm: comm, model: model, step: 40) } catch { text = "\(error)" }
            // Returning normally (not rethrowing) keeps a fast rank from aborting the in-process
            // world while a slower one still finishes the same check.
            lock.lock(); outcome[comm.rank] = text; lock.unlock()
        }
        return outcome
    }

    func testIdenticalReplicasPass() throws {
        XCTAssertEqual(try check(ranks: 3, perturb: [:]), [nil, nil, nil])
    }

    func testOneUlpOnOneRankNamesTheTensorAndTheRank() throws {
        let expected = "ranks out of sync: after step 40, tensor '4.weight' differs between rank 0 and rank(s) 2"
        XCTAssertEqual(try check(ranks: 3, perturb: [2: [("4.weight", 17)]]), [expected, expected, expected])
    }

    func testTheFirstDifferingTensorIsNamedWithAllItsRanks() throws {
        // Rank 1 differs in the last layer only, rank 2 in the first and the last.
        let late = try check(ranks: 3, perturb: [1: [("8.bias", 0)], 2: [("8.bias", 3)]])
        XCTAssertEqual(late[0], "ranks out of sync: after step 40, tensor '8.bias' differs between rank 0 and rank(s) 1, 2")
        let early = try check(ranks: 3, perturb: [1: [("8.bias", 0)], 2: [("0.weight", 0), ("8.bias", 0)]])
        XCTAssertEqual(early[1], "ranks out of sync: after step 40, tensor '0.weight' differs between rank 0 and rank(s) 2")
        // Rank 0 is the reference: when it is the odd one out, all the others are named.
        let zero = try check(ranks: 3, perturb: [0: [("1.weight", 5)]])
        XCTAssertEqual(zero[2], "ranks out of sync: after step 40, tensor '1.weight' differs between rank 0 and rank(s) 1, 2")
    }

    /// Runs `config` on 2 thread ranks, rank 1 with `change` applied, and returns the error.
    private func startError(_ change: (inout TrainConfig) -> Void) -> String {
        let base = TrainingFixture.config(steps: 2)
        var other = base
        change(&other)
        do {
            try InProcessWorld.run(size: 2, timeoutSeconds: 30) { [other] comm in
                _ = try Trainer(config: comm.rank == 1 ? other : base, communicator: comm, log: { _ in }).run()
            }
        } catch { return "\(error)" }
        return "no error"
    }

    /// Same spec, but rank 1's data have 5 classes: its last layer and parameter count differ.
    /// The start check speaks before the parameter broadcast could fail on the lengths.
    func testADifferentParameterCountIsNamedBeforeTheBroadcast() {
        let error = startError { $0.synthetic.classes = 5 }
        XCTAssertTrue(error.hasPrefix("ranks out of sync: rank 1 has a different parameter count than rank 0 (1357 vs 1340)"), error)
    }

    func testADifferentDatasetSizeIsCaughtAtStart() {
        let error = startError { $0.trainSubset = 128 }
        XCTAssertEqual(error, "ranks out of sync: rank 1 has a different training set size than rank 0 (128 vs 256): "
            + "start every rank with the same flags and data")
    }

    /// The trainer's own periodic check (`--desync-check-every 5`) catches parameters that
    /// drifted on one rank mid-run, here moved by the test hook on rank 2 after step 5, and
    /// stops every rank with the tensor and the rank named.
    func testTheTrainerCatchesADesyncMidRun() throws {
        var config = TrainingFixture.config(steps: 12)
        config.desyncCheckEvery = 5
        let lock = NSLock()
        var errors = [String](repeating: "no error", count: 3)
        var steps = [Int](repeating: 0, count: 3)
        try InProcessWorld.run(size: 3, timeoutSeconds: 30) { comm in
            let trainer = Trainer(config: config, communicator: comm, log: { _ in })
            trainer.afterStep = { model, step in
                lock.lock(); steps[comm.rank] = step; lock.unlock()
                guard comm.rank == 2, step == 5 else { return }
                for entry in model.stateDict() where entry.name == "4.weight" {
                    if case .float(let t) = entry.value { t.data[3] += 0.5 }
                }
            }
            do { _ = try trainer.run() } catch { lock.lock(); errors[comm.rank] = "\(error)"; lock.unlock() }
        }
        let expected = "ranks out of sync: after step 5, tensor '4.weight' differs between rank 0 and rank(s) 2"
        XCTAssertEqual(errors, [expected, expected, expected])
        XCTAssertEqual(steps, [5, 5, 5], "every rank must stop at the check that found the desync")
    }

    /// Two specs with the same parameters (relu vs tanh) pass the broadcast; the start check
    /// must catch them before a single step.
    func testDifferentModelSpecsAreCaughtAtStart() throws {
        let base = TrainingFixture.config(steps: 2)
        XCTAssertThrowsError(try InProcessWorld.run(size: 2, timeoutSeconds: 30) { comm in
            var c = base
            if comm.rank == 1 { c.model = c.model.replacingOccurrences(of: "relu-gap", with: "tanh-gap") }
            _ = try Trainer(config: c, communicator: comm, log: { _ in }).run()
        }) { error in
            XCTAssertTrue("\(error)".hasPrefix("ranks out of sync: rank 1 has a different model spec than rank 0"), "\(error)")
        }
    }
}
