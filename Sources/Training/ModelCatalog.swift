import Data
import Layers

/// The names the command line offers and explains: model presets, the spec syntax, data sets.
public enum ModelCatalog {
    public static var presetNames: [String] { ModelSpec.presetNames }
    /// The model-spec syntax, as `--help` shows it.
    public static var specHelp: String { ModelSpec.help }
    public static var datasetNames: [String] { DatasetLoader.names }
}
