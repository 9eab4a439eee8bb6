import Foundation

/// The range and the tick marks of an axis, resolved from its data.
///
/// Linear axes use Heckbert's "nice numbers" (Graphics Gems, 1990): the tick step is the
/// 1, 2 or 5 times a power of ten nearest to span / (target - 1), and the range is widened
/// outwards to whole steps. Log axes put labelled ticks at powers of ten when the data span
/// several decades (with unlabelled grid lines at 2..9 times each power), at 1-2-5 values
/// when it spans one or two, and fall back to linear nice ticks inside one decade.
struct AxisTicks: Equatable {
    /// The range the axis shows.
    let lower: Double
    let upper: Double
    /// Labelled ticks (with grid lines), ascending, all within lower...upper.
    let values: [Double]
    let labels: [String]
    /// Unlabelled grid lines (log axes only).
    let minor: [Double]

    /// Wanted number of labelled ticks; the result has between about 4 and 10.
    static let target = 6

    static func resolve(_ axis: ChartAxis, dataMin: Double, dataMax: Double) -> AxisTicks {
        switch axis.scale {
        case .linear:
            return linear(dataMin: dataMin, dataMax: dataMax, fixed: axis.range, integer: axis.integerTicks)
        case .log10:
            return log10(dataMin: dataMin, dataMax: dataMax, fixed: axis.range)
        }
    }

    /// The 1, 2, 5 x 10^k value nearest to `raw` (on a log scale, Heckbert's rounding).
    static func niceStep(_ raw: Double) -> Double {
        let exponent = Foundation.floor(Foundation.log10(raw))
        let magnitude = Foundation.pow(10, exponent)
        let fraction = raw / magnitude
        let nice: Double = fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10
        return nice * magnitude
    }

    static func linear(dataMin: Double, dataMax: Double, fixed: ClosedRange<Double>?, integer: Bool) -> AxisTicks {
        var low = fixed?.lowerBound ?? dataMin
        var high = fixed?.upperBound ?? dataMax
        if !low.isFinite || !high.isFinite { (low, high) = (0, 1) }
        if high < low { swap(&low, &high) }
        if high == low {
            // A single value: give it room on both sides instead of a zero-width axis.
            let pad = low == 0 ? 1 : Swift.max(Swift.abs(low) * 0.1, integer ? 1 : 0)
            (low, high) = (low - pad, high + pad)
        }
        var step = niceStep((high - low) / Double(target - 1))
        if integer { step = Swift.max(step, 1) }
        guard step.isFinite, step > 0, (high - low) / step < 100 else {
            // Only at the edge of Double's range (spans near 1e308): label just the ends.
            return AxisTicks(lower: low, upper: high, values: [low, high],
                             labels: [low, high].map { String(format: "%g", $0) }, minor: [])
        }
        if fixed == nil {
            low = Foundation.floor(low / step) * step
            high = Foundation.ceil(high / step) * step
        }
        let first = Foundation.ceil(low / step - 1e-9)
        let last = Foundation.floor(high / step + 1e-9)
        let decimals = Swift.max(0, -Int(Foundation.floor(Foundation.log10(step) + 1e-9)))
        var values: [Double] = []
        var k = first
        while k <= last {
            values.append(k * step + 0)  // "+ 0" turns -0.0 into 0.0 for the label
            k += 1
        }
        let labels = values.map { String(format: "%.\(decimals)f", $0) }
        return AxisTicks(lower: low, upper: high, values: values, labels: labels, minor: [])
    }

    static func log10(dataMin: Double, dataMax: Double, fixed: ClosedRange<Double>?) -> AxisTicks {
        var low = fixed?.lowerBound ?? dataMin
        var high = fixed?.upperBound ?? dataMax
        if !(low > 0) || !low.isFinite || !(high > 0) || !high.isFinite { (low, high) = (1e-4, 1) }
        if high < low { swap(&low, &high) }
        if fixed == nil {
            low = niceBelow(low)
            high = niceAbove(high == low ? high * 1.0001 : high)
        } else if high == low {
            (low, high) = (low / 2, high * 2)
        }
        let lowExponent = Int(Foundation.floor(Foundation.log10(low) + 1e-9))
        let highExponent = Int(Foundation.floor(Foundation.log10(high) + 1e-9))
        let decades = Foundation.log10(high / low)
        let inside = { (v: Double) in v >= low * (1 - 1e-9) && v <= high * (1 + 1e-9) }

        var values: [Double] = []
        var minor: [Double] = []
        if decades > 2.5 {
            // Label every `stride`-th power of ten so at most about 8 labels appear.
            let stride = Swift.max(1, Int(Foundation.ceil(decades / 8)))
            for e in lowExponent...highExponent {
                let power = Foundation.pow(10, Double(e))
                if inside(power) && (e - lowExponent) % stride == 0 { values.append(power) }
                if stride == 1 {
                    for m in 2...9 where inside(Double(m) * power) { minor.append(Double(m) * power) }
                }
            }
        } else {
            for e in lowExponent...highExponent {
                for m in [1.0, 2, 5] where inside(m * Foundation.pow(10, Double(e))) {
                    values.append(m * Foundation.pow(10, Double(e)))
                }
            }
        }
        if values.count < 3 {
            // Less than a decade: nice linear values still read well on a log axis.
            let linearTicks = linear(dataMin: low, dataMax: high, fixed: low...high, integer: false)
            return AxisTicks(lower: low, upper: high, values: linearTicks.values.filter { $0 > 0 },
                             labels: zip(linearTicks.values, linearTicks.labels).filter { $0.0 > 0 }.map { $0.1 },
                             minor: [])
        }
        return AxisTicks(lower: low, upper: high, values: values, labels: values.map(logLabel), minor: minor)
    }

    /// The largest 1-2-5 x 10^k value <= v.
    static func niceBelow(_ v: Double) -> Double {
        let power = Foundation.pow(10, Foundation.floor(Foundation.log10(v) + 1e-9))
        return [5.0, 2, 1].map { $0 * power }.first { $0 <= v * (1 + 1e-9) } ?? power
    }

    /// The smallest 1-2-5 x 10^k value >= v.
    static func niceAbove(_ v: Double) -> Double {
        let power = Foundation.pow(10, Foundation.floor(Foundation.log10(v) + 1e-9))
        return [1.0, 2, 5, 10].map { $0 * power }.first { $0 >= v * (1 - 1e-9) } ?? 10 * power
    }

    /// "0.01", "5", "200" for moderate values; "1e-5", "2e-4", "5e6" beyond, where zeros
    /// become hard to count.
    static func logLabel(_ v: Double) -> String {
        let exponent = Int(Foundation.floor(Foundation.log10(v) + 1e-9))
        let mantissa = v / Foundation.pow(10, Double(exponent))
        let roundedMantissa = (mantissa * 10).rounded() / 10
        if exponent <= -4 || exponent >= 5 {
            let m = roundedMantissa == roundedMantissa.rounded()
                ? String(Int(roundedMantissa)) : String(format: "%.1f", roundedMantissa)
            return "\(m)e\(exponent)"
        }
        let decimals = Swift.max(0, -exponent + (roundedMantissa == roundedMantissa.rounded() ? 0 : 1))
        return String(format: "%.\(decimals)f", v)
    }
}
