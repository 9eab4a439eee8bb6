/// Memory that every rank of a one-node communicator maps (`Communicator.allocateShared`). Each
/// rank sees it at its own address, `base`; stores by one rank are seen by the others, ordered
/// by the atomic flags the users of the region keep in it (`SharedFlags`).
public protocol SharedRegion: AnyObject {
    /// Where this rank maps the region (64-byte aligned).
    var base: UnsafeMutableRawPointer { get }
    /// Its length in bytes.
    var byteCount: Int { get }
    /// Unmaps the region. Collective over the communicator that allocated it; no rank may touch
    /// the memory afterwards.
    func free() throws
}
