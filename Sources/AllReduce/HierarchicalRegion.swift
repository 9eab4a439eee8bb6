import Foundation
import Platform
import Synchronization

extension HierarchicalAllReduce {
    /// The node's shared region as `HierarchicalAllReduce` lays it out for a call: the flags, one
    /// 64-byte cache line each (so a rank raising its flag does not slow the others' polling of
    /// theirs), then one slot per node rank, 64-byte aligned.
    ///
    ///     lines 0 ..< L        copied[r]   pieces rank r has copied into slot r
    ///     lines L ..< 2L       reduced[r]  pieces reducer r has added its share of
    ///     lines 2L ..< 3L      out[r]      calls' pieces rank r has copied out, at the call's end
    ///     line  3L             done        pieces the leader has allreduced
    ///     line  3L + 1         failed      a failed rank + 1; 0 while none has
    ///     then                 slot 0 ..< L, slotBytes each (slot 0 also receives the sum)
    struct Region {
        enum Flag {
            case copied(Int), reduced(Int), out(Int), done, failed
        }

        struct Layout {
            let ranks: Int, slotBytes: Int
            static let lineBytes = 64
            var headerBytes: Int { (3 &* ranks &+ 2) &* Self.lineBytes }
            var byteCount: Int { headerBytes &+ ranks &* slotBytes }

            func line(_ flag: Flag) -> Int {
                switch flag {
                case .copied(let r): return r
                case .reduced(let r): return ranks &+ r
                case .out(let r): return 2 &* ranks &+ r
                case .done: return 3 &* ranks
                case .failed: return 3 &* ranks &+ 1
                }
            }
        }

        let layout: Layout
        let base: UnsafeMutableRawPointer
        let topology: NodeTopology
        /// This rank in the communicator that called the allreduce (for errors).
        let rank: Int

        init(layout: Layout, shared: any SharedRegion, topology: NodeTopology, rank: Int) {
            precondition(shared.byteCount >= layout.byteCount, "shared region too small for the call's layout")
            self.layout = layout
            base = shared.base
            self.topology = topology
            self.rank = rank
        }

        func slot(_ r: Int) -> UnsafeMutableRawPointer {
            base + (layout.headerBytes &+ r &* layout.slotBytes)
        }

        private func flag(_ flag: Flag) -> UnsafeMutablePointer<Atomic<Int>> {
            (base + layout.line(flag) &* Layout.lineBytes).assumingMemoryBound(to: Atomic<Int>.self)
        }

        /// Publishes `value`: every store this rank made before is seen by whoever reads it.
        func raise(_ flag: Flag, to value: Int) {
            self.flag(flag).pointee.store(value, ordering: .releasing)
        }

        /// Returns once `flag` (raised by node rank `peer`) reaches `target`. Polls: spinning
        /// first (a peer a few microseconds behind), then yielding the CPU, then after a
        /// millisecond sleeping 50 us between polls, because when ranks outnumber cores the peer
        /// needs this core to get there at all. Throws `peerFailed` as soon as a rank of the node
        /// reports a failure, `timeout` after the node communicator's `timeoutSeconds`.
        func wait(_ flag: Flag, atLeast target: Int, peer: Int, for what: @autoclosure () -> String) throws {
            let watched = self.flag(flag)
            if watched.pointee.load(ordering: .acquiring) >= target { return }
            let timeout = topology.node.timeoutSeconds
            let start = MonotonicClock.seconds()
            var polls = 0, sleeping = false
            while watched.pointee.load(ordering: .acquiring) < target {
                polls &+= 1
                if polls < 1000 { continue }
                if sleeping { usleep(50) } else { sched_yield() }
                if polls & 63 != 0 { continue }
                let failed = self.flag(.failed).pointee.load(ordering: .acquiring)
                if failed != 0 {
                    throw CommunicatorError.peerFailed(rank: rank, peer: failed &- 1, reason: "its part of a hierarchical allreduce failed",
                                                       waitingFor: topology.nodeMembers[peer])
                }
                let waited = MonotonicClock.seconds() - start
                if timeout > 0 && waited > timeout {
                    throw CommunicatorError.timeout(rank: rank, peer: topology.nodeMembers[peer], seconds: timeout,
                                                    operation: "hierarchical allreduce, waiting for \(what())")
                }
                sleeping = waited > 0.001
            }
        }
    }
}
