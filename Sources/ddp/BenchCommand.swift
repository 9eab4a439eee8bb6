import ArgumentParser

/// `ddp bench ...`: the benchmarks, one subcommand each.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Performance benchmarks; each prints a table, or JSON lines with --json.",
        subcommands: [BenchGEMM.self, BenchAllReduceCommand.self, BenchStep.self])
}
