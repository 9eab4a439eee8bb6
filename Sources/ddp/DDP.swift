import ArgumentParser
import Tensor

@main
struct DDP: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ddp",
        abstract: "Distributed data-parallel CNN training on MPI and OpenBLAS.",
        subcommands: [Train.self, Eval.self, GradCheck.self, Sanity.self, LRFind.self, Plot.self, Bench.self, Info.self])

    /// OpenBLAS chose its kernel when the library loaded; correcting that choice means
    /// re-executing this binary, which must happen before MPI_Init, before any BLAS call and
    /// before any output. So the check runs first, then the command line is parsed.
    static func main() {
        BLASRuntime.prepareProcess(arguments: CommandLine.arguments)
        main(nil)
    }
}
