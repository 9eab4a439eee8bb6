import Formats
import Foundation
import XCTest

/// The bad-input corpus, run against the real `ddp` binary: every case must end within its
/// deadline, with the expected exit status and exactly one stderr line `ddp: error: ...` that
/// names what is wrong and where; never a crash, a Foundation dump or a hang; and a good
/// checkpoint that was there before is still there, byte for byte, after a failed run.
final class BadInputCorpusTests: XCTestCase {
    /// Good data and the checkpoints of short real runs, made once for the whole class.
    struct Fixture {
        let root: String
        var fashion: String { root + "/fashion" }          // 64 train / 16 test, 1x8x8
        var cifar: String { root + "/cifar" }              // 20 train / 4 test, 3x32x32
        var run: String { root + "/run" }                  // flatten-fc, 1 epoch on `fashion`
        var foreign: String { root + "/foreign" }          // flatten-fc16-relu-fc on `fashion`
        var cifarRun: String { root + "/cifar-run" }       // flatten-fc on `cifar`
    }

    nonisolated(unsafe) private static var cached: Fixture?

    static func fixture() throws -> Fixture {
        if let cached { return cached }
        let f = Fixture(root: NSTemporaryDirectory() + "ddp-bad-input-\(getpid())")
        try? FileManager.default.removeItem(atPath: f.root)
        try BadInputFiles.fashionDirectory(f.fashion)
        try BadInputFiles.cifarDirectory(f.cifar)
        for (dir, data, dataset, model) in [(f.run, f.fashion, "fashion-mnist", "flatten-fc"),
                                            (f.foreign, f.fashion, "fashion-mnist", "flatten-fc16-relu-fc"),
                                            (f.cifarRun, f.cifar, "cifar10", "flatten-fc")] {
            let r = try DDPProcess.run(["train", "--dataset", dataset, "--data-dir", data, "--model", model, "--epochs", "1",
                                        "--batch-size", "4", "--schedule", "constant", "--quiet", "--checkpoint-dir", dir],
                                       within: 60)
            guard r.status == 0, !r.hung else { throw FixtureFailed(description: "fixture run for \(dir) failed: \(r.stderr)") }
        }
        cached = f
        return f
    }

    struct FixtureFailed: Error, CustomStringConvertible { let description: String }

    /// `ddp train` on tiny fashion-mnist-format data with a linear model.
    private func train(_ dataDir: String, _ extra: [String] = []) -> [String] {
        ["train", "--dataset", "fashion-mnist", "--data-dir", dataDir, "--model", "flatten-fc", "--epochs", "1",
         "--batch-size", "4", "--schedule", "constant", "--quiet"] + extra
    }

    /// Runs the case and checks exit status, the one error line and its fragments, and the deadline.
    @discardableResult
    private func expectError(_ what: String, _ arguments: [String], status: Int32 = 1, _ fragments: [String],
                             environment: [String: String] = [:], memoryLimitMB: Int? = nil, within seconds: Double = 30,
                             file: StaticString = #filePath, line: UInt = #line) throws -> DDPProcess.Result {
        let r = try DDPProcess.run(arguments, environment: environment, memoryLimitMB: memoryLimitMB, within: seconds)
        XCTAssertFalse(r.hung, "\(what): still running after \(seconds) s", file: file, line: line)
        XCTAssertFalse(r.killedBySignal, "\(what): died of signal \(r.status):\n\(r.stderr)", file: file, line: line)
        XCTAssertEqual(r.status, status, "\(what): exit status; stderr:\n\(r.stderr)", file: file, line: line)
        XCTAssertEqual(r.errorLines.count, 1, "\(what): expected exactly one line on stderr, got:\n\(r.stderr)", file: file, line: line)
        let message = r.errorLines.first ?? ""
        XCTAssertTrue(message.hasPrefix("ddp: error: "), "\(what): \(message)", file: file, line: line)
        for fragment in fragments {
            XCTAssertTrue(message.contains(fragment), "\(what): '\(fragment)' missing from:\n\(message)", file: file, line: line)
        }
        for dump in ["Fatal error", "Error Domain", "could not be completed", "Swift/", "Backtrac", "Usage:"] {
            XCTAssertFalse(r.stderr.contains(dump), "\(what): '\(dump)' in:\n\(r.stderr)", file: file, line: line)
        }
        return r
    }

    private func directory(_ name: String) throws -> String {
        let dir = try Self.fixture().root + "/" + name
        try? FileManager.default.removeItem(atPath: dir)
        return dir
    }

    // MARK: data files

    func testMissingOrUnreadableDataFiles() throws {
        let f = try Self.fixture()
        try expectError("missing directory", train(f.root + "/nowhere"),
                        ["nowhere/train-images-idx3-ubyte[.gz]: file not found", "--data-dir"])
        let noTestLabels = try directory("no-test-labels")
        try BadInputFiles.fashionDirectory(noTestLabels, replace: [BadInputFiles.testLabels: nil])
        try expectError("missing test labels", train(noTestLabels),
                        ["t10k-labels-idx1-ubyte[.gz]: file not found", "labels of the fashion-mnist test set"])
        let dirInstead = try directory("dir-instead")
        try BadInputFiles.fashionDirectory(dirInstead, replace: [BadInputFiles.trainImages: nil])
        try FileManager.default.createDirectory(atPath: dirInstead + "/" + BadInputFiles.trainImages, withIntermediateDirectories: false)
        try expectError("a directory where the images should be", train(dirInstead),
                        ["train-images-idx3-ubyte: cannot read: is a directory"])
        let empty = try directory("empty-labels")
        try BadInputFiles.fashionDirectory(empty, replace: [BadInputFiles.trainLabels: []])
        try expectError("empty label file", train(empty), ["train-labels-idx1-ubyte: truncated: the file is empty"])
    }

    func testCorruptIDXFiles() throws {
        typealias B = BadInputFiles
        let cases: [(String, [String: [UInt8]?], [String])] = [
            ("labels where images belong", [B.trainImages: B.labels(count: 64)],
             ["train-images-idx3-ubyte: wrong magic 0x00000801, expected 0x00000803", "looks like a label file"]),
            ("random magic", [B.testImages: [0xDE, 0xAD, 0xBE, 0xEF] + Array(B.images(count: 16, side: 8).dropFirst(4))],
             ["t10k-images-idx3-ubyte: wrong magic 0xDEADBEEF"]),
            ("truncated images", [B.trainImages: Array(B.images(count: 64, side: 8).dropLast(10))],
             ["train-images-idx3-ubyte: truncated", "64x8x8 = 4096 data bytes but the file holds 4086"]),
            ("truncated header", [B.trainLabels: Array(B.labels(count: 64).prefix(6))],
             ["train-labels-idx1-ubyte: truncated: the header ends after 6 of its 8 bytes"]),
            ("trailing bytes", [B.trainLabels: B.labels(count: 64) + [1, 2, 3]],
             ["train-labels-idx1-ubyte: unexpected trailing data"]),
            ("image/label count mismatch", [B.trainLabels: B.labels(count: 63)],
             ["train-images-idx3-ubyte holds 64 images but", "train-labels-idx1-ubyte holds 63 labels"]),
            ("label out of range", [B.testLabels: B.idx(magic: B.labelsMagic, dims: [16], payload: [0, 1, 2, 3, 4, 10] + Array(repeating: 0, count: 10))],
             ["t10k-labels-idx1-ubyte: label 10 of sample 5 is out of range (expected 0...9 for 10 classes)"]),
            ("absurd header dimensions", [B.trainImages: B.idx(magic: B.imagesMagic, dims: [0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF], payload: [])],
             ["train-images-idx3-ubyte: header promises", "more than the limit of 4294967296 bytes"]),
            ("header promising a full dataset", [B.trainImages: B.idx(magic: B.imagesMagic, dims: [60000, 28, 28], payload: [1, 2, 3])],
             ["train-images-idx3-ubyte: truncated", "60000x28x28 = 47040000 data bytes but the file holds 3"]),
            ("zero samples", [B.trainImages: B.idx(magic: B.imagesMagic, dims: [0, 8, 8], payload: [])],
             ["train-images-idx3-ubyte: wrong dimensions: the header declares 0 samples"]),
            // A deflate block of the reserved type 3 right after the gzip header.
            ("corrupt gzip", [B.trainImages: [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3, 0x07] + Array(repeating: 0xAB, count: 64)],
             ["train-images-idx3-ubyte: corrupt gzip data"]),
            ("test images of another size", [B.testImages: B.images(count: 16, side: 9)],
             ["fashion-mnist test set has 1x9x9 images", "but the train set has 1x8x8", "(expected the same)"]),
        ]
        for (i, (what, replace, fragments)) in cases.enumerated() {
            let dir = try directory("idx-\(i)")
            try BadInputFiles.fashionDirectory(dir, replace: replace)
            try expectError(what, train(dir), fragments)
        }
    }

    func testCIFARRecordErrors() throws {
        typealias B = BadInputFiles
        let cases: [(String, [String: [UInt8]?], [String])] = [
            ("record cut short", ["data_batch_3.bin": Array(B.cifarBatch(records: 4).dropLast())],
             ["data_batch_3.bin: size 12291 bytes is not a positive multiple of the 3073-byte CIFAR-10 record"]),
            ("empty batch", ["test_batch.bin": []], ["test_batch.bin: size 0 bytes is not a positive multiple"]),
            ("label out of range", ["test_batch.bin": B.cifarBatch(records: 4, label: 12)],
             ["test_batch.bin: label 12 of sample 0 is out of range (expected 0...9"]),
            ("missing batch", ["data_batch_5.bin": nil],
             ["data_batch_5.bin: file not found", "CIFAR-10 binary train batches", "--data-dir"]),
        ]
        for (i, (what, replace, fragments)) in cases.enumerated() {
            let dir = try directory("cifar-\(i)")
            try BadInputFiles.cifarDirectory(dir, replace: replace)
            try expectError(what, ["train", "--dataset", "cifar10", "--data-dir", dir, "--model", "flatten-fc", "--quiet"], fragments)
        }
    }

    // MARK: models and flags

    func testModelsThatDoNotExistOrDoNotFitTheData() throws {
        let f = try Self.fixture()
        var args = train(f.fashion)
        args[args.firstIndex(of: "flatten-fc")!] = "resnet21"
        try expectError("misspelt preset", args, status: 64,
                        ["unknown model 'resnet21'; did you mean 'resnet20'? (expected a preset: mlp, lenet5, fmnist-cnn, resnet20"])
        args[args.firstIndex(of: "resnet21")!] = "c8k9p0-flatten-fc"
        try expectError("kernel larger than the 8x8 images", args, status: 64, ["model spec 'c8k9p0-flatten-fc'"])
        try expectError("unknown dataset", ["train", "--dataset", "imagenet", "--quiet"], status: 64,
                        ["unknown dataset 'imagenet' (expected one of: fashion-mnist, mnist, cifar10, synthetic, folder, npy, packed)"])
    }

    /// Address space for the cases that once allocated what the input asked for: ddp trains the
    /// fixture's models in far less, and an allocation of gigabytes fails at once (a crash the
    /// test reports) instead of succeeding on overcommit.
    private static let modelMemoryMB = 1024

    /// Sizes beyond `ModelLimits` in a --model spec: one line naming the flag, the token and the
    /// limit, before anything is allocated.
    func testModelSpecsBeyondTheLimitsAreRefused() throws {
        let f = try Self.fixture()
        let cases: [(String, String, [String])] = [
            ("a channel count of 10^11", "c99999999999-flatten-fc",
             ["--model: model spec 'c99999999999-flatten-fc', token 1 'c99999999999': number 99999999999 is above the limit of 65536"]),
            ("a number that is no Int", "flatten-fc99999999999999999999",
             ["token 2 'fc99999999999999999999': number 99999999999999999999 is above the limit of 65536"]),
            ("32 billion parameters in one layer", "c60000-c60000-flatten-fc",
             ["token 2 'c60000': the model reaches more than 268435456 parameters (the limit) at this layer, which alone has 32400060000"]),
            ("feature maps of 8 x 60006 x 60006", "c8k3p30000-flatten-fc",
             ["token 1 'c8k3p30000': one sample needs more than 134217728 floats of layer outputs and scratch (the limit)",
              "whose output is 8x60006x60006"]),
            ("an im2col matrix of 1 GB per image", "c1k2001p1000-flatten-fc",
             ["token 1 'c1k2001p1000': one sample needs more than 134217728 floats"]),
        ]
        for (what, spec, fragments) in cases {
            var args = train(f.fashion)
            args[args.firstIndex(of: "flatten-fc")!] = spec
            try expectError(what, args, status: 64, fragments, memoryLimitMB: Self.modelMemoryMB)
        }
    }

    /// A checkpoint's metadata is input too: `eval --checkpoint` builds the model it describes,
    /// so sizes from the file are held to `ModelLimits` and the file is named.
    func testCheckpointMetadataBeyondTheLimitsIsRefused() throws {
        let f = try Self.fixture()
        let cases: [(String, [String: String], String)] = [
            ("an input of 100000 x 100000", ["spec": "flatten-fc", "input_shape": "1,100000,100000", "classes": "10"],
             "model.safetensors: bad input_shape '1,100000,100000' or classes '10' in metadata (expected C,H,W and a class count, each between 1 and 65536)"),
            ("10^12 classes", ["spec": "flatten-fc", "input_shape": "1,8,8", "classes": "1000000000000"],
             "bad input_shape '1,8,8' or classes '1000000000000'"),
            ("an input of 4 G values", ["spec": "flatten-fc", "input_shape": "1,65536,65536", "classes": "10"],
             "model.safetensors: its metadata describes a model ddp cannot build: model input 1x65536x65536 is 4294967296 values per sample, above the limit of 134217728"),
            ("a channel count of 10^11", ["spec": "c99999999999-flatten-fc", "input_shape": "1,8,8", "classes": "10"],
             "model.safetensors: its metadata describes a model ddp cannot build: model spec 'c99999999999-flatten-fc', token 1 'c99999999999': number 99999999999 is above the limit"),
            ("4 billion parameters", ["spec": "flatten-fc65536-fc65536-fc", "input_shape": "1,8,8", "classes": "10"],
             "token 3 'fc65536': the model reaches more than 268435456 parameters (the limit)"),
        ]
        for (i, (what, metadata, fragment)) in cases.enumerated() {
            let dir = try damagedCheckpoint("limits-\(i)", from: f.run, Self.modelDamage { $0.header["__metadata__"] = metadata })
            try expectError("eval: \(what)", ["eval", "--checkpoint", dir, "--data-dir", f.fashion], [fragment],
                            memoryLimitMB: Self.modelMemoryMB)
        }
    }

    func testNonsensicalFlags() throws {
        let f = try Self.fixture()
        let usage: [(String, [String], String)] = [
            ("batch 0", ["--batch-size", "0"], "--batch-size must be at least 1 (got 0)"),
            ("negative lr", ["--lr", "-1"], "--lr must be a finite number >= 0 (got -1.0)"),
            ("NaN lr", ["--lr", "nan"], "--lr must be a finite number >= 0"),
            ("zero epochs", ["--epochs", "0"], "--epochs must be between 1 and 1000000 (got 0)"),
            ("epochs that overflow the step count", ["--epochs", "9223372036854775807"], "--epochs must be between 1 and 1000000"),
            ("momentum 1", ["--momentum", "1"], "--momentum must be in [0, 1) (got 1.0)"),
            ("NaN warm-up", ["--warmup-epochs", "nan"], "--warmup-epochs must be between 0 and --epochs"),
            ("label smoothing 1", ["--label-smoothing", "1"], "--label-smoothing must be in [0, 1) (got 1.0)"),
            ("EMA decay 1", ["--ema", "1"], "--ema must be a decay in (0, 1) such as 0.999, or 0 for none (got 1.0)"),
            ("unknown init", ["--init", "he"], "The value 'he' is invalid for '--init <init>'"),
            ("infinite buckets", ["--bucket-cap-mb", "inf"], "--bucket-cap-mb must be > 0 and at most 65536 (got inf)"),
            ("negative timeout", ["--timeout", "-5"], "--timeout must be a finite number of seconds >= 0 (got -5.0)"),
            ("negative subset", ["--train-subset", "-5"], "--train-subset must be >= 0 (got -5)"),
            ("no micro-batches", ["--accumulate", "0"], "--accumulate must be between 1 and 65536 (got 0)"),
            ("absurd thread ranks", ["--local-ranks", "100000"], "--local-ranks must be between 0 and 256 (got 100000)"),
            ("not a number", ["--batch-size", "abc"], "The value 'abc' is invalid for '--batch-size <batch-size>'"),
            ("unknown flag", ["--bogus"], "Unknown option '--bogus'"),
            ("resume and init-from", ["--resume", f.run, "--init-from", f.run], "--resume and --init-from exclude each other"),
        ]
        for (what, extra, fragment) in usage {
            try expectError(what, train(f.fashion, extra), status: 64, [fragment, "(see 'ddp train --help')"])
        }
        try expectError("eval batch 0", ["eval", "--checkpoint", f.run, "--batch-size", "0"], status: 64,
                        ["--batch-size must be at least 1 (got 0)", "(see 'ddp eval --help')"])
        // Under mpirun (its environment, without MPI itself), threads as ranks make no sense.
        try expectError("--local-ranks under mpirun", train(f.fashion, ["--local-ranks", "2"]), status: 64,
                        ["--local-ranks cannot be combined with mpirun (this process is one of 2 MPI ranks)"],
                        environment: ["OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_RANK": "0"])
        // Found at run time, once for all three ranks.
        try expectError("more ranks than samples", train(f.fashion, ["--local-ranks", "3", "--batch-size", "32"]),
                        ["dataset of 64 samples is smaller than one global batch 32 x 3 = 96"])
        // Found as the world starts, before any rank runs: alone and as threads.
        for ranks in [[], ["--local-ranks", "2"]] {
            try expectError("a bad DDP_ALLREDUCE_ALGORITHM \(ranks)", train(f.fashion, ranks),
                            ["DDP_ALLREDUCE_ALGORITHM=bogus: expected one of auto, flat, hierarchical"],
                            environment: ["DDP_ALLREDUCE_ALGORITHM": "bogus"])
        }
        let file = try directory("a-file")
        XCTAssertTrue(FileManager.default.createFile(atPath: file, contents: Data("x".utf8)))
        // Without --quiet: the banner and progress would show if training had begun before the check.
        let r = try expectError("checkpoint dir is a file", train(f.fashion, ["--checkpoint-dir", file]).filter { $0 != "--quiet" },
                                ["--checkpoint-dir \(file) exists and is not a directory"])
        XCTAssertEqual(r.stdout, "", "the checkpoint directory must be checked before training")
        XCTAssertEqual(try BadInputFiles.read(file), Array("x".utf8))
    }

    /// Files that cannot be read or written are named with the system's reason, not Foundation's
    /// "The operation could not be completed".
    func testUnreadableAndUnwritablePathsGiveTheSystemsReason() throws {
        let f = try Self.fixture()
        try expectError("plot of a missing metrics file", ["plot", f.root + "/none.jsonl", "-o", f.root + "/x.svg"],
                        ["none.jsonl: cannot read the metrics file (No such file or directory)"])
        try expectError("checkpoint directory that cannot be created", train(f.fashion, ["--checkpoint-dir", "/proc/ddp-none/run"]),
                        ["--checkpoint-dir /proc/ddp-none/run: cannot create it: No such file or directory"])
        try expectError("metrics file that cannot be created", train(f.fashion, ["--metrics", "/proc/ddp-none/m.jsonl"]),
                        ["--metrics: cannot create /proc/ddp-none/m.jsonl"])
    }

    // MARK: checkpoints

    /// A run directory `name` holding a copy of `source`'s latest checkpoint as step-00000016
    /// (and `latest`), after `damage(modelPath, trainerPath)`.
    private func damagedCheckpoint(_ name: String, from source: String,
                                   _ damage: (String, String) throws -> Void) throws -> String {
        let dir = try directory(name)
        let step = dir + "/step-00000016"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let latest = try FileManager.default.destinationOfSymbolicLink(atPath: source + "/latest")
        try FileManager.default.copyItem(atPath: source + "/" + latest, toPath: step)
        try FileManager.default.createSymbolicLink(atPath: dir + "/latest", withDestinationPath: "step-00000016")
        try damage(step + "/model.safetensors", step + "/trainer.safetensors")
        return dir
    }

    /// Every file under `dir` with its bytes (symlinks as their target).
    private func snapshot(_ dir: String) throws -> [String: [UInt8]] {
        var files: [String: [UInt8]] = [:]
        for name in try FileManager.default.subpathsOfDirectory(atPath: dir) {
            let path = dir + "/" + name
            if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: path) {
                files[name] = Array(("-> " + target).utf8)
            } else if let data = FileManager.default.contents(atPath: path) {
                files[name] = [UInt8](data)
            }
        }
        return files
    }

    private static func modelDamage(_ change: @escaping (inout BadInputFiles.SafeTensorsParts) -> Void) -> (String, String) throws -> Void {
        { model, _ in
            var parts = try BadInputFiles.SafeTensorsParts(path: model)
            change(&parts)
            try BadInputFiles.write(try parts.bytes(), to: model)
        }
    }

    private static func rawDamage(_ change: @escaping ([UInt8]) -> [UInt8]) -> (String, String) throws -> Void {
        { model, _ in try BadInputFiles.write(change(try BadInputFiles.read(model)), to: model) }
    }

    /// Each damaged model file is refused by `eval --checkpoint`, `train --resume` and
    /// `train --init-from` with the same line, and a failed --resume into the same directory
    /// leaves every file of it as it was.
    func testDamagedModelFilesAreRefusedEverywhere() throws {
        let f = try Self.fixture()
        let cases: [(String, (String, String) throws -> Void, String)] = [
            ("header length beyond any file", Self.rawDamage { [0, 0, 0, 0, 0, 0, 0, 0x40] + $0.dropFirst(8) },
             "model.safetensors: header length 4611686018427387904 exceeds the limit of 100000000 bytes"),
            ("header length past the end", Self.rawDamage { b in
                let n = UInt64(b.count); return (0..<8).map { UInt8((n >> (8 * UInt64($0))) & 0xFF) } + b.dropFirst(8) },
             "model.safetensors: header length"),
            ("header not JSON", Self.rawDamage { b in Array(b.prefix(8)) + Array("{\"x\": oops".utf8) + b.dropFirst(18) },
             "model.safetensors: header is not valid JSON"),
            ("truncated data", Self.rawDamage { Array($0.prefix($0.count / 2 + 40)) }, "past the"),
            ("empty file", Self.rawDamage { _ in [] }, "model.safetensors: 0 bytes, shorter than the 8-byte header length"),
            ("missing tensor", Self.modelDamage { $0.remove("1.bias") },
             "model.safetensors: state does not fit the model: it is missing 1 entry ('1.bias')"),
            ("wrong shape", Self.modelDamage { $0.set("1.weight", "shape", [64, 10]) },
             "model.safetensors: state entry '1.weight' has shape [64, 10], the model expects [10, 64]"),
            ("wrong dtype", Self.modelDamage { $0.set("1.bias", "dtype", "I32") },
             "model.safetensors: tensor '1.bias' is I32 [10], expected F32"),
            ("unknown dtype", Self.modelDamage { $0.set("1.bias", "dtype", "F33") }, "has unknown dtype \"F33\""),
            ("bad metadata", Self.modelDamage { $0.header["__metadata__"] = ["spec": "flatten-fc", "input_shape": "1,8", "classes": "10"] },
             "model.safetensors: bad input_shape '1,8'"),
        ]
        for (i, (what, damage, fragment)) in cases.enumerated() {
            let dir = try damagedCheckpoint("model-\(i)", from: f.run, damage)
            let before = try snapshot(dir)
            try expectError("eval: \(what)", ["eval", "--checkpoint", dir, "--data-dir", f.fashion], [fragment])
            try expectError("--resume: \(what)", train(f.fashion, ["--epochs", "3", "--resume", dir, "--checkpoint-dir", dir]), [fragment])
            try expectError("--init-from: \(what)", train(f.fashion, ["--init-from", dir]), [fragment])
            XCTAssertEqual(try snapshot(dir), before, "\(what): a failed run changed the checkpoint directory")
        }
        // Threads as ranks: still one line. (--batch-size 4 and --accumulate 1 on 2 ranks make a
        // new global batch of 8, which the epoch boundary allows: the resume gets to the model.)
        let dir = try damagedCheckpoint("model-threads", from: f.run, Self.rawDamage { Array($0.prefix(100)) })
        try expectError("--resume on 2 thread ranks",
                        train(f.fashion, ["--epochs", "3", "--local-ranks", "2", "--accumulate", "1", "--resume", dir]),
                        ["model.safetensors"])
    }

    func testDamagedTrainerStateIsRefusedByResume() throws {
        let f = try Self.fixture()
        func trainerDamage(_ change: @escaping (inout BadInputFiles.SafeTensorsParts) -> Void) -> (String, String) throws -> Void {
            { _, trainer in
                var parts = try BadInputFiles.SafeTensorsParts(path: trainer)
                change(&parts)
                try BadInputFiles.write(try parts.bytes(), to: trainer)
            }
        }
        let cases: [(String, (String, String) throws -> Void, String)] = [
            ("missing trainer file", { _, trainer in try FileManager.default.removeItem(atPath: trainer) },
             "trainer.safetensors: cannot open: No such file or directory"),
            ("truncated trainer file", { _, trainer in try BadInputFiles.write(Array(try BadInputFiles.read(trainer).prefix(5)), to: trainer) },
             "trainer.safetensors: 5 bytes, shorter than the 8-byte header length"),
            ("negative epoch", trainerDamage { p in
                var meta = p.header["__metadata__"] as! [String: String]; meta["epoch"] = "-3"; p.header["__metadata__"] = meta },
             "trainer.safetensors: negative position in metadata (epoch -3"),
            ("position missing", trainerDamage { p in
                var meta = p.header["__metadata__"] as! [String: String]; meta["global_step"] = nil; p.header["__metadata__"] = meta },
             "trainer.safetensors: missing or bad position metadata"),
            ("momentum buffer missing", trainerDamage { $0.remove("optimizer.momentum_buffer") },
             "trainer.safetensors: SGD state: missing buffer \"momentum_buffer\""),
            ("rng of the wrong type", trainerDamage { $0.set("rng", "dtype", "F64") },
             "trainer.safetensors: tensor 'rng' is F64 [1, 8], expected I64 [1, 8]"),
        ]
        for (i, (what, damage, fragment)) in cases.enumerated() {
            let dir = try damagedCheckpoint("trainer-\(i)", from: f.run, damage)
            let before = try snapshot(dir)
            try expectError("--resume: \(what)", train(f.fashion, ["--epochs", "3", "--resume", dir, "--checkpoint-dir", dir]), [fragment])
            XCTAssertEqual(try snapshot(dir), before, "\(what): a failed run changed the checkpoint directory")
        }
    }

    func testCheckpointsOfAnotherModelOrShapeAreRefused() throws {
        let f = try Self.fixture()
        // A resume takes the model from the checkpoint: another --model is refused as a flag.
        try expectError("--resume of another model", train(f.fashion, ["--epochs", "3", "--resume", f.foreign]), status: 64,
                        ["--model flatten-fc differs from the run resumed from \(f.foreign) (--model flatten-fc16-relu-fc)",
                         "--init-from \(f.foreign)"])
        try expectError("--init-from another model", train(f.fashion, ["--init-from", f.foreign]),
                        ["--init-from \(f.foreign)/step-", "holds model 'flatten-fc16-relu-fc'"])
        try expectError("--init-from another input shape", train(f.fashion, ["--init-from", f.cifarRun]),
                        ["holds model 'flatten-fc' for 3x32x32 inputs and 10 classes, but this run trains 'flatten-fc' for 1x8x8 inputs"])
        try expectError("--resume another data set", train(f.fashion, ["--epochs", "3", "--resume", f.cifarRun]), status: 64,
                        ["--dataset fashion-mnist differs from the run resumed from \(f.cifarRun) (--dataset cifar10)"])
        try expectError("eval on images of another shape", ["eval", "--checkpoint", f.cifarRun, "--dataset", "fashion-mnist", "--data-dir", f.fashion],
                        ["fashion-mnist images are 1x8x8 with 10 classes, but the checkpoint's model takes 3x32x32"])
        try expectError("--resume of a finished run", train(f.fashion, ["--resume", f.run]), status: 64,
                        ["the run in \(f.run) has trained 1 of --epochs 1: nothing left to train; raise --epochs to train on"])
        let dangling = try directory("dangling")
        try FileManager.default.createDirectory(atPath: dangling, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: dangling + "/latest", withDestinationPath: "step-00000009")
        try expectError("dangling latest", ["eval", "--checkpoint", dangling, "--data-dir", f.fashion],
                        ["'latest' points to step-00000009, which holds no model.safetensors"])
        try expectError("no checkpoint at all", train(f.fashion, ["--epochs", "3", "--resume", f.root + "/none"]),
                        ["--resume \(f.root)/none: no such file or directory"])
        try expectError("a data directory instead", ["eval", "--checkpoint", f.fashion, "--data-dir", f.fashion],
                        ["holds neither model.safetensors nor a 'latest' link: not a checkpoint"])
        // A state_dict without ddp's metadata (as PyTorch saves one) is not a ddp checkpoint to
        // evaluate or resume, but its weights can seed a run when every tensor fits.
        let bare = try damagedCheckpoint("bare", from: f.run, Self.modelDamage { $0.header["__metadata__"] = nil })
        try expectError("eval without metadata", ["eval", "--checkpoint", bare, "--data-dir", f.fashion], ["has no ddp metadata"])
        let seeded = try DDPProcess.run(train(f.fashion, ["--init-from", bare]), within: 30)
        XCTAssertEqual(seeded.status, 0, seeded.stderr)
    }

    /// A run that fails after loading (here the loss turns NaN: the checkpoint records a learning
    /// rate far too high, which a resume keeps) leaves the good checkpoint it resumed from, and
    /// says where it is; a new run that fails (bad data) leaves the directory of another run as
    /// it was, even with --overwrite, which replaces a run only once the new one has a checkpoint.
    func testAFailedRunKeepsTheGoodCheckpoint() throws {
        let f = try Self.fixture()
        let dir = try damagedCheckpoint("keep", from: f.run) { _, trainer in
            var parts = try BadInputFiles.SafeTensorsParts(path: trainer)
            var metadata = try XCTUnwrap(parts.header["__metadata__"] as? [String: String])
            var config = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(metadata["config"]!.utf8)) as? [String: Any])
            config["lr"] = 1e30
            metadata["config"] = String(decoding: try JSONSerialization.data(withJSONObject: config), as: UTF8.self)
            parts.header["__metadata__"] = metadata
            try BadInputFiles.write(try parts.bytes(), to: trainer)
        }
        let before = try snapshot(dir)
        try expectError("NaN after resume", train(f.fashion, ["--epochs", "3", "--resume", dir]),
                        ["at epoch 2, step ", "the last good checkpoint is kept at \(dir)/step-00000016",
                         "start again from it with a lower --lr: --init-from \(dir)/step-00000016"])
        XCTAssertEqual(try snapshot(dir), before)
        try expectError("bad data into another run's directory", train(f.root + "/nowhere", ["--checkpoint-dir", dir, "--overwrite"]),
                        ["file not found"])
        XCTAssertEqual(try snapshot(dir), before)
    }
}
