import CMPI

/// The MPI library's own `MPI_Allreduce` (in place, sum), on its own duplicate communicator:
/// the yardstick our ring is benchmarked and verified against. Not used for training.
public final class ReferenceAllReduce {
    private let communicator: MPI_Comm

    /// Collective: every rank must create it at the same point.
    public init(over base: MPICommunicator) throws {
        communicator = try MPICommunicator.duplicate(base.communicator)
    }

    /// `MPI_Allreduce(MPI_IN_PLACE, values, count, MPI_FLOAT or MPI_DOUBLE, MPI_SUM)`
    /// (`values` may be nil when `count` is 0).
    public func allReduce<T: ReducibleElement>(_ values: UnsafeMutablePointer<T>?, count: Int) throws {
        guard count >= 0 && count <= Int(Int32.max) else {
            throw CommunicatorError.invalidArgument("MPI_Allreduce: count \(count) is outside 0...\(Int32.max)")
        }
        let type = T.elementKind == .float32 ? ddp_mpi_float() : ddp_mpi_double()
        try MPICommunicator.check(
            MPI_Allreduce(ddp_mpi_in_place(), values, Int32(count), type, ddp_mpi_sum(), communicator), "MPI_Allreduce")
    }
}
