import Foundation
import XCTest

/// The `ddp` binary as a child process with a deadline: a child still running at its deadline is
/// killed (SIGKILL) and reported as hung, so a ddp that hangs fails its test instead of stalling it.
final class DDPProcess {
    struct Result {
        let status: Int32
        /// True when the child died of a signal (then `status` is the signal number).
        let killedBySignal: Bool
        /// True when the child was still running at the deadline (and was killed).
        let hung: Bool
        let seconds: Double
        let stdout: String
        let stderr: String

        /// stderr's non-empty lines.
        var errorLines: [String] { stderr.split(separator: "\n").map(String.init).filter { !$0.isEmpty } }
    }

    private let process = Process()
    private let outURL: URL
    private let errURL: URL
    private let exited = DispatchSemaphore(value: 0)
    private let started = Date()

    /// Starts `ddp arguments` in an environment without the variables that steer ddp's BLAS and
    /// rank set-up (as `DDPBinary.run` does), plus `environment`. With `memoryLimitMB` the child
    /// runs under `ulimit -v` (through /bin/sh): an allocation beyond it fails at once, so a
    /// ddp that tries to allocate what a crafted input asks for dies of a signal the test sees,
    /// instead of being saved (or the machine swamped) by overcommit. With `shellCommand`, that
    /// line runs through /bin/sh instead, in the same environment (`arguments` unused).
    init(_ arguments: [String], environment extra: [String: String] = [:], memoryLimitMB: Int? = nil,
         shellCommand: String? = nil) throws {
        var environment = ProcessInfo.processInfo.environment
        for name in DDPBinary.steeringVariables { environment[name] = nil }
        environment.merge(extra) { _, new in new }
        if let shellCommand {
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", shellCommand]
        } else if let memoryLimitMB {
            // One thread and few malloc arenas: on a many-core machine the threads' stacks and
            // per-thread arenas alone could reach the limit and fake a crash.
            environment["OPENBLAS_NUM_THREADS"] = "1"
            environment["MALLOC_ARENA_MAX"] = "2"
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "ulimit -v \(memoryLimitMB * 1024) && exec \"$0\" \"$@\"", try DDPBinary.url().path] + arguments
        } else {
            process.executableURL = try DDPBinary.url()
            process.arguments = arguments
        }
        process.environment = environment
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("ddp-child-\(UUID().uuidString)")
        outURL = base.appendingPathExtension("out")
        errURL = base.appendingPathExtension("err")
        // Files, not pipes: neither stream can fill up and block the child.
        for url in [outURL, errURL] { _ = FileManager.default.createFile(atPath: url.path, contents: nil) }
        process.standardOutput = try FileHandle(forWritingTo: outURL)
        process.standardError = try FileHandle(forWritingTo: errURL)
        process.standardInput = FileHandle.nullDevice
        process.terminationHandler = { [exited] _ in exited.signal() }
        try process.run()
    }

    var isRunning: Bool { process.isRunning }

    func send(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Waits for the child to exit, at most `seconds`; kills it if it is still running then.
    func finish(within seconds: Double) -> Result {
        let hung = exited.wait(timeout: .now() + seconds) == .timedOut
        if hung {
            kill(process.processIdentifier, SIGKILL)
            exited.wait()
        }
        defer { for url in [outURL, errURL] { try? FileManager.default.removeItem(at: url) } }
        return Result(status: process.terminationStatus, killedBySignal: process.terminationReason == .uncaughtSignal,
                      hung: hung, seconds: Date().timeIntervalSince(started),
                      stdout: (try? String(contentsOf: outURL, encoding: .utf8)) ?? "",
                      stderr: (try? String(contentsOf: errURL, encoding: .utf8)) ?? "")
    }

    /// Runs `command` through /bin/sh, as a user pastes a line ddp printed, in the environment
    /// `ddp` runs in here, to its end, at most `seconds`.
    static func shell(_ command: String, within seconds: Double) throws -> Result {
        try DDPProcess([], shellCommand: command).finish(within: seconds)
    }

    /// Runs `ddp arguments` to its end, at most `seconds`.
    static func run(_ arguments: [String], environment: [String: String] = [:], memoryLimitMB: Int? = nil,
                    within seconds: Double) throws -> Result {
        try DDPProcess(arguments, environment: environment, memoryLimitMB: memoryLimitMB).finish(within: seconds)
    }
}
