import ArgumentParser

@main
struct DDP: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ddp",
        abstract: "Distributed data-parallel CNN training on MPI and OpenBLAS.",
        subcommands: [Bench.self])
}

extension DDP {
    /// `ddp bench <what>`: the benchmarks, one subcommand each.
    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Benchmarks: each compares ddp against its reference.",
            subcommands: [BenchAllReduceCommand.self])
    }
}
