/// The identity of one collective call (which collective, element type, element count), carried
/// as the tag of every message the collective sends. This is the cross-rank check that all ranks
/// make the same call: it costs no extra message, only a comparison per received message.
///
/// A rank that receives a message whose tag or length is not what its own call expects reports
/// `collectiveMismatch` to every rank (`Communicator.signalFailure`) and throws it; the others
/// throw `peerFailed` in their current or next wait. Ranks whose part of the collective needed
/// nothing from the mismatched rank (a broadcast root) see the error at their next call.
///
/// Tag layout (30 bits, below `Communicator.tagLimit`):
///
///     bit 29     : 1 (a collective's message, not a user's point-to-point one)
///     bits 25-28 : operation
///     bits 22-24 : element kind
///     bits 0-21  : element count modulo 2^22 (larger counts that alias are caught by the
///                  message-length check every receive also makes)
struct CollectiveCall: Equatable {
    enum Operation: Int32, CaseIterable {
        case ringSum = 1, ringAverage, doublingSum, doublingAverage, broadcast, allGatherLengths, allGatherData,
             barrier

        var name: String {
            switch self {
            case .ringSum: return "allReduce(ring, sum)"
            case .ringAverage: return "allReduce(ring, average)"
            case .doublingSum: return "allReduce(recursive doubling, sum)"
            case .doublingAverage: return "allReduce(recursive doubling, average)"
            case .broadcast: return "broadcast"
            case .allGatherLengths: return "allGather (lengths)"
            case .allGatherData: return "allGather (values)"
            case .barrier: return "barrier"
            }
        }
    }

    static let countBits: Int32 = 22
    static let collectiveBit: Int32 = 1 << 29

    let operation: Operation
    let kind: ElementKind
    let count: Int

    var tag: Int32 {
        Self.collectiveBit | operation.rawValue << 25 | Int32(kind.rawValue) << Self.countBits
            | Int32(truncatingIfNeeded: count & ((1 << Int(Self.countBits)) - 1))
    }

    var summary: String { "\(operation.name) of \(count) \(kind)" }

    /// What the sender of a message with `tag` was doing, as far as the tag tells (its count is
    /// only known modulo 2^22; said so when this rank's own count is that large).
    func summary(ofTag tag: Int32) -> String {
        let collectiveBit = Self.collectiveBit, countBits = Self.countBits
        guard tag & collectiveBit != 0,
              let operation = Operation(rawValue: (tag >> 25) & 0xF),
              let kind = ElementKind(rawValue: UInt32((tag >> countBits) & 0x7))
        else { return "a point-to-point send with tag \(tag)" }
        let count = tag & ((1 << countBits) - 1)
        let modulo = self.count >> Int(countBits) != 0 ? " (mod 2^\(countBits))" : ""
        return "\(operation.name) of \(count)\(modulo) \(kind)"
    }

    /// Throws (after telling every rank) unless `envelope` is the message this call expects from
    /// `peer`: same tag, exactly `expectedBytes` long.
    func check(_ envelope: Envelope, from peer: Int, expectedBytes: Int, on communicator: any Communicator) throws {
        if envelope.tag == tag && !envelope.truncated && envelope.byteCount == expectedBytes { return }
        let theirs: String
        if envelope.tag != tag {
            theirs = summary(ofTag: envelope.tag)
        } else {
            let length = envelope.truncated ? "more than \(envelope.byteCount)" : "\(envelope.byteCount)"
            theirs = "the same with a different length (sent \(length) bytes where \(expectedBytes) were expected)"
        }
        let error = CommunicatorError.collectiveMismatch(
            rank: communicator.rank, peer: peer, mine: summary, theirs: theirs)
        communicator.signalFailure(error.description)
        throw error
    }
}
