import Data
import Layers

/// The names the command line offers and explains: model presets, the spec syntax, data sets.
public enum ModelCatalog {
    public static var presetNames: [String] { ModelSpec.presetNames }
    /// The model-spec syntax, as `--help` shows it.
    public static var specHelp: String { ModelSpec.help }
    public static var datasetNames: [String] { DatasetLoader.names }
}

/// `--image-size HxW`, as the command line names it.
public typealias ImageSize = Data.ImageSize

extension ModelCatalog {
    /// The data set a file or directory holds, judged by its contents (`ddp pack`).
    public static func detectDataset(_ path: String) -> String { DatasetLoader.detect(path) }
}

/// How a data set of the user's own files is read, as the command line gives it.
public typealias SourceOptions = Data.SourceOptions

/// `--layout`: the axis order of 4-D NumPy images.
public typealias ImageLayout = Data.ImageLayout
