import Foundation

/// Seconds on CLOCK_MONOTONIC (the clock Training's timeline uses): for deadlines and timings.
public enum MonotonicClock {
    @inline(__always)
    public static func seconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
    }
}
