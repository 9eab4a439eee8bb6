import ArgumentParser
import Formats
import Foundation
import Plot
import Training

struct LRFindCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lr-find",
        abstract: "Learning-rate range test: train with an exponentially growing LR, plot the loss, suggest an LR.",
        discussion: """
            The suggestion is a tenth of the LR at the smoothed loss's minimum: a safe constant LR, \
            or the start of a schedule. A one-cycle schedule warms up and anneals around its peak, \
            so its peak (--lr with --schedule onecycle) can go up to about the LR at the minimum. \
            Both hold for the global batch of the sweep (--batch-size x ranks). ddp train takes \
            --lr for one rank's batch and multiplies it by its ranks (the linear scaling rule), so \
            as its --lr they are divided by the ranks of the sweep: a sweep on one rank gives \
            --lr itself, whatever the ranks of the training run.
            """)

    @OptionGroup var common: ModelDataOptions
    @Option(help: "Smallest learning rate.") var startLr = 1e-6
    @Option(help: "Largest learning rate.") var endLr = 10.0
    @Option(help: "Steps of the sweep.") var steps = 200
    @Option(help: "SGD momentum during the sweep.") var momentum = 0.9
    @Option(help: "Weight decay during the sweep.") var weightDecay = 5e-4
    @Option(name: .shortAndLong, help: "Write the curve as SVG here.") var output = "lr-find.svg"
    @Flag(help: "One JSON object with the suggestion.") var json = false

    func validate() throws {
        guard startLr > 0, endLr > startLr else { throw ValidationError("need 0 < --start-lr < --end-lr") }
        guard steps >= 10 else { throw ValidationError("--steps must be at least 10 (got \(steps))") }
    }

    func run() throws {
        var config = common.config
        config.momentum = momentum; config.weightDecay = weightDecay; config.nesterov = momentum > 0
        var options = LRFinder.Options()
        options.startLR = startLr; options.endLR = endLr; options.steps = steps
        let code = World.run(localRanks: common.localRanks ?? 0, threads: common.threads ?? 0, timeout: 300,
                             allreduce: common.allreduce) { comm in
            let r = try LRFinder.run(config: config, options: options, comm: comm)
            guard comm.rank == 0 else { return }
            try LRFinderPlot.write(r, title: "LR range test: \(config.model) on \(config.dataset)", to: output)
            if json {
                print(JSONLine.object(["suggested_lr": .number(r.suggested), "min_loss_lr": .number(r.minimumLR),
                                       "steps": .number(Double(r.points.count)), "diverged": .bool(r.diverged),
                                       "svg": .string(output)]))
            } else {
                let stride = max(1, r.points.count / 12)
                print("       lr      loss  smoothed")
                for (i, p) in r.points.enumerated() where i % stride == 0 {
                    print(String(format: "%9.2e  %8.4f  %8.4f", p.lr, p.loss.printable, p.smoothed.printable))
                }
                print(String(format: "suggested lr %.3g (a tenth of the lr at the loss minimum, %.3g)%@", r.suggested,
                             r.minimumLR, r.diverged ? ", loss diverged beyond it" : ""))
                print(String(format: "  a constant-LR starting point; a one-cycle peak can go up to about %.3g; both for a "
                             + "global batch of %d (--batch-size x ranks)", r.minimumLR, config.batchSize * comm.size))
                let ranks = Double(comm.size)
                print(String(format: "  as ddp train's --lr (one rank's batch of %d, multiplied by the ranks): %.3g, "
                             + "a one-cycle peak up to about %.3g", config.batchSize, r.suggested / ranks, r.minimumLR / ranks))
                print("curve: \(output)")
            }
        }
        if code != 0 { throw ExitCode(code) }
    }
}
