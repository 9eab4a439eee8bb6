import Foundation
import Platform

/// The flat gradient buffer cut into buckets that are averaged across ranks as soon as backward
/// has finished them, optionally while the rest of backward still runs.
///
/// Backward runs from the last layer to the first, so the highest offsets of the buffer are
/// final first. Buckets are therefore cut from the end backwards, each `capBytes` long (the
/// one at offset 0 takes the remainder):
///
///     offset 0                                                          count
///     | bucket 3 (rest) |    bucket 2    |    bucket 1    |    bucket 0    |
///                                        <-- backward finishes in this direction
///
/// Backward calls `gradientReady(offset)` when `buffer[offset..<count]` is final; every bucket
/// lying entirely in that range is launched, in bucket order (the same on every rank, which the
/// collectives require). `finish()` marks the rest ready, waits for all, and leaves the buffer
/// averaged (sum / P). Bucket boundaries do not depend on `overlap`, so both modes give
/// bitwise-identical results.
///
/// - overlap on: buckets are allreduced on a communication thread, over a duplicate of the
///   communicator (so the training thread may use the original at the same time).
/// - overlap off: launching only records readiness; `finish()` allreduces the buckets.
public final class GradientBuckets {
    /// Seconds of one step (or a sum over steps).
    public struct Timing: Equatable, Sendable {
        /// Time spent inside the buckets' allreduces.
        public var communicationSeconds = 0.0
        /// Time the caller was blocked in `finish()` (with overlap: what overlap did not hide).
        public var waitSeconds = 0.0
    }

    /// Bucket k's element range; bucket 0 holds the highest offsets.
    public let ranges: [Range<Int>]
    /// Whether buckets are allreduced on a communication thread while backward runs.
    public let overlap: Bool
    /// Timing of the last finished step.
    public private(set) var lastStep = Timing()
    /// Timing summed over all finished steps.
    public private(set) var total = Timing()
    /// Start and end (`MonotonicClock` seconds) of each bucket's allreduce in the last finished
    /// step, indexed like `ranges` (for the timeline).
    public private(set) var bucketTimes: [(start: Double, end: Double)]

    private let communicator: any Communicator
    private let buffer: UnsafeMutablePointer<Float>
    private let count: Int
    private let worker: CommunicationWorker?
    /// `buffer[readyOffset..<count]` is final in the current step.
    private var readyOffset: Int
    /// Buckets launched in the current step: `ranges[0..<launched]`.
    private var launched = 0
    /// The first error of a step; the buckets are unusable after it.
    private var failure: Error?

    /// Collective when `overlap` is on (it duplicates the communicator): every rank must create
    /// its buckets at the same point, with the same `count` and `capBytes`.
    public init(communicator: any Communicator, buffer: UnsafeMutablePointer<Float>, count: Int,
                capBytes: Int = 4 << 20, overlap: Bool) throws {
        guard count >= 0 else { throw CommunicatorError.invalidArgument("GradientBuckets: count must be >= 0 (got \(count))") }
        guard capBytes >= MemoryLayout<Float>.size else {
            throw CommunicatorError.invalidArgument("GradientBuckets: capBytes must hold at least one Float (got \(capBytes))")
        }
        self.ranges = Self.ranges(count: count, capBytes: capBytes)
        self.overlap = overlap
        self.communicator = communicator
        self.buffer = buffer
        self.count = count
        readyOffset = count
        bucketTimes = Array(repeating: (0, 0), count: ranges.count)
        worker = overlap
            ? try CommunicationWorker(communicator: communicator.duplicate(), buffer: buffer, ranges: ranges)
            : nil
    }

    /// The buckets of a gradient of `count` floats: ranges of at most `capBytes`, from the end
    /// backwards (the order backward produces gradients in), so the remainder is the last bucket.
    public static func ranges(count: Int, capBytes: Int) -> [Range<Int>] {
        let capElements = max(1, capBytes / MemoryLayout<Float>.size)
        return stride(from: count, to: 0, by: -capElements).map { end in max(0, end - capElements)..<end }
    }

    /// Stops the communication thread, after the bucket it may be reducing: that bucket writes
    /// into the buffer, which must outlive it (a wait bounded by the communicator's timeout).
    deinit { worker?.stop() }

    /// Backward has finished `buffer[offset..<count]`: launch every bucket inside it. Offsets
    /// may arrive in any order and repeat; only the lowest so far counts. Never blocks (with
    /// overlap off it only records); errors surface in `finish()`.
    public func gradientReady(_ offset: Int) {
        let offset = min(max(offset, 0), count)
        guard offset < readyOffset else { return }
        readyOffset = offset
        var ready = launched
        while ready < ranges.count && ranges[ready].lowerBound >= offset { ready += 1 }
        guard ready > launched else { return }
        launched = ready
        worker?.launch(upTo: ready)
    }

    /// Backward is done: allreduces whatever is left, waits for every bucket, and leaves the
    /// buffer averaged over ranks. Then the next step may begin with `gradientReady`.
    public func finish() throws {
        if let failure { throw failure }
        let start = MonotonicClock.seconds()
        gradientReady(0)
        var step = Timing()
        if let worker {
            step.communicationSeconds = worker.waitForAll(recordingInto: &bucketTimes)
            if let error = worker.takeError() { failure = error }
        } else {
            for (k, range) in ranges.enumerated() where failure == nil {
                let bucketStart = MonotonicClock.seconds()
                do {
                    try communicator.allReduce(buffer + range.lowerBound, count: range.count, op: .average)
                } catch {
                    failure = error
                }
                bucketTimes[k] = (bucketStart, MonotonicClock.seconds())
                step.communicationSeconds += bucketTimes[k].end - bucketTimes[k].start
            }
        }
        step.waitSeconds = MonotonicClock.seconds() - start
        lastStep = step
        total.communicationSeconds += step.communicationSeconds
        total.waitSeconds += step.waitSeconds
        readyOffset = count
        launched = 0
        if let failure { throw failure }
    }
}

/// The communication thread of `GradientBuckets` with overlap: it sleeps on a condition
/// variable until buckets are launched and allreduces them in order.
private final class CommunicationWorker {
    private let communicator: any Communicator
    private let buffer: UnsafeMutablePointer<Float>
    private let ranges: [Range<Int>]
    private let condition = NSCondition()
    // Guarded by `condition`.
    private var launched = 0
    private var completed = 0
    private var stopping = false
    private var stopped = false
    private var error: Error?
    private var times: [(start: Double, end: Double)]

    init(communicator: any Communicator, buffer: UnsafeMutablePointer<Float>, ranges: [Range<Int>]) {
        self.communicator = communicator
        self.buffer = buffer
        self.ranges = ranges
        times = Array(repeating: (0, 0), count: ranges.count)
        let thread = Thread { [self] in run() }
        thread.name = "ddp-gradient-buckets"
        thread.start()
    }

    func launch(upTo bucket: Int) {
        condition.lock()
        launched = bucket
        condition.broadcast()
        condition.unlock()
    }

    /// Blocks until every bucket of the step is done, copies their times out, resets for the
    /// next step; returns the seconds spent communicating.
    func waitForAll(recordingInto bucketTimes: inout [(start: Double, end: Double)]) -> Double {
        condition.lock()
        launched = ranges.count
        condition.broadcast()
        while completed < ranges.count { condition.wait() }
        var seconds = 0.0
        for k in 0..<ranges.count {
            bucketTimes[k] = times[k]
            seconds += times[k].end - times[k].start
        }
        launched = 0
        completed = 0
        condition.unlock()
        return seconds
    }

    func takeError() -> Error? {
        condition.lock()
        defer { condition.unlock() }
        return error
    }

    /// Asks the thread to end and waits until it has.
    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        while !stopped { condition.wait() }
        condition.unlock()
    }

    private func run() {
        condition.lock()
        while true {
            while !stopping && completed == launched { condition.wait() }
            if stopping { break }
            let bucket = completed
            let skip = error != nil
            condition.unlock()
            let start = MonotonicClock.seconds()
            var failure: Error?
            if !skip {
                do {
                    try communicator.allReduce(buffer + ranges[bucket].lowerBound, count: ranges[bucket].count, op: .average)
                } catch let caught {
                    failure = caught
                }
            }
            let end = MonotonicClock.seconds()
            condition.lock()
            if let failure, error == nil { error = failure }
            times[bucket] = (start, end)
            completed += 1
            condition.broadcast()
        }
        stopped = true
        condition.broadcast()
        condition.unlock()
    }
}
