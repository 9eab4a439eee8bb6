import CMPI
import Foundation

/// An MPI-3 shared-memory window over the ranks of one node: rank 0 of the communicator allocates
/// all of it (`MPI_Win_allocate_shared`, the others 0 bytes) and every rank maps it through
/// `MPI_Win_shared_query`, so the region is one block at its own address in each process (Open
/// MPI puts it after a header of its own, so 63 bytes more are allocated and `base` rounded up to
/// a 64-byte boundary, whose distance from the mapping is the same in every process). Loads
/// and stores go straight to memory; ordering between ranks comes from the atomic flags that the
/// region's users keep in it (the unified memory model of Open MPI's osc/sm).
final class MPISharedWindow: SharedRegion {
    let base: UnsafeMutableRawPointer
    let byteCount: Int
    private var window: MPI_Win?

    /// Collective over `communicator`, whose ranks must share a node.
    init(_ communicator: MPI_Comm, rank: Int, byteCount: Int) throws {
        var window: MPI_Win?
        var local: UnsafeMutableRawPointer?
        try MPICommunicator.check(
            MPI_Win_allocate_shared(MPI_Aint(rank == 0 ? byteCount &+ 63 : 0), 1, ddp_mpi_info_null(), communicator, &local, &window),
            "MPI_Win_allocate_shared")
        try MPICommunicator.check(MPI_Win_set_errhandler(window, ddp_mpi_errors_return()), "MPI_Win_set_errhandler")
        var size: MPI_Aint = 0, unit: Int32 = 0
        var shared: UnsafeMutableRawPointer?
        try MPICommunicator.check(MPI_Win_shared_query(window, 0, &size, &unit, &shared), "MPI_Win_shared_query")
        guard let shared, Int(size) >= byteCount &+ 63 else {
            throw CommunicatorError.unsupported("MPI_Win_shared_query gave \(size) bytes where \(byteCount + 63) were allocated")
        }
        self.window = window
        self.byteCount = byteCount
        base = shared.alignedUp(toMultipleOf: 64)
        Self.live.append(self)
    }

    func free() throws {
        Self.live.remove(self)
        try MPICommunicator.check(MPI_Win_free(&window), "MPI_Win_free")
    }

    /// Windows not yet freed, oldest first, for `MPICommunicator.finalize`: every rank of a node
    /// made its node's windows in the same order, so freeing them in order matches.
    static let live = LiveWindows()

    final class LiveWindows: @unchecked Sendable {
        private let lock = NSLock()
        private var windows: [MPISharedWindow] = []

        func append(_ window: MPISharedWindow) { lock.withLock { windows.append(window) } }
        func remove(_ window: MPISharedWindow) { lock.withLock { windows.removeAll { $0 === window } } }
        func takeAll() -> [MPISharedWindow] {
            lock.withLock {
                defer { windows.removeAll() }
                return windows
            }
        }
    }

    /// At `finalize`: frees what is left, reporting rather than throwing (MPI is ending anyway).
    static func freeAll(rank: Int) {
        for window in live.takeAll() {
            MPICommunicator.bestEffort(MPI_Win_free(&window.window), "MPI_Win_free", rank: rank)
        }
    }
}
