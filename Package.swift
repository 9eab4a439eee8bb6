// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "ddp",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "ddp", targets: ["ddp"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // MARK: System libraries (thin shims only; no logic)
        .systemLibrary(
            name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c",
            providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        .systemLibrary(
            name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(
            name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(
            name: "CPNG", path: "Sources/CPNG", pkgConfig: "libpng",
            providers: [.apt(["libpng-dev"])]),
        .systemLibrary(
            name: "CTurboJPEG", path: "Sources/CTurboJPEG", pkgConfig: "libturbojpeg",
            providers: [.apt(["libturbojpeg0-dev"])]),

        // CPU and BLAS policy at process start: the OpenBLAS kernel check and correction, threads,
        // the monotonic clock.
        .target(name: "Platform", dependencies: ["CBLAS"]),

        // Hand-vectorized kernels (AVX-512, chosen at run time) that only Tensor calls.
        .target(name: "CKernels", path: "Sources/CKernels"),

        // MARK: Library modules (dependency arrows point one way)
        .target(name: "Tensor", dependencies: ["Platform", "CBLAS", "CKernels"]),
        // File formats and durable I/O (safetensors, the packed data file, JSON lines, text
        // tables): Foundation, and zlib for the packed file's CRC-32.
        .target(name: "Formats", dependencies: ["CZlib"]),
        .target(name: "Layers", dependencies: ["Platform", "Tensor", "Formats"]),
        .target(name: "AllReduce", dependencies: ["Platform", "CMPI"]),
        .target(name: "Data", dependencies: ["Tensor", "Platform", "Formats", "CZlib", "CPNG", "CTurboJPEG"]),
        .target(name: "Training", dependencies: ["Layers", "Data", "AllReduce", "Tensor", "Platform", "Plot", "Formats"]),
        // Charts of training runs (SVG) and their reading: Foundation only.
        .target(name: "Plot", dependencies: ["Formats"]),

        // Benchmarks, self-tests and studies (what `ddp bench` runs), apart from the product.
        .target(name: "Bench", dependencies: ["Training", "Layers", "Data", "AllReduce", "Tensor", "Platform", "Formats"]),

        // MARK: Command line
        .executableTarget(
            name: "ddp",
            dependencies: ["Training", "Bench", "Plot", "Formats", .product(name: "ArgumentParser", package: "swift-argument-parser")]),

        // MARK: Tests (one target per module)
        // Counts heap calls by replacing malloc & co. in the test binary (never linked into ddp).
        .target(name: "CAllocationCounter", path: "Tests/CAllocationCounter"),
        // IDX files written from the format's definition, for the tests that make data sets.
        .target(name: "IDXFiles", path: "Tests/IDXFiles"),
        // 8-bit gray PNGs written from the format's definition, for the targets without zlib.
        .target(name: "PNGFiles", path: "Tests/PNGFiles"),
        // .npy and .npz files (zip written here, deflated by zlib) from the formats' definitions.
        .target(name: "NumpyFiles", dependencies: ["CZlib"], path: "Tests/NumpyFiles"),
        .testTarget(name: "PlatformTests", dependencies: ["Platform", "Tensor"]),
        .testTarget(name: "TensorTests", dependencies: ["Tensor", "Platform"]),
        .testTarget(name: "LayersTests", dependencies: ["Layers", "CAllocationCounter"], resources: [.copy("Fixtures")]),
        .testTarget(name: "AllReduceTests", dependencies: ["AllReduce", "CAllocationCounter"]),
        .testTarget(name: "DataTests", dependencies: ["Data", "IDXFiles", "NumpyFiles", "CZlib", "CTurboJPEG"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "PNGFiles"]),
        .testTarget(name: "PlotTests", dependencies: ["Plot", "Tensor"]),
        .testTarget(name: "BenchTests", dependencies: ["Bench"]),
        .testTarget(name: "FormatsTests", dependencies: ["Formats", "Tensor"], resources: [.copy("Fixtures")]),
        .testTarget(name: "ddpTests", dependencies: ["ddp", "IDXFiles", "PNGFiles"]),
    ],
    swiftLanguageModes: [.v5]
)

