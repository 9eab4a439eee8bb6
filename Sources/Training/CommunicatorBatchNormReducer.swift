import AllReduce
import Layers

/// SyncBatchNorm's cross-rank sum: Layers asks for it through `BatchNormReducer` so that it never
/// depends on the communication layer; Training injects this adapter.
final class CommunicatorBatchNormReducer: BatchNormReducer {
    private let comm: any Communicator
    init(_ comm: any Communicator) { self.comm = comm }

    func sumAcrossRanks(_ values: UnsafeMutablePointer<Float>, count: Int) {
        // A failed collective here leaves the ranks in different states; the watchdog / abort path
        // of the communicator ends the job with the reason rather than continuing with garbage.
        do { try comm.allReduce(values, count: count, op: .sum) } catch {
            comm.abort(message: "SyncBatchNorm allreduce failed: \(error)")
        }
    }
}
