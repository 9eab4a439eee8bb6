import ArgumentParser
import Foundation
import Training

struct PackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pack",
        abstract: "Decode a data set once into one packed file that every rank maps (--dataset packed --data FILE).",
        discussion: """
            SOURCE is a folder of images (SOURCE/train/<class>/* and SOURCE/test/<class>/*, or one \
            tree of class folders split by --val-fraction), NumPy arrays (a directory of \
            {train,test}_{images,labels}.npy or an .npz), an IDX directory (MNIST, Fashion-MNIST) \
            or CIFAR-10's binary batches; --dataset names it when the guess from its contents is \
            wrong. The file holds the images as bytes, the labels, the class names, the training \
            set's normalization and a CRC-32; it is written atomically (nothing half-written is left).
            """)

    @Argument(help: "The data set's directory or file.") var source: String
    @Option(name: [.customShort("o"), .customLong("output")], help: "The packed file to write.") var output: String
    @Option(help: "What SOURCE holds: \(ModelCatalog.datasetNames.joined(separator: ", ")) (default: judged from its contents).")
    var dataset: String?
    @Option(help: "Resize every image to cover HxW and crop the centre (default: all images the same size).") var imageSize: ImageSize?
    @Option(parsing: .unconditional, help: "Without train/ and test/: this fraction of each class, drawn with --seed, is the test set.")
    var valFraction: Double = 0
    @Option(parsing: .unconditional, help: "Seed of the --val-fraction split (default 0).") var seed: UInt64 = 0
    @Flag(help: "Skip image files that cannot be decoded (listed in the summary) instead of stopping at the first.") var skipBad = false
    @Option(help: "NumPy arrays: the axis order of 4-D images, nchw, nhwc or auto (read from the shape).") var layout: ImageLayout = .auto
    @Flag(help: "Print one JSON object instead of the summary.") var json = false

    func validate() throws {
        if let dataset, let p = KnownName.datasetProblem(dataset) { throw ValidationError(p) }
        if !(valFraction >= 0 && valFraction < 1) { throw ValidationError("--val-fraction must be in [0, 1) (got \(valFraction))") }
    }

    func run() throws {
        let name = dataset ?? ModelCatalog.detectDataset(source)
        let interactive = isatty(STDERR_FILENO) != 0
        let progress: @Sendable (Int, Int) -> Void = { done, total in
            guard interactive, done == total || done % 1000 == 0 else { return }
            FileHandle.standardError.write(Data("\rddp pack: decoded \(done) of \(total) images\(done == total ? "\n" : "")".utf8))
        }
        let summary = try DataPacking.pack(dataset: name, dataDir: source,
                                           options: .init(imageSize: imageSize, valFraction: valFraction, seed: seed, skipBad: skipBad, layout: layout),
                                           output: output, progress: progress)
        print(json ? summary.json : summary.text)
    }
}
