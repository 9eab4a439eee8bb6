import Foundation
import XCTest
@testable import Data

/// A seeded mutation fuzzer for the IDX (raw and gzip) and CIFAR-10 parsers: thousands of
/// corrupted variants of valid small files (bit flips, truncations, insertions, duplicated
/// spans, header fields overwritten with extreme values). Every one must either parse into
/// consistent arrays or throw a `DataError`; nothing may crash, hang or allocate absurdly.
final class ParserFuzzTests: XCTestCase {
    /// A field of /proc/self/status in bytes (Linux): VmRSS now, VmHWM the peak since reset.
    private func statusBytes(_ field: String) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") }),
              let kib = Int(line.split(whereSeparator: \.isWhitespace)[1]) else { return nil }
        return kib * 1024
    }

    /// Starts a new peak-RSS measurement (writing 5 to clear_refs resets VmHWM to VmRSS).
    private func resetPeakResident() -> Bool {
        guard let handle = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return false }
        defer { try? handle.close() }
        return (try? handle.write(contentsOf: Foundation.Data("5".utf8))) != nil
    }

    private func mutate(_ input: [UInt8], _ rng: inout SeededRNGForTests) -> [UInt8] {
        var bytes = input
        let rounds = 1 + rng.below(3)
        for _ in 0..<rounds {
            switch rng.below(6) {
            case 0: // bit flips
                for _ in 0..<(1 + rng.below(8)) where !bytes.isEmpty {
                    bytes[rng.below(bytes.count)] ^= UInt8(1) << UInt8(rng.below(8))
                }
            case 1: // truncation
                bytes.removeLast(rng.below(bytes.count + 1))
            case 2: // insertion of random bytes
                let at = rng.below(bytes.count + 1)
                bytes.insert(contentsOf: (0..<(1 + rng.below(16))).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, at: at)
            case 3: // header field (one of the first five 32-bit words) overwritten with an extreme value
                let extremes: [UInt32] = [0, 1, 0xFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 0x0000_0803, 0x0000_0801, 60000, UInt32(truncatingIfNeeded: rng.next())]
                let word = TestFiles.bigEndian(extremes[rng.below(extremes.count)])
                let at = 4 * rng.below(5)
                for k in 0..<4 where at + k < bytes.count { bytes[at + k] = word[k] }
            case 4: // duplicated span
                if !bytes.isEmpty {
                    let start = rng.below(bytes.count)
                    let span = bytes[start..<min(bytes.count, start + 1 + rng.below(64))]
                    bytes.insert(contentsOf: span, at: rng.below(bytes.count + 1))
                }
            default: // single byte set to a random value
                if !bytes.isEmpty { bytes[rng.below(bytes.count)] = UInt8(truncatingIfNeeded: rng.next()) }
            }
        }
        return bytes
    }

    func testMutatedFilesNeverCrash() throws {
        let images = TestFiles.idx(dims: [6, 9, 7], data: TestFiles.imagePixels(count: 6, height: 9, width: 7))
        let labels = TestFiles.idx(dims: [6], data: TestFiles.labels(count: 6))
        let seeds: [(name: String, bytes: [UInt8], kind: Int)] = [
            ("images", images, 0), ("images.gz", try TestFiles.gzip(images), 0),
            ("labels", labels, 1), ("labels.gz", try TestFiles.gzip(labels), 1),
            ("cifar", TestFiles.cifarRecords(labels: [3, 9, 0]), 2),
        ]
        var rng = SeededRNGForTests(seed: 2024)
        let measured = resetPeakResident()
        let rssBefore = statusBytes("VmRSS") ?? 0
        let deadline = Date().addingTimeInterval(3)
        var cases = 0, parsed = 0
        var kinds = Set<String>()
        while cases < 40000 && Date() < deadline {
            let seed = seeds[cases % seeds.count]
            let bytes = mutate(seed.bytes, &rng)
            cases += 1
            do {
                switch seed.kind {
                case 0:
                    let result = try IDXReader.readImages(from: IDXReader.source(bytes: bytes, name: seed.name))
                    XCTAssertEqual(result.pixels.count, result.count * result.height * result.width)
                    XCTAssertLessThanOrEqual(result.pixels.count, 1 << 20)
                case 1:
                    let result = try IDXReader.readLabels(from: IDXReader.source(bytes: bytes, name: seed.name), classes: 10)
                    XCTAssertTrue(result.allSatisfy { $0 < 10 })
                default:
                    let result = try CIFAR10Reader.read(sources: [MemorySource(bytes, name: seed.name)])
                    XCTAssertEqual(result.images.count, result.labels.count * 3072)
                    XCTAssertTrue(result.labels.allSatisfy { $0 < 10 })
                }
                parsed += 1
            } catch let error as DataError {
                let text = error.description
                XCTAssertFalse(text.contains("\n"))
                XCTAssertTrue(text.hasPrefix(seed.name + ":"), "message does not name the file: \(text)")
                kinds.insert(Mirror(reflecting: error).children.first?.label ?? "\(error)")
            } catch {
                XCTFail("not a DataError: \(error)")
            }
        }
        let growth = measured ? (statusBytes("VmHWM") ?? 0) - rssBefore : 0
        print("parser fuzz: \(cases) cases, \(parsed) parsed, errors of kinds \(kinds.sorted()), peak RSS growth \(measured ? "\(growth / 1024) KiB" : "not measurable here")")
        XCTAssertGreaterThan(cases, 2000, "fuzz loop too slow to cover enough cases")
        XCTAssertLessThan(growth, 256 << 20, "a mutated file made the parser allocate too much")
        // The mutations reach every check the parsers make.
        for kind in ["wrongMagic", "truncated", "trailingData", "corruptGzip", "tooLarge", "labelOutOfRange", "badRecordSize"] {
            XCTAssertTrue(kinds.contains(kind), "no mutation produced a \(kind) error")
        }
    }
}
