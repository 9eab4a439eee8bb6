import ArgumentParser
import Foundation
import Training

/// A command that can check, without running anything, that it would run: what
/// `ddp --check-args` does beyond parsing (a resume's checkpoint, a run's directories).
protocol CheckableCommand {
    func check() throws
}

@main
struct DDP: ParsableCommand {
    static let version = "0.5.0"

    static let configuration = CommandConfiguration(
        commandName: "ddp",
        abstract: "Distributed data-parallel CNN training on MPI and OpenBLAS.",
        discussion: """
            ddp --check-args COMMAND ...  checks the command line as ddp would run it, without running \
            it: the flags, and for train the checkpoint to resume and the directories to write; it \
            prints nothing and exits 0 when the command would start. scripts/launch.sh runs it once \
            before mpirun starts the ranks.

            Exit status, the same for every command: 0 done; 1 the run failed (a file missing or \
            corrupt, a loss turned NaN, a rank lost); 2 a check found a problem (ddp sanity, ddp \
            gradcheck); 64 the command line is wrong (a flag, a name, a setting a resume cannot \
            change, a directory or file of another run); 128 + N stopped by signal N.
            """,
        version: "ddp \(version)",
        subcommands: [TrainCommand.self, EvalCommand.self, PredictCommand.self, PackCommand.self, GradCheckCommand.self, SanityCommand.self, LRFindCommand.self, PlotCommand.self, BenchCommand.self, InfoCommand.self])

    /// OpenBLAS chose its kernel when the library loaded; correcting that choice means
    /// re-executing this binary, which must happen before MPI_Init, before any BLAS call and
    /// before any output. So the check runs first, then the command line is parsed.
    static func main() {
        ProcessStartup.prepareBLAS(arguments: CommandLine.arguments)
        var arguments = Array(CommandLine.arguments.dropFirst())
        let checkOnly = arguments.first == "--check-args"
        if checkOnly { arguments.removeFirst() }
        do {
            do { try ProcessStartup.checkKernelPath() } catch { throw ValidationError("\(error)") }
            var command = try parseAsRoot(arguments)
            if checkOnly {
                // Beyond the parse, what a command checks itself. A request for help (`ddp`
                // alone, --help, ArgumentParser's `help` command) is answered as it would be.
                if let checkable = command as? CheckableCommand {
                    try checkable.check()
                } else if command is DDP || !isOwn(type(of: command), in: configuration.subcommands) {
                    try command.run()
                }
            } else {
                try command.run()
            }
        } catch {
            exit(reporting: error, arguments: arguments)
        }
    }

    /// Every failure ends as one line `ddp: error: ...` on stderr (the format of the errors the
    /// commands report themselves), with ArgumentParser's exit codes (64 for a bad command line)
    /// or the `TrainError`'s. Help and version requests, and `ExitCode`s (whose command has
    /// already said why), keep ArgumentParser's own handling.
    private static func exit(reporting error: Error, arguments: [String]) -> Never {
        // Training's word for a command line that names what cannot be built is a usage error.
        let error = (error as? UsageProblem).map { ValidationError($0.description) } ?? error
        let code = (error as? TrainError).map { ExitCode($0.exitCode) } ?? exitCode(for: error)
        if code == .success || error is ExitCode { exit(withError: error) }
        let text = error is TrainError ? "\(error)" : message(for: error)
        var line = text.split(whereSeparator: \.isNewline).joined(separator: "; ")
        if code == .validationFailure && !(error is TrainError) { line += " (see '\(commandPath(arguments)) --help')" }
        FileHandle.standardError.write(Data("ddp: error: \(line)\n".utf8))
        Foundation.exit(code.rawValue)
    }

    /// Whether `command` is one of ddp's commands (not one ArgumentParser adds, such as `help`).
    private static func isOwn(_ command: ParsableCommand.Type, in commands: [ParsableCommand.Type]) -> Bool {
        commands.contains { $0 == command || isOwn(command, in: $0.configuration.subcommands) }
    }

    /// "ddp train" for `ddp train --lr x`: the subcommands named at the start of the arguments.
    private static func commandPath(_ arguments: [String]) -> String {
        var path = ["ddp"]
        var commands: [ParsableCommand.Type] = configuration.subcommands
        for word in arguments {
            guard let next = commands.first(where: { $0.configuration.commandName == word }) else { break }
            path.append(word)
            commands = next.configuration.subcommands
        }
        return path.joined(separator: " ")
    }
}
