import Foundation
import XCTest
@testable import Training

/// What a writer killed mid-checkpoint leaves behind is repaired before the next run writes:
/// a checkpoint moved aside for a same-step rewrite goes back where `latest` expects it, half
/// written temporaries go, and a live process's temporaries stay.
final class CheckpointRecoveryTests: XCTestCase {
    private let fm = FileManager.default

    /// The pid of a process that has exited (and been reaped): no process has it now.
    private func deadPID() throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/true")
        try p.run()
        p.waitUntilExit()
        return p.processIdentifier
    }

    private func checkpoint(_ path: String, _ content: String) throws {
        try fm.createDirectory(atPath: path, withIntermediateDirectories: true)
        try Data(content.utf8).write(to: URL(fileURLWithPath: path + "/" + Checkpoint.modelFile))
    }

    func testInterruptedWritesAreRepairedAndLiveOnesLeftAlone() throws {
        let dir = TrainingFixture.temporaryDirectory("recover")
        let dead = try deadPID(), live = getppid()
        // Killed between "step-7 -> .old" and ".tmp -> step-7" while rewriting step 7.
        try checkpoint(dir + "/step-00000005", "five")
        try checkpoint(dir + "/.old-step-00000007-\(dead)", "seven")
        try fm.createSymbolicLink(atPath: dir + "/latest", withDestinationPath: "step-00000007")
        XCTAssertNil(CheckpointDirectory.resolve(dir), "the damage this test repairs must be real")
        // Killed while filling the next one, and before swinging a new link.
        try fm.createDirectory(atPath: dir + "/.tmp-step-00000008-\(dead)", withIntermediateDirectories: true)
        try fm.createSymbolicLink(atPath: dir + "/.latest-\(dead)", withDestinationPath: "step-00000008")
        // Another writer still at work.
        try fm.createDirectory(atPath: dir + "/.tmp-step-00000009-\(live)", withIntermediateDirectories: true)
        // A replaced checkpoint whose replacement did land: the aside copy is only garbage.
        try checkpoint(dir + "/step-00000003", "new three")
        try checkpoint(dir + "/.old-step-00000003-\(dead)", "old three")

        try CheckpointDirectory(path: dir, keep: 2).prepare()

        XCTAssertEqual(CheckpointDirectory.resolve(dir), dir + "/step-00000007")
        XCTAssertEqual(try String(contentsOfFile: dir + "/step-00000007/" + Checkpoint.modelFile, encoding: .utf8), "seven")
        XCTAssertEqual(try String(contentsOfFile: dir + "/step-00000003/" + Checkpoint.modelFile, encoding: .utf8), "new three")
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: dir).sorted(),
                       [".tmp-step-00000009-\(live)", "latest", "step-00000003", "step-00000005", "step-00000007"])
    }
}
