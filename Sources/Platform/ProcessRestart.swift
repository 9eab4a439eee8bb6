#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Starting this process over: the binary again with the same arguments, so the dynamic loader
/// runs OpenBLAS's constructor again under the environment as it is now (the only way to change
/// its kernel). Used by `BLASRuntime` at start-up, before MPI_Init.
enum ProcessRestart {
    /// Replaces this process with a fresh run of the same binary and `arguments`. Returns only
    /// on failure, with errno.
    static func reexec(_ arguments: [String]) -> Int32 {
        #if os(Linux)
        fflush(nil)
        let argv = makeCArguments(arguments)
        execv("/proc/self/exe", argv)
        let err = errno
        freeCArguments(argv)
        return err
        #else
        return ENOSYS
        #endif
    }

    /// Runs `body` with an illegal-instruction handler in place that restarts the process with
    /// `arguments` (under the environment the caller prepared) instead of letting SIGILL kill it.
    static func onIllegalInstruction<T>(arguments: [String], run body: () -> T) -> T {
        fallbackArguments = makeCArguments(arguments)
        var action = sigaction()
        action.__sigaction_handler.sa_handler = restartAfterIllegalInstruction
        sigemptyset(&action.sa_mask)
        var previous = sigaction()
        sigaction(SIGILL, &action, &previous)
        let result = body()
        sigaction(SIGILL, &previous, nil)
        freeCArguments(fallbackArguments)
        fallbackArguments = nil
        return result
    }
}

// The illegal-instruction handler is C-callable, so it and what it reads live at module level.

/// argv for the restart, built before verification because a signal handler may not allocate.
nonisolated(unsafe) private var fallbackArguments: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?

/// SIGILL during verification of a kernel ddp chose: say so with async-signal-safe calls only
/// and restart under the environment the caller of `onIllegalInstruction` prepared.
private func restartAfterIllegalInstruction(_ signal: Int32) {
    let message: StaticString = "ddp: warning: the selected OpenBLAS kernel hit an illegal instruction; restarting with OpenBLAS's own choice\n"
    _ = write(2, message.utf8Start, message.utf8CodeUnitCount)
    #if os(Linux)
    if let argv = fallbackArguments { execve("/proc/self/exe", argv, environ) }
    #endif
    _exit(128 + signal)
}

private func makeCArguments(_ arguments: [String]) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> {
    let argv = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: arguments.count + 1)
    for (i, argument) in arguments.enumerated() { argv[i] = strdup(argument) }
    argv[arguments.count] = nil
    return argv
}

private func freeCArguments(_ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) {
    guard let argv else { return }
    var i = 0
    while let p = argv[i] { free(p); i += 1 }
    argv.deallocate()
}
