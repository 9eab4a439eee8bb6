extension Double {
    /// The value to print: a NaN without its sign bit. The NaN x86 arithmetic produces (0 * inf,
    /// inf - inf) has the sign bit set, and both printf and Swift print it as "-nan", which reads
    /// like a negative number.
    public var printable: Double { isNaN ? .nan : self }
}
