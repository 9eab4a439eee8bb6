import ArgumentParser

@main
struct DDP: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ddp",
        abstract: "Distributed data-parallel CNN training on MPI and OpenBLAS.",
        subcommands: [Plot.self])
}
