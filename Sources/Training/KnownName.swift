import Data
import Layers

/// Names a flag must take from a fixed list (model presets, data sets), with the one a slip of
/// the keyboard most likely meant: `fmnist_cnn` is `fmnist-cnn`, `fashion_mnist` is
/// `fashion-mnist`, `resnet21` is `resnet20`.
public enum KnownName {
    /// The name of `known` that `given` most likely meant, or nil when none is close: the same
    /// up to case and '_' / '-', or at most 2 edits away (a third of the name for short ones).
    public static func suggestion(for given: String, in known: [String]) -> String? {
        let wanted = normalized(given)
        if let same = known.first(where: { normalized($0) == wanted }) { return same }
        let scored = known.map { (name: $0, distance: editDistance(wanted, normalized($0))) }
        guard let best = scored.min(by: { $0.distance < $1.distance }),
              best.distance <= min(2, max(1, best.name.count / 3)) else { return nil }
        return best.name
    }

    /// "; did you mean 'x'?" or "".
    static func didYouMean(_ given: String, in known: [String]) -> String {
        suggestion(for: given, in: known).map { "; did you mean '\($0)'?" } ?? ""
    }

    /// One line for a `--dataset` that names no data set ddp reads, or nil.
    public static func datasetProblem(_ name: String) -> String? {
        guard !DatasetLoader.names.contains(name) else { return nil }
        return "unknown dataset '\(name)'\(didYouMean(name, in: DatasetLoader.names)) "
            + "(expected one of: \(DatasetLoader.names.joined(separator: ", ")))"
    }

    /// One line for a `--model` that can only be a misspelt preset, or nil. No single layer
    /// token maps an image to class logits, so a word without '-' that is no preset is a
    /// misspelt preset, not a spec; a spec with '-' is judged when it is built
    /// (`specProblem`).
    public static func modelProblem(_ name: String) -> String? {
        guard !name.contains("-"), ModelSpec.presetSpec(name) == nil else { return nil }
        return "unknown model '\(name)'\(didYouMean(name, in: ModelSpec.presetNames)) "
            + "(expected a preset: \(ModelSpec.presetNames.joined(separator: ", ")); or layer tokens joined by '-')"
    }

    /// A spec that failed to build, with the preset it is close to (`fmnist-cn`).
    public static func specProblem(_ spec: String, _ error: ModelError) -> String {
        error.message + didYouMean(spec, in: ModelSpec.presetNames)
    }

    private static func normalized(_ name: String) -> String {
        name.lowercased().replacingOccurrences(of: "_", with: "-")
    }

    /// Levenshtein distance (insertions, deletions, substitutions), on characters.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        guard !a.isEmpty, !b.isEmpty else { return max(a.count, b.count) }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
