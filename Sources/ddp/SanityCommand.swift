import ArgumentParser
import Formats
import Foundation
import Training

struct SanityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sanity",
        abstract: "Sanity checks before a long run: initial loss, lr=0 keeps the loss flat, a tiny set is overfit.",
        discussion: "Exits with status 2 when a check fails, with what to do about it.")

    @OptionGroup var common: ModelDataOptions
    @Option(help: "Steps of the lr=0 run.") var flatSteps = 200
    @Option(help: "Samples in the tiny set to overfit.") var overfitSamples = 32
    @Option(help: "Most steps spent overfitting it.") var overfitSteps = 400
    @Option(help: "Learning rate for overfitting.") var overfitLr = 0.01
    @Flag(help: "One JSON object per check.") var json = false

    func validate() throws {
        if flatSteps < 8 { throw ValidationError("--flat-steps must be at least 8 (got \(flatSteps))") }
        if overfitSamples < 1 || overfitSteps < 1 { throw ValidationError("--overfit-samples and --overfit-steps must be positive") }
    }

    func run() throws {
        let config = common.config
        var options = SanityCheck.Options()
        options.flatSteps = flatSteps; options.overfitSamples = overfitSamples
        options.overfitSteps = overfitSteps; options.overfitLR = overfitLr
        var failed = false
        let code = World.run(localRanks: common.localRanks ?? 0, threads: common.threads ?? 0, timeout: 300,
                             allreduce: common.allreduce) { comm in
            let verdicts = try SanityCheck.run(config: config, options: options, comm: comm)
            guard comm.rank == 0 else { return }
            for v in verdicts {
                if json {
                    print(JSONLine.object(["check": .string(v.name), "passed": .bool(v.passed),
                                           "detail": .string(v.detail), "advice": .string(v.advice)]))
                } else {
                    print("\(v.passed ? "PASS" : "FAIL")  \(v.name): \(v.detail)")
                    if !v.passed { print("      what to do: \(v.advice)") }
                }
            }
            failed = verdicts.contains { !$0.passed }
        }
        if code != 0 { throw ExitCode(code) }
        if failed { throw ExitCode(2) }
    }
}
