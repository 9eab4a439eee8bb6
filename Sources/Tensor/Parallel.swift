/// Splits `count` independent items (images, channels, planes) into `threads` contiguous ranges
/// and runs them at once: ddp's own kernels use as many threads as BLAS (`BLASRuntime.threads`,
/// cores / ranks on the node by default). Each item's result must not depend on which range it
/// falls in, so the thread count never changes a result.
public enum Parallel {
    /// body(worker, range) for worker 0 ..< min(threads, count), the ranges covering 0 ..< count
    /// in order: on the calling thread alone when that is one range, else on the caller's and a
    /// `WorkerPool`'s threads, or one after another on the caller's when this call is made from
    /// inside a body.
    public static func forEach(count: Int, threads: Int, _ body: (_ worker: Int, _ range: Range<Int>) -> Void) {
        let t = workers(count: count, threads: threads)
        if t == 1 { body(0, 0..<count); return }
        if !WorkerPool.run(workers: t, { i in body(i, range(i, of: t, count: count)) }) {
            for i in 0..<t { body(i, range(i, of: t, count: count)) }
        }
    }

    /// Worker i's items when `count` items go to t workers.
    private static func range(_ i: Int, of t: Int, count: Int) -> Range<Int> {
        (i * count / t)..<((i + 1) * count / t)
    }

    /// The number of ranges `forEach` makes.
    public static func workers(count: Int, threads: Int) -> Int { min(max(1, threads), max(1, count)) }
}
