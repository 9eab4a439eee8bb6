import Foundation
import Training

/// A `TrainConfig` from the options a command line gave, on top of the defaults, and the flags
/// that were given: a resume takes every other setting from the checkpoint (`ResumePlan`).
/// Options are optional (`Int?`) for this: ArgumentParser cannot tell a default from a value
/// typed again, so their defaults come from `TrainConfig` and are written into the help.
struct GivenSettings {
    var config = TrainConfig()
    var given: Set<String> = []

    /// The defaults, for the help texts.
    static let defaults = TrainConfig()

    mutating func set<T>(_ flag: String, _ value: T?, _ key: WritableKeyPath<TrainConfig, T>) {
        guard let value else { return }
        config[keyPath: key] = value
        given.insert(flag)
    }

    /// A flag that can only turn its setting on (`--sync-bn`) or, for `--no-shuffle`, off.
    mutating func set(_ flag: String, _ present: Bool, _ key: WritableKeyPath<TrainConfig, Bool>, to value: Bool = true) {
        guard present else { return }
        config[keyPath: key] = value
        given.insert(flag)
    }

    /// A path setting; `absolute` makes it independent of the working directory, for settings a
    /// checkpoint records and a resume may read from elsewhere.
    mutating func set(_ flag: String, path: String?, _ key: WritableKeyPath<TrainConfig, String?>, absolute: Bool = false) {
        guard let path else { return }
        config[keyPath: key] = absolute ? URL(fileURLWithPath: path).standardizedFileURL.path : path
        given.insert(flag)
    }
}
