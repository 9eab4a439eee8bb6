import ArgumentParser

/// `ddp bench ...`: the benchmarks, one subcommand each.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Performance benchmarks; each prints a table, or JSON lines with --json.",
        subcommands: [BenchGEMMCommand.self, BenchAllReduceCommand.self, BenchStepCommand.self, BenchConvCommand.self,
                       BenchScalingCommand.self])
}
