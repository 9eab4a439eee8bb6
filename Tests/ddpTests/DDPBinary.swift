import Foundation
import XCTest

/// Runs the built `ddp` executable, as users and scripts do.
enum DDPBinary {
    struct Output {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    /// Variables that steer ddp's BLAS and rank set-up; tests start from an environment
    /// without them so each test states exactly what it sets.
    static let steeringVariables = [
        "OPENBLAS_CORETYPE", "DDP_BLAS_AUTOCORE", "DDP_BLAS_CORRECTION", "OPENBLAS_NUM_THREADS",
        "GOTO_NUM_THREADS", "OMP_NUM_THREADS", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK",
        "OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "OMPI_MCA_orte_bound_at_launch",
        "DDP_KERNELS", "DDP_CONV", "DDP_ALLREDUCE_ALGORITHM",
    ]

    /// The `ddp` built beside this test bundle (SwiftPM puts executables and the .xctest in
    /// one products directory, and builds ddp first because this target depends on it).
    static func url() throws -> URL {
        let selfPath = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let candidates = [URL(fileURLWithPath: selfPath).deletingLastPathComponent(),
                          Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent()]
            .map { $0.appendingPathComponent("ddp") }
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
            throw MissingBinary(description: "no ddp executable next to the test bundle (looked in \(candidates.map(\.path)))")
        }
        return found
    }

    struct MissingBinary: Error, CustomStringConvertible { let description: String }

    static func run(_ arguments: [String], environment extra: [String: String] = [:]) throws -> Output {
        var environment = ProcessInfo.processInfo.environment
        for name in steeringVariables { environment[name] = nil }
        environment.merge(extra) { _, new in new }

        let process = Process()
        process.executableURL = try url()
        process.arguments = arguments
        process.environment = environment
        let out = Pipe()
        process.standardOutput = out
        // stderr to a file so neither pipe can fill up and block the child.
        let errURL = FileManager.default.temporaryDirectory.appendingPathComponent("ddp-test-\(UUID().uuidString).err")
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: errURL) }
        process.standardError = try FileHandle(forWritingTo: errURL)
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Output(status: process.terminationStatus,
                      stdout: String(decoding: data, as: UTF8.self),
                      stderr: (try? String(contentsOf: errURL, encoding: .utf8)) ?? "")
    }

    /// The output's lines, each parsed as one JSON object.
    static func jsonLines(_ output: Output, file: StaticString = #filePath, line: UInt = #line) throws -> [[String: Any]] {
        XCTAssertEqual(output.status, 0, "ddp failed: \(output.stderr)", file: file, line: line)
        return try output.stdout.split(separator: "\n").map { text in
            let object = try JSONSerialization.jsonObject(with: Data(text.utf8))
            return try XCTUnwrap(object as? [String: Any], "not a JSON object: \(text)", file: file, line: line)
        }
    }
}
