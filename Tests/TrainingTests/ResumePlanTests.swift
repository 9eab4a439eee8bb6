import Foundation
import Layers
import XCTest
@testable import Training

/// `--resume` alone restores the run from its checkpoint; a flag given again is applied when the
/// run stays the same run and refused (flag, recorded value, way out) when it would not.
final class ResumePlanTests: XCTestCase {
    /// A run of 2 ranks with settings far from the defaults, stopped by --max-steps after 20
    /// steps (15 per epoch: 5 into the second of 3 epochs), with checkpoints after epoch 1 and
    /// at the stop, and a metrics file.
    private func stoppedRun(schedule: LRSchedule.Kind = .step) throws -> TrainConfig {
        var c = TrainingFixture.config(spec: "flatten-fc8-relu-fc", batch: 8, epochs: 3, steps: 20)
        c.schedule = schedule
        c.lr = 0.03; c.momentum = 0.8; c.weightDecay = 1e-4; c.seed = 7; c.trainSubset = 240
        c.threads = 1; c.logEvery = 3; c.keepCheckpoints = 3
        let dir = TrainingFixture.temporaryDirectory("plan")
        c.checkpointDir = dir + "/run"
        c.metricsPath = dir + "/m.jsonl"
        _ = try TrainingFixture.train(c, ranks: 2)
        return c
    }

    private func resume(_ dir: String, _ change: (inout TrainConfig) -> Void = { _ in }, given: Set<String> = [],
                        launch: ResumePlan.Launch = .alone) throws -> ResumePlan {
        var flags = TrainConfig()
        flags.resume = dir
        change(&flags)
        return try ResumePlan(flags: flags, given: given, launch: launch)
    }

    private func refusal(_ dir: String, _ change: (inout TrainConfig) -> Void, given: Set<String>,
                         launch: ResumePlan.Launch = .alone) -> String {
        do {
            _ = try resume(dir, change, given: given, launch: launch)
            return "accepted"
        } catch let e as TrainError {
            XCTAssertEqual(e.exitCode, 64, "\(e)")
            return "\(e)"
        } catch {
            return "unexpected error \(error)"
        }
    }

    func testNoFlagsRestoreEverySettingTheDirectoryAndTheMetricsFile() throws {
        let run = try stoppedRun()
        let plan = try resume(run.checkpointDir!)
        var expected = run
        expected.resume = run.checkpointDir
        expected.maxSteps = 0  // reached: the resume goes on
        expected.quiet = false  // this invocation's, not the run's
        expected.metricsPath = URL(fileURLWithPath: run.metricsPath!).standardizedFileURL.path
        XCTAssertEqual(plan.config, expected)
        XCTAssertEqual(plan.ranks, 2, "the run's ranks, for a process started alone")
        XCTAssertEqual(plan.changes, ["--max-steps 0 (was 20, reached)"])
        XCTAssertEqual(plan.notes, [])
        XCTAssertEqual(plan.saved.globalStep, 20)
        XCTAssertEqual(plan.saved.stepInEpoch, 5)
    }

    func testTheSameValuesGivenAgainChangeNothing() throws {
        let run = try stoppedRun()
        var same = run
        same.maxSteps = 0
        let plan = try resume(run.checkpointDir!, { flags in
            let dir = flags.resume
            flags = same
            flags.resume = dir
        }, given: TrainSetting.allFlags.subtracting(["--max-steps", "--metrics"]), launch: .ranks(2))
        XCTAssertEqual(plan.changes, ["--max-steps 0 (was 20, reached)"])
        XCTAssertEqual(plan.config.metricsPath, URL(fileURLWithPath: run.metricsPath!).standardizedFileURL.path)
    }

    func testHowTheRunIsCarriedOutMayChangeAndIsListed() throws {
        let run = try stoppedRun()
        let elsewhere = TrainingFixture.temporaryDirectory("elsewhere")
        let plan = try resume(run.checkpointDir!, {
            $0.threads = 2; $0.logEvery = 5; $0.metricsPath = elsewhere + "/m.jsonl"; $0.checkpointDir = elsewhere + "/run"
            $0.maxSteps = 40
        }, given: ["--threads", "--log-every", "--metrics", "--checkpoint-dir", "--max-steps"])
        XCTAssertEqual(plan.config.threads, 2)
        XCTAssertEqual(plan.config.logEvery, 5)
        XCTAssertEqual(plan.config.checkpointDir, elsewhere + "/run")
        XCTAssertEqual(plan.config.maxSteps, 40)
        XCTAssertEqual(plan.changes, [
            "--threads 2 (was 1)", "--log-every 5 (was 3)", "--max-steps 40 (was 20)",
            "--checkpoint-dir \(elsewhere)/run (the run's was \(run.checkpointDir!))",
            "--metrics \(elsewhere)/m.jsonl (was \(URL(fileURLWithPath: run.metricsPath!).standardizedFileURL.path))",
        ])
    }

    func testWhatMakesAnotherRunIsRefusedWithTheRecordedValueAndTheWayOut() throws {
        let run = try stoppedRun()
        let dir = run.checkpointDir!
        let cases: [(String, (inout TrainConfig) -> Void, String)] = [
            ("--model", { $0.model = "flatten-fc" }, "--model flatten-fc differs from the run resumed from \(dir) (--model flatten-fc8-relu-fc)"),
            ("--dataset", { $0.dataset = "mnist" }, "--dataset mnist differs from the run resumed from \(dir) (--dataset synthetic)"),
            ("--train-subset", { $0.trainSubset = 100 }, "--train-subset 100 differs from the run resumed from \(dir) (--train-subset 240)"),
            ("--lr", { $0.lr = 0.1 }, "--lr 0.1 differs from the run resumed from \(dir) (--lr 0.03)"),
            ("--init", { $0.weightInit = .kaiming }, "--init kaiming differs from the run resumed from \(dir) (--init torch)"),
            ("--label-smoothing", { $0.labelSmoothing = 0.1 },
             "--label-smoothing 0.1 differs from the run resumed from \(dir) (--label-smoothing 0.0)"),
            ("--ema", { $0.ema = 0.999 }, "--ema 0.999 differs from the run resumed from \(dir) (--ema 0.0)"),
            ("--warmup-epochs", { $0.warmupEpochs = 1 },
             "--warmup-epochs 1.0 differs from the run resumed from \(dir) (--warmup-epochs default)"),
            ("--schedule", { $0.schedule = .cosine }, "--schedule cosine differs from the run resumed from \(dir) (--schedule step)"),
            ("--seed", { $0.seed = 1 }, "--seed 1 differs from the run resumed from \(dir) (--seed 7)"),
            ("--sync-bn", { $0.syncBN = true }, "--sync-bn on differs from the run resumed from \(dir) (--sync-bn off)"),
        ]
        for (flag, change, message) in cases {
            let line = refusal(dir, change, given: [flag])
            XCTAssertTrue(line.hasPrefix(message), line)
            XCTAssertTrue(line.hasSuffix("leave \(flag) out to continue it as it was, or start a new run from its weights "
                                         + "with --init-from \(dir)"), line)
        }
    }

    /// Any rank count resumes, mid-epoch too, with the run's global batch of 2 x 8 = 16: the
    /// per-rank batch is derived, or the accumulation when --batch-size is given; the learning
    /// rate stays the one of that global batch.
    func testAnyRankCountKeepsTheGlobalBatch() throws {
        let run = try stoppedRun()
        let dir = run.checkpointDir!
        let cases: [(ResumePlan.Launch, (inout TrainConfig) -> Void, Set<String>, BatchSplit, [String])] = [
            (.ranks(1), { _ in }, [], BatchSplit(batchSize: 16, accumulate: 1), ["--batch-size 16 (was 8)", "ranks 1 (was 2)"]),
            (.ranks(4), { _ in }, [], BatchSplit(batchSize: 4, accumulate: 1), ["--batch-size 4 (was 8)", "ranks 4 (was 2)"]),
            (.ranks(16), { _ in }, [], BatchSplit(batchSize: 1, accumulate: 1), ["--batch-size 1 (was 8)", "ranks 16 (was 2)"]),
            (.ranks(1), { $0.batchSize = 4 }, ["--batch-size"], BatchSplit(batchSize: 4, accumulate: 4),
             ["--batch-size 4 (was 8)", "--accumulate 4 (was 1)", "ranks 1 (was 2)"]),
            (.alone, { $0.accumulate = 2 }, ["--accumulate"], BatchSplit(batchSize: 4, accumulate: 2),
             ["--batch-size 4 (was 8)", "--accumulate 2 (was 1)"]),
            (.ranks(2), { $0.batchSize = 8; $0.accumulate = 1 }, ["--batch-size", "--accumulate"],
             BatchSplit(batchSize: 8, accumulate: 1), []),
        ]
        for (launch, change, given, split, changes) in cases {
            let plan = try resume(dir, change, given: given, launch: launch)
            XCTAssertEqual(BatchSplit(batchSize: plan.config.batchSize, accumulate: plan.config.accumulate), split, "\(launch)")
            XCTAssertEqual(plan.changes, changes + ["--max-steps 0 (was 20, reached)"], "\(launch)")
            XCTAssertEqual(plan.config.globalBatch(ranks: plan.ranks), 16, "\(launch)")
            var scaled = plan.config
            scaled.scaleLR = true
            XCTAssertEqual(scaled.lrScale(ranks: plan.ranks), 2, "\(launch): the LR of 2 ranks x 8 goes on")
        }
    }

    /// Where the global batch cannot be kept, one line says why and what to do; a new global
    /// batch (both flags given) is applied at an epoch boundary only.
    func testAGlobalBatchThatCannotBeKeptIsRefused() throws {
        let run = try stoppedRun()
        let dir = run.checkpointDir!
        let theirs = "the global batch of 16 of the run resumed from \(dir) (2 ranks x --batch-size 8 x --accumulate 1)"
        let newRun = "start a new run from its weights with --init-from \(dir)"
        XCTAssertEqual(refusal(dir, { _ in }, given: [], launch: .ranks(3)),
                       "this launch has 3 ranks, which cannot share \(theirs) evenly: resume it on a number of ranks that "
                        + "divides 16, or \(newRun)")
        XCTAssertEqual(refusal(dir, { $0.batchSize = 3 }, given: ["--batch-size"]),
                       "--batch-size 3 on 2 ranks cannot make up \(theirs) with a whole --accumulate: give a --batch-size "
                        + "that divides 8 (or leave it out), or \(newRun)")
        XCTAssertEqual(refusal(dir, { $0.accumulate = 3 }, given: ["--accumulate"], launch: .ranks(1)),
                       "--accumulate 3 on 1 rank cannot make up \(theirs) with a whole --batch-size: give an --accumulate "
                        + "that divides 16 (or leave it out), or \(newRun)")
        XCTAssertTrue(refusal(dir, { $0.batchSize = 8; $0.accumulate = 2 }, given: ["--batch-size", "--accumulate"]).hasPrefix(
            "--batch-size 8 x --accumulate 2 on 2 ranks make a global batch of 32, but the run resumed from \(dir) "
                + "stopped mid-epoch (step 5 of epoch 2) with 16"))

        var boundary = TrainingFixture.config(spec: "flatten-fc8-relu-fc", batch: 8, epochs: 3, steps: 16)
        boundary.checkpointDir = TrainingFixture.temporaryDirectory("boundary")
        _ = try TrainingFixture.train(boundary, ranks: 2)
        let plan = try resume(boundary.checkpointDir!, { $0.batchSize = 16; $0.accumulate = 2 },
                              given: ["--batch-size", "--accumulate"], launch: .ranks(1))
        XCTAssertEqual(plan.changes, ["global batch 32 (was 16)", "--batch-size 16 (was 8)", "--accumulate 2 (was 1)",
                                      "ranks 1 (was 2)", "--max-steps 0 (was 16, reached)"])
        var scaled = plan.config
        scaled.scaleLR = true
        XCTAssertEqual(scaled.lrScale(ranks: 1), 4, "the linear scaling rule follows the new global batch")
    }

    /// More epochs extend a constant or step schedule (the step schedule keeps the period it had);
    /// a cosine or one-cycle schedule is laid out over its epochs and cannot be stretched.
    func testEpochsExtendOnlyASchedulThatCan() throws {
        let step = try stoppedRun(schedule: .step)
        let longer = try resume(step.checkpointDir!, { $0.epochs = 9 }, given: ["--epochs"])
        XCTAssertEqual(longer.config.epochs, 9)
        XCTAssertEqual(longer.config.effectiveStepEpochs, 1, "a third of the 3 epochs it had, not of 9")
        XCTAssertTrue(longer.changes.contains("--epochs 9 (was 3)"))
        let cycle = try stoppedRun(schedule: .onecycle)
        let dir = cycle.checkpointDir!
        XCTAssertTrue(refusal(dir, { $0.epochs = 9 }, given: ["--epochs"]).hasPrefix(
            "--epochs 9 differs from the run resumed from \(dir) (--epochs 3): its onecycle schedule is laid out over 3 epochs"))
    }

    func testAFinishedRunHasNothingLeftAndSaysHowToGoOn() throws {
        var c = TrainingFixture.config(spec: "flatten-fc8-relu-fc", batch: 8, epochs: 1)
        c.checkpointDir = TrainingFixture.temporaryDirectory("finished")
        _ = try TrainingFixture.train(c, ranks: 1)
        XCTAssertEqual(refusal(c.checkpointDir!, { _ in }, given: []),
                       "the run in \(c.checkpointDir!) has trained 1 of --epochs 1: nothing left to train; raise --epochs to train on")
        XCTAssertEqual(try resume(c.checkpointDir!, { $0.epochs = 2 }, given: ["--epochs"]).config.epochs, 2)
    }

    /// Where new checkpoints go: the run directory of the checkpoint resumed, when it is that
    /// directory's latest; an older checkpoint would mix two runs there, and one outside a run
    /// directory has none: both need --checkpoint-dir.
    func testTheRunDirectoryIsTheCheckpointsOwnWhenItIsTheLatest() throws {
        let run = try stoppedRun()
        let dir = run.checkpointDir!
        XCTAssertEqual(try resume(dir + "/step-00000020").config.checkpointDir, dir)
        let older = dir + "/step-00000015"
        XCTAssertTrue(refusal(older, { _ in }, given: []).hasPrefix(
            "--resume \(older) is not the latest checkpoint of \(dir) (that is step-00000020)"))
        let lone = TrainingFixture.temporaryDirectory("lone") + "/copy"
        try FileManager.default.copyItem(atPath: dir + "/step-00000020", toPath: lone)
        XCTAssertTrue(refusal(lone, { _ in }, given: []).hasPrefix("--resume \(lone) lies in no run directory"))
        XCTAssertEqual(try resume(lone, { $0.checkpointDir = dir + "-2" }, given: ["--checkpoint-dir"]).config.checkpointDir, dir + "-2")
    }

    /// A checkpoint written before ddp recorded the metrics file (no run.json) and the newer
    /// settings (a config without them) still resumes; the banner says what it lacks.
    func testACheckpointFromBeforeTheRecordResumesAndSaysWhatIsMissing() throws {
        let run = try stoppedRun()
        let checkpoint = run.checkpointDir! + "/step-00000020"
        try FileManager.default.removeItem(atPath: checkpoint + "/" + Checkpoint.runFile)
        try OlderCheckpoint.dropConfigKeys(["overwrite"], in: checkpoint)
        let plan = try resume(run.checkpointDir!)
        XCTAssertEqual(plan.config.model, run.model)
        XCTAssertNil(plan.config.metricsPath)
        XCTAssertEqual(plan.notes, ["\(run.checkpointDir!)/step-00000020 is older than ddp's record of the metrics file: "
                                    + "give --metrics FILE to go on appending to the run's metrics"])
        XCTAssertEqual(try resume(run.checkpointDir!, { $0.metricsPath = run.metricsPath }, given: ["--metrics"]).notes, [])
    }
}
