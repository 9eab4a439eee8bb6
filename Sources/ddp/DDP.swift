import ArgumentParser
import Foundation
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
        do {
            do { try KernelPath.validateEnvironment() } catch { throw ValidationError("\(error)") }
            var command = try parseAsRoot()
            try command.run()
        } catch {
            exit(reporting: error)
        }
    }

    /// Every failure ends as one line `ddp: error: ...` on stderr (the format of the errors the
    /// commands report themselves), with ArgumentParser's exit codes: 64 for a bad command line.
    /// Help and version requests, and `ExitCode`s (whose command has already said why), keep
    /// ArgumentParser's own handling.
    private static func exit(reporting error: Error) -> Never {
        let code = exitCode(for: error)
        if code == .success || error is ExitCode { exit(withError: error) }
        var line = message(for: error).split(whereSeparator: \.isNewline).joined(separator: "; ")
        if code == .validationFailure { line += " (see '\(commandPath()) --help')" }
        FileHandle.standardError.write(Data("ddp: error: \(line)\n".utf8))
        Foundation.exit(code.rawValue)
    }

    /// "ddp train" for `ddp train --lr x`: the subcommands named at the start of the arguments.
    private static func commandPath() -> String {
        var path = ["ddp"]
        var commands: [ParsableCommand.Type] = configuration.subcommands
        for word in CommandLine.arguments.dropFirst() {
            guard let next = commands.first(where: { $0._commandName == word }) else { break }
            path.append(word)
            commands = next.configuration.subcommands
        }
        return path.joined(separator: " ")
    }
}
