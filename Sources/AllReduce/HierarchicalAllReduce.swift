import Foundation
import Platform
import Synchronization

/// Allreduce through the node first: the ranks of a node add their vectors in the node's shared
/// memory, one leader per node allreduces the node's sum with the other leaders, and every rank
/// of the node copies the result out. Across nodes each byte then travels once per node, where
/// the flat ring carries 2(P-1)/P of the vector over every link at a node's edge: with 2 nodes of
/// 2 ranks, 1x the vector each way instead of 1.5x.
///
///     node 0: ranks 0 1 2                          node 1: ranks 3 4
///     +-------------------------------------+      +---------------------------+
///     | shared region: flags | slot 0 1 2   |      | flags | slot 0 1          |
///     |   rank 0 (leader)   rank 1   rank 2 | ring |  rank 3 (leader)   rank 4 |
///     |   copy in           copy in  copy in|<---->|  copy in           copy in |
///     |   allreduce slot 0  add slots 1..2  |      |  allreduce slot 0  add    |
///     |   copy out          copy out copy out      |  copy out          copy out|
///     +-------------------------------------+      +---------------------------+
///
/// The vector moves in pieces of `workspace.hierarchyPieceBytes`, pipelined: while the leaders
/// send piece p, the node's other ranks (the reducers) already add piece p+1. Every step ends by
/// raising a flag (an atomic counter in the region, one cache line each); counters only grow, so
/// no flag is ever reset: piece p of a call is ticket t = base + p + 1, base being the pieces the
/// region has finished before (`NodeTopology.finishedPieces`). With L ranks on the node:
///
///     step (piece p, ticket t)   who             waits for                 then raises
///     0 enter the call           every rank      out[q] >= base, all q     -
///     1 copy piece p in          rank r          -                         copied[r] = t
///     2 add slots 1..L-1 into    reducer r       copied[q] >= t, all q     reduced[r] = t
///       slot 0, its 1/(L-1)      (r = 1..L-1)
///     3 allreduce slot 0's piece leader (r = 0)  reduced[q] >= t, q >= 1   done = t
///       with the leaders (sum),
///       divide by P to average
///     4 copy slot 0's piece out  every rank      done >= t                 out[r] = base + pieces
///                                                                          (after the last piece)
///
/// Step 0 keeps a call from writing where the last call's results are still being read. The
/// leader copies piece p+1 in before it waits for piece p, so the reducers never wait for it.
///
/// Results: slot 0 holds ((x0 + x1) + x2) + ... in node-rank order whoever adds which share, the
/// leaders' allreduce is bitwise identical on every leader, and every rank copies the same bits
/// out of slot 0, so the result is bitwise identical on every rank. It differs from the flat
/// ring's only in the order of the additions. A node with one rank has no region: its leader
/// allreduces its own vector, in the same pieces as every other leader.
///
/// Failures: a rank whose part throws writes its rank into the region's `failed` flag (the node's
/// waiters throw `peerFailed` at once) and signals the node and leader communicators; every flag
/// wait ends with `timeout` naming the rank it waited for after `timeoutSeconds`.
enum HierarchicalAllReduce {
    static func run(_ communicator: any Communicator, _ topology: NodeTopology, _ values: UnsafeMutableRawPointer,
                    count: Int, kind: ElementKind, op: ReduceOp) throws {
        let pieces = Pieces(count: count, elementSize: kind.size, pieceBytes: communicator.workspace.hierarchyPieceBytes)
        let node = topology.node
        var region: Region?
        do {
            if node.size == 1 {
                try lead(topology, region: nil, values, pieces: pieces, kind: kind, op: op)
                return
            }
            let layout = Region.Layout(ranks: node.size, slotBytes: (count &* kind.size &+ 63) & ~63)
            let shared = try topology.region(byteCount: layout.byteCount)
            region = Region(layout: layout, shared: shared, topology: topology, rank: communicator.rank)
            let base = topology.finishedPieces
            for q in 0..<node.size { try region!.wait(.out(q), atLeast: base, peer: q, for: "the last call's copy-out") }
            if node.rank == 0 {
                try lead(topology, region: region, values, pieces: pieces, kind: kind, op: op)
            } else {
                try reduce(topology, region: region!, values, pieces: pieces, kind: kind)
            }
            topology.finishedPieces = base &+ pieces.count
        } catch {
            let reason = "rank \(communicator.rank) failed in a hierarchical allreduce: \(error)"
            region?.raise(.failed, to: communicator.rank &+ 1)
            node.signalFailure(reason)
            topology.leaders?.signalFailure(reason)
            throw error
        }
    }

    /// Steps 1, 3 and 4 on the leader; with no region (the leader is alone on its node) only the
    /// allreduce, in place.
    private static func lead(_ topology: NodeTopology, region: Region?, _ values: UnsafeMutableRawPointer,
                             pieces: Pieces, kind: ElementKind, op: ReduceOp) throws {
        let base = topology.finishedPieces, reducers = topology.node.size &- 1
        let work = region.map { $0.slot(0) } ?? values
        func copyIn(_ p: Int) {
            guard let region else { return }
            pieces.copy(p, from: values, to: work, kind: kind)
            region.raise(.copied(0), to: base &+ p &+ 1)
        }
        copyIn(0)
        for p in 0..<pieces.count {
            if p &+ 1 < pieces.count { copyIn(p &+ 1) }
            let ticket = base &+ p &+ 1
            if let region {
                for q in 1...reducers {
                    try region.wait(.reduced(q), atLeast: ticket, peer: q, for: "its share of the node's sum")
                }
            }
            let piece = work + pieces.start(p) &* kind.size
            if let leaders = topology.leaders, leaders.size > 1 {
                try leaders.allReduce(piece, count: pieces.length(p), kind: kind, op: .sum)
            }
            if op == .average { ReductionKernel.divide(piece, count: pieces.length(p), by: topology.size, kind: kind) }
            if let region {
                region.raise(.done, to: ticket)
                pieces.copy(p, from: work, to: values, kind: kind)
            }
        }
        region?.raise(.out(0), to: base &+ pieces.count)
    }

    /// Steps 1, 2 and 4 on the reducer with node rank r >= 1.
    private static func reduce(_ topology: NodeTopology, region: Region, _ values: UnsafeMutableRawPointer,
                               pieces: Pieces, kind: ElementKind) throws {
        let base = topology.finishedPieces, ranks = topology.node.size, r = topology.node.rank
        let sum = region.slot(0), own = region.slot(r)
        for p in 0..<pieces.count {
            let ticket = base &+ p &+ 1
            pieces.copy(p, from: values, to: own, kind: kind)
            region.raise(.copied(r), to: ticket)
            for q in 0..<ranks where q != r {
                try region.wait(.copied(q), atLeast: ticket, peer: q, for: "its vector")
            }
            // Reducer r's share: the (r-1)-th of ranks-1 near-equal parts of the piece.
            let length = pieces.length(p), reducers = ranks &- 1
            let from = pieces.start(p) &+ length &* (r &- 1) / reducers
            let to = pieces.start(p) &+ length &* r / reducers
            if to > from {
                for q in 1..<ranks {
                    ReductionKernel.accumulate(sum + from &* kind.size, region.slot(q) + from &* kind.size,
                                               count: to &- from, kind: kind)
                }
            }
            region.raise(.reduced(r), to: ticket)
        }
        for p in 0..<pieces.count {
            try region.wait(.done, atLeast: base &+ p &+ 1, peer: 0, for: "the leaders' allreduce")
            pieces.copy(p, from: sum, to: values, kind: kind)
        }
        region.raise(.out(r), to: base &+ pieces.count)
    }
}

/// How `HierarchicalAllReduce` cuts `elements` elements: `count` pieces of `pieceElements` (at
/// least one element each), the last one shorter; no elements is one empty piece, so that the
/// leaders still meet.
struct Pieces {
    let elements: Int, pieceElements: Int

    init(count elements: Int, elementSize: Int, pieceBytes: Int) {
        self.elements = elements
        pieceElements = max(1, pieceBytes / elementSize)
    }

    var count: Int { max(1, (elements &+ pieceElements &- 1) / pieceElements) }
    func start(_ p: Int) -> Int { min(elements, p &* pieceElements) }
    func length(_ p: Int) -> Int { min(elements, start(p) &+ pieceElements) &- start(p) }

    func copy(_ p: Int, from source: UnsafeMutableRawPointer, to destination: UnsafeMutableRawPointer, kind: ElementKind) {
        let offset = start(p) &* kind.size
        (destination + offset).copyMemory(from: source + offset, byteCount: length(p) &* kind.size)
    }
}
