import Dispatch
import Foundation
import XCTest
@testable import Tensor

/// `Parallel.forEach` on `WorkerPool`'s threads: every item once, in its worker's range, on more
/// than one thread, after the workers slept, nested, and from two callers at once.
final class ParallelTests: XCTestCase {
    /// Runs forEach and checks its promise: the ranges are contiguous and in worker order, and
    /// every item is visited exactly once. Returns the threads that ran each worker.
    @discardableResult
    private func checkedForEach(count: Int, threads: Int, file: StaticString = #filePath,
                                line: UInt = #line) -> [pthread_t?] {
        let workers = Parallel.workers(count: count, threads: threads)
        var visits = [Int](repeating: 0, count: count)
        var ranges = [Range<Int>?](repeating: nil, count: workers)
        var runners = [pthread_t?](repeating: nil, count: workers)
        visits.withUnsafeMutableBufferPointer { visits in
            ranges.withUnsafeMutableBufferPointer { ranges in
                runners.withUnsafeMutableBufferPointer { runners in
                    Parallel.forEach(count: count, threads: threads) { worker, range in
                        ranges[worker] = range
                        runners[worker] = pthread_self()
                        for i in range { visits[i] += 1 }
                    }
                }
            }
        }
        XCTAssertEqual(visits, [Int](repeating: 1, count: count), "count \(count), threads \(threads)", file: file, line: line)
        let expected = (0..<workers).map { ($0 * count / workers)..<(($0 + 1) * count / workers) }
        XCTAssertEqual(ranges, expected, "count \(count), threads \(threads)", file: file, line: line)
        return runners
    }

    /// Thread counts changing from call to call, so that workers keep letting jobs pass and
    /// joining the next: none may run a job twice, run one it has no range in, or miss one.
    func testEveryItemRunsOnceAsThreadCountsChange() {
        for round in 0..<300 {
            for threads in [2, 5, 1, 3, 4] {
                checkedForEach(count: [1, 2, 3, 7, 64, 1000][round % 6], threads: threads)
            }
        }
    }

    /// The other workers run on threads of their own, each its own, also after sleeping for
    /// much longer than they poll.
    func testWorkersRunOnOtherThreadsAfterSleeping() {
        for _ in 0..<20 {
            let runners = checkedForEach(count: 64, threads: 3)
            XCTAssertEqual(runners[0].map { pthread_equal($0, pthread_self()) }, 1, "worker 0 runs on the caller")
            let others = runners.dropFirst().compactMap { $0 }
            XCTAssertEqual(others.count, 2)
            XCTAssertTrue(others.allSatisfy { pthread_equal($0, pthread_self()) == 0 }, "a worker ran on the caller")
            XCTAssertEqual(pthread_equal(others[0], others[1]), 0, "two workers on one thread")
            usleep(UInt32(WorkerPool.spinSeconds * 20e6))
        }
    }

    /// A forEach inside a body runs its ranges on that body's thread and still covers
    /// everything.
    func testNestedCallsCoverEverything() {
        var cells = [Int](repeating: 0, count: 4 * 50)
        cells.withUnsafeMutableBufferPointer { cells in
            Parallel.forEach(count: 4, threads: 2) { _, rows in
                for row in rows {
                    Parallel.forEach(count: 50, threads: 3) { _, columns in
                        for column in columns { cells[row * 50 + column] += row * 1000 + column }
                    }
                }
            }
        }
        XCTAssertEqual(cells, (0..<4).flatMap { row in (0..<50).map { row * 1000 + $0 } })
    }

    /// Two threads calling at once (as the ranks of a --local-ranks run do): each gets workers
    /// of its own, and both finish with every item visited once.
    func testTwoCallersAtOnce() {
        DispatchQueue.concurrentPerform(iterations: 2) { caller in
            for round in 0..<200 {
                let runners = checkedForEach(count: 17 + round % 5 + caller, threads: 2 + caller)
                XCTAssertTrue(runners.dropFirst().allSatisfy { $0.map { pthread_equal($0, pthread_self()) } == 0 },
                              "caller \(caller) ran its ranges alone")
            }
        }
    }
}
