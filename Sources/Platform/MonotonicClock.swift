import Foundation

/// Seconds on CLOCK_MONOTONIC: ddp's one clock, for deadlines, timings, profiles and the timeline.
public enum MonotonicClock {
    @inline(__always)
    public static func seconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
    }
}
