import AllReduce
import Data
import Foundation
import Training

extension TrainConfig {
    /// A run small enough for a unit test: 128 synthetic 8x8 images of 3 classes, a
    /// flatten-fc32-relu-fc model, batches of 8.
    static func tiny() -> TrainConfig {
        var config = TrainConfig()
        config.dataset = "synthetic"
        config.synthetic = SyntheticDataset.Options(trainCount: 128, testCount: 16, channels: 1, height: 8, width: 8,
                                                    classes: 3, seed: 1)
        config.model = "flatten-fc32-relu-fc"
        config.batchSize = 8
        return config
    }
}

/// `body` on every one of `size` ranks run as threads of this process; rank 0's result.
func rankZeroResult<T>(ranks size: Int, _ body: @escaping (any Communicator) throws -> T) throws -> T? {
    let lock = NSLock()
    var result: T?
    try InProcessWorld.run(size: size) { comm in
        let r = try body(comm)
        if comm.rank == 0 { lock.withLock { result = r } }
    }
    return result
}
