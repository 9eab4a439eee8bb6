/// The middle value of a set: the mean of the middle two for an even count. Robust to the odd
/// outlier, which is why the verdicts on a run's curves and the straggler rule both use it.
/// `values` must not be empty.
public enum Median {
    public static func of(_ values: [Double]) -> Double {
        precondition(!values.isEmpty, "the median of no values")
        let sorted = values.sorted()
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }
}
