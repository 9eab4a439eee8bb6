import CMPI
import Foundation
import Platform

/// How `MPICommunicator` completes its nonblocking calls: polling with a deadline, watching for
/// failure notices, and at the deadline following the wait-for chain to name the silent rank.
extension MPICommunicator {

    /// Completes the receive in `requests[0]` (from `receive`) and/or the send in `requests[1]`
    /// (to `send`), polling `MPI_Test`: spinning for `spinPolls` polls, then yielding the CPU
    /// between polls, and once the wait has lasted `sleepAfterSeconds`, sleeping between them.
    /// A wait that long means the peer has not arrived yet (ring messages are one segment, by
    /// default 256 KiB, a fraction of a millisecond on the wire), so the extra latency is small, and the
    /// CPU goes to whoever needs it: backward while the communication thread waits, or the
    /// other ranks when there are more ranks than cores. Every 64 polls after the spin it looks
    /// for failure notices and at the deadline.
    func wait(receive source: Int?, send destination: Int?, operation: String) throws -> Envelope? {
        var receiveDone = source == nil, sendDone = destination == nil
        var truncated = false
        var polls = 0
        var sleeping = false
        let start = MonotonicClock.seconds()
        while true {
            if !receiveDone {
                var flag: Int32 = 0
                let code = MPI_Test(requests, &flag, statuses)
                if code == MPI_ERR_TRUNCATE || (code == MPI_ERR_IN_STATUS && statuses[0].MPI_ERROR == MPI_ERR_TRUNCATE) {
                    receiveDone = true
                    truncated = true
                } else if code != MPI_SUCCESS {
                    throw failAndCancel(Self.error(code, "MPI_Test"))
                } else if flag != 0 {
                    receiveDone = true
                }
            }
            if !sendDone {
                var flag: Int32 = 0
                let code = MPI_Test(requests + 1, &flag, statuses + 1)
                if code != MPI_SUCCESS { throw failAndCancel(Self.error(code, "MPI_Test")) }
                if flag != 0 { sendDone = true }
            }
            if receiveDone && sendDone { break }
            polls &+= 1
            if polls < spinPolls { continue }
            if sleeping { usleep(Self.sleepMicroseconds) } else { sched_yield() }
            if polls & 63 != 0 { continue }
            let peer = receiveDone ? destination! : source!
            if let notice = failureNotice(waitingFor: peer) { throw failAndCancel(notice) }
            answerQueries(waitingFor: peer)
            let waited = MonotonicClock.seconds() - start
            if timeoutSeconds > 0 && waited > timeoutSeconds {
                throw failAndCancel(diagnoseTimeout(waitingFor: peer, operation: operation))
            }
            sleeping = waited > Self.sleepAfterSeconds
        }
        guard source != nil else { return nil }
        var received: Int32 = 0
        try Self.check(MPI_Get_count(statuses, ddp_mpi_byte(), &received), "MPI_Get_count")
        return Envelope(tag: statuses[0].MPI_TAG, byteCount: Int(received), truncated: truncated)
    }

    /// A failure notice another rank sent, if one has arrived (it makes this communicator failed),
    /// or the error of looking for one.
    private func failureNotice(waitingFor: Int?) -> CommunicatorError? {
        do {
            var flag: Int32 = 0
            var status = MPI_Status()
            try Self.check(MPI_Iprobe(ddp_mpi_any_source(), Self.noticeTag, control, &flag, &status), "MPI_Iprobe")
            guard flag != 0 else { return nil }
            var length: Int32 = 0
            try Self.check(MPI_Get_count(&status, ddp_mpi_byte(), &length), "MPI_Get_count")
            var reason = [UInt8](repeating: 0, count: Int(length))
            try Self.check(MPI_Recv(&reason, length, ddp_mpi_byte(), status.MPI_SOURCE, Self.noticeTag, control,
                                    ddp_mpi_status_ignore()), "MPI_Recv")
            let error = CommunicatorError.peerFailed(rank: rank, peer: Int(status.MPI_SOURCE),
                                                     reason: String(decoding: reason, as: UTF8.self), waitingFor: waitingFor)
            failure = error
            return error
        } catch {
            return error as? CommunicatorError
        }
    }

    /// Answers every pending "whom do you wait for" query with `peer`. Best effort: a failed
    /// answer leaves the asker to treat this rank as silent.
    private func answerQueries(waitingFor peer: Int) {
        while true {
            var flag: Int32 = 0
            var status = MPI_Status()
            guard MPI_Iprobe(ddp_mpi_any_source(), Self.queryTag, control, &flag, &status) == MPI_SUCCESS, flag != 0
            else { return }
            let asker = Int(status.MPI_SOURCE)
            guard MPI_Recv(nil, 0, ddp_mpi_byte(), status.MPI_SOURCE, Self.queryTag, control,
                           ddp_mpi_status_ignore()) == MPI_SUCCESS else { return }
            answers[asker] = Int32(peer)
            var request: MPI_Request? = ddp_mpi_request_null()
            if Self.bestEffort(MPI_Isend(answers + asker, 4, ddp_mpi_byte(), status.MPI_SOURCE, Self.answerTag,
                                         control, &request), "MPI_Isend", rank: rank) {
                Self.bestEffort(MPI_Request_free(&request), "MPI_Request_free", rank: rank)
            }
        }
    }

    /// After waiting `timeoutSeconds` for `peer`: follows the wait-for chain from `peer` (see
    /// the type's comment) and returns the error that names the rank at its end, or a failure
    /// notice that arrived meanwhile.
    private func diagnoseTimeout(waitingFor peer: Int, operation: String) -> CommunicatorError {
        var chain = [rank]
        var next = peer
        while !chain.contains(next) {
            chain.append(next)
            switch ask(next, waitingFor: peer) {
            case .waiting(let target): next = target
            case .failed(let notice): return notice
            case .silent:
                return .timeout(rank: rank, peer: next, seconds: timeoutSeconds, operation: operation,
                                via: Array(chain.dropFirst().dropLast()))
            }
        }
        return .deadlock(rank: rank, cycle: Array(chain[chain.firstIndex(of: next)!...]), operation: operation)
    }

    private enum Answer { case waiting(Int), silent, failed(CommunicatorError) }

    /// Asks `target` whom it waits for and waits `answerGraceSeconds` for the answer, meanwhile
    /// answering others' queries (this rank waits for `peer`) and looking for failure notices.
    private func ask(_ target: Int, waitingFor peer: Int) -> Answer {
        var request: MPI_Request? = ddp_mpi_request_null()
        guard MPI_Isend(nil, 0, ddp_mpi_byte(), Int32(target), Self.queryTag, control, &request) == MPI_SUCCESS
        else { return .silent }
        Self.bestEffort(MPI_Request_free(&request), "MPI_Request_free", rank: rank)
        let deadline = MonotonicClock.seconds() + answerGraceSeconds
        while MonotonicClock.seconds() < deadline {
            var flag: Int32 = 0
            var status = MPI_Status()
            if MPI_Iprobe(Int32(target), Self.answerTag, control, &flag, &status) == MPI_SUCCESS, flag != 0 {
                var answer: Int32 = -1
                guard MPI_Recv(&answer, 4, ddp_mpi_byte(), Int32(target), Self.answerTag, control,
                               ddp_mpi_status_ignore()) == MPI_SUCCESS, (0..<size).contains(Int(answer))
                else { return .silent }
                return .waiting(Int(answer))
            }
            if let notice = failureNotice(waitingFor: peer) { return .failed(notice) }
            answerQueries(waitingFor: peer)
            usleep(Self.sleepMicroseconds)
        }
        return .silent
    }

    /// Gives up on the outstanding requests, tells the other ranks (a no-op when the error is a
    /// notice from one of them) and returns `error` for throwing. The communicator is unusable
    /// afterwards.
    private func failAndCancel(_ error: CommunicatorError) -> CommunicatorError {
        cancel(requests)
        cancel(requests + 1)
        signalFailure(error.description)
        return error
    }

    func cancel(_ request: UnsafeMutablePointer<MPI_Request?>) {
        guard request.pointee != ddp_mpi_request_null() else { return }
        Self.bestEffort(MPI_Cancel(request), "MPI_Cancel", rank: rank)
        Self.bestEffort(MPI_Request_free(request), "MPI_Request_free", rank: rank)
    }
}
