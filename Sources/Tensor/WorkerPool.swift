import CKernels
import Dispatch
import Glibc
import Platform
import Synchronization

/// The threads behind `Parallel.forEach` when it runs on more than one: workers that keep
/// polling for a while after each job, so that handing out the next one costs a store instead
/// of a wake-up.
///
/// Why not `DispatchQueue.concurrentPerform`: its worker sleeps between calls, and waking a
/// sleeping thread took 50-100 µs on the (virtual) CPUs ddp is measured on. A resnet20 step
/// makes about a hundred parallel calls, many of them 0.05-1 ms long: one process on two
/// threads ran at about 72% of two one-thread processes side by side (`ddp bench step`).
///
///     caller (worker 0)                      workers 1 ..< t (threads of their own)
///     ─────────────────                      ──────────────────────────────────────
///     body = the job, pending = t - 1        poll `generation` for up to spinSeconds,
///     generation = (jobs + 1) << 16 | t ───▶   then sleep until woken
///     wake the workers that went to sleep    see the new generation: worker k < t runs
///     body(0)                                  body(k), then pending -= 1
///     poll until pending == 0; body = nil    (workers k >= t let the job pass)
///
/// The job's worker count travels in `generation` itself: a worker that lets a job pass is not
/// waited for, so it may look late, when the caller is already writing the next job; one load
/// gives it a generation and that generation's count together.
///
/// Sleeping without losing a wake-up: a worker sets `sleeping`, then reads `generation` once
/// more; the caller writes `generation`, then takes `sleeping` back (exchange) and signals only
/// if it was set. Both sides use sequentially consistent operations, so at least one of them
/// sees the other's write, and exactly one exchange finds `sleeping` set: a worker whose own
/// exchange comes too late waits for the signal that is then on its way.
///
/// One job per pool at a time: threads that call at once (the ranks of a `--local-ranks` run)
/// each take a pool of their own from a list of idle ones, which grows to the most callers ever
/// seen at once. A call from inside a body runs no pool: `run` returns false, having run nothing,
/// and `Parallel.forEach` runs that call's ranges one after another on its own thread.
final class WorkerPool: @unchecked Sendable {
    /// body(k) for k in 0 ..< workers, k = 0 on the calling thread, the others on the threads of
    /// a pool the caller has to itself; returns when all have returned. False, with nothing
    /// run, when called from a body or when a thread cannot be started.
    static func run(workers count: Int, _ body: (Int) -> Void) -> Bool {
        precondition(count >= 1 && count <= countMask, "WorkerPool: \(count) workers")
        if pthread_getspecific(insideKey) != nil { return false }
        let pool = idle.withLock { $0.popLast() } ?? WorkerPool()
        defer { idle.withLock { $0.append(pool) } }
        pthread_setspecific(insideKey, insideMark)
        defer { pthread_setspecific(insideKey, nil) }
        return pool.run(workers: count, body)
    }

    private static let idle = Mutex<[WorkerPool]>([])
    /// Set (to `insideMark`) on a thread while it runs a body: on workers always, on a caller
    /// during its call.
    private static let insideKey: pthread_key_t = {
        var key = pthread_key_t()
        precondition(pthread_key_create(&key, nil) == 0, "WorkerPool: no thread-specific key")
        return key
    }()
    private static let insideMark = UnsafeMutableRawPointer(bitPattern: 1)!

    /// How long an idle worker polls before it sleeps: longer than the gaps between a step's
    /// parallel calls (a few to tens of µs), short enough that little of a core is polled away
    /// from OpenBLAS's threads or another process when a long serial stretch follows.
    static let spinSeconds = 100e-6

    private static let countBits = 16
    private static let countMask = (1 << countBits) - 1

    private let generation = Atomic<Int>(0)
    private let pending = Atomic<Int>(0)
    /// The job; written by the caller (who has the pool to itself) before it publishes
    /// `generation`.
    private var body: ((Int) -> Void)?
    /// Workers 1, 2, ...: started on first need, never stopped; touched only by the caller.
    private var workers: [Worker] = []

    private final class Worker: @unchecked Sendable {
        let index: Int
        let firstSeen: Int
        let sleeping = Atomic<Bool>(false)
        let wake = DispatchSemaphore(value: 0)
        unowned let pool: WorkerPool

        init(index: Int, firstSeen: Int, pool: WorkerPool) {
            (self.index, self.firstSeen, self.pool) = (index, firstSeen, pool)
        }
    }

    /// `WorkerPool.run` on this pool.
    private func run(workers count: Int, _ body: (Int) -> Void) -> Bool {
        let previous = generation.load(ordering: .relaxed)
        while workers.count < count - 1 {
            guard let worker = startWorker(index: workers.count + 1, firstSeen: previous) else { return false }
            workers.append(worker)
        }
        withoutActuallyEscaping(body) { body in
            self.body = body
            pending.store(count - 1, ordering: .relaxed)
            let jobs = previous >> Self.countBits + 1
            generation.store(jobs << Self.countBits | count, ordering: .sequentiallyConsistent)
            for worker in workers.prefix(count - 1)
            where worker.sleeping.exchange(false, ordering: .sequentiallyConsistent) {
                worker.wake.signal()
            }
            body(0)
            var turns = 0
            while pending.load(ordering: .acquiring) != 0 { Self.pause(&turns) }
            self.body = nil
        }
        return true
    }

    private func startWorker(index: Int, firstSeen: Int) -> Worker? {
        let worker = Worker(index: index, firstSeen: firstSeen, pool: self)
        let context = Unmanaged.passRetained(worker).toOpaque()
        var thread = pthread_t()
        let started = pthread_create(&thread, nil, { context in
            let worker = Unmanaged<Worker>.fromOpaque(context!).takeRetainedValue()
            worker.pool.serve(worker)
        }, context)
        guard started == 0 else {
            Unmanaged<Worker>.fromOpaque(context).release()
            return nil
        }
        pthread_detach(thread)
        return worker
    }

    private func serve(_ worker: Worker) -> Never {
        pthread_setspecific(Self.insideKey, Self.insideMark)
        var seen = worker.firstSeen
        while true {
            seen = nextJob(after: seen, worker)
            if worker.index < seen & Self.countMask {
                runBody(worker.index)
                pending.subtract(1, ordering: .releasing)
            }
        }
    }

    /// Kept out of line so that the closure's retain and release both happen before `pending`
    /// drops: `withoutActuallyEscaping` checks that nobody holds the closure once the job ends.
    @inline(never)
    private func runBody(_ index: Int) { body!(index) }

    /// The first generation after `seen`: polled for spinSeconds at a time, asleep in between.
    private func nextJob(after seen: Int, _ worker: Worker) -> Int {
        var since = MonotonicClock.seconds()
        var turns = 0
        while true {
            let current = generation.load(ordering: .acquiring)
            if current != seen { return current }
            if turns % 16 == 15, MonotonicClock.seconds() - since > Self.spinSeconds {
                worker.sleeping.store(true, ordering: .sequentiallyConsistent)
                if generation.load(ordering: .sequentiallyConsistent) == seen
                    || !worker.sleeping.exchange(false, ordering: .sequentiallyConsistent) {
                    worker.wake.wait()
                }
                since = MonotonicClock.seconds()
                turns = 0
            }
            Self.pause(&turns)
        }
    }

    /// One turn of a wait: PAUSE for the first `pausingTurns`, then give the core away
    /// (sched_yield) at each turn. With more threads than cores (`--threads` above the cores,
    /// or ranks oversubscribing a node) the thread being waited for may be waiting for this
    /// very core: pure spinning ran resnet20's bf16 step at 4 and 8 threads on 2 cores at
    /// 560-624 and 362-372 images/s, where sleeping hand-offs gave 864-958 and 834-852 and
    /// yielding gives 1,195-1,245 and 908-1,036. With a core each, sched_yield returns at once.
    @inline(__always)
    private static func pause(_ turns: inout Int) {
        turns += 1
        if turns < pausingTurns { ddp_spin_pause() } else { sched_yield() }
    }

    private static let pausingTurns = 64
}
