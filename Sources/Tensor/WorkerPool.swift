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
/// makes about a hundred parallel calls, many of them 0.05-1 ms long: two threads then lost a
/// quarter of the step to wake-ups (`ddp bench step --threads 2` ran at 72-75% of two
/// one-thread processes side by side).
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
/// One job at a time: `run` returns false, having run nothing, while another job holds the pool
/// (a call from inside a body, or from a second thread); `Parallel.forEach` then runs its ranges
/// one after another on its own thread.
final class WorkerPool: @unchecked Sendable {
    static let shared = WorkerPool()

    /// How long an idle worker polls before it sleeps: longer than the gaps between a step's
    /// parallel calls (a few to tens of µs), short enough that little of a core is polled away
    /// from OpenBLAS's threads or another process when a long serial stretch follows.
    static let spinSeconds = 100e-6

    private static let countBits = 16
    private static let countMask = (1 << countBits) - 1

    private let busy = Atomic<Bool>(false)
    private let generation = Atomic<Int>(0)
    private let pending = Atomic<Int>(0)
    /// The job; written by the caller holding `busy` before it publishes `generation`.
    private var body: ((Int) -> Void)?
    /// Workers 1, 2, ...: started on first need, never stopped; touched only under `busy`.
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

    /// body(k) for k in 0 ..< workers, k = 0 on the calling thread, the others on the pool's
    /// threads; returns when all have returned. False, with nothing run, when the pool is taken
    /// or a thread cannot be started.
    func run(workers count: Int, _ body: (Int) -> Void) -> Bool {
        precondition(count >= 1 && count <= Self.countMask, "WorkerPool: \(count) workers")
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            return false
        }
        defer { busy.store(false, ordering: .releasing) }
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
            while pending.load(ordering: .acquiring) != 0 { ddp_spin_pause() }
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
            turns += 1
            if turns % 256 == 0, MonotonicClock.seconds() - since > Self.spinSeconds {
                worker.sleeping.store(true, ordering: .sequentiallyConsistent)
                if generation.load(ordering: .sequentiallyConsistent) == seen
                    || !worker.sleeping.exchange(false, ordering: .sequentiallyConsistent) {
                    worker.wake.wait()
                }
                since = MonotonicClock.seconds()
            }
            ddp_spin_pause()
        }
    }
}
