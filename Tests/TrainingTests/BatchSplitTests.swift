import XCTest
@testable import Training

/// `BatchSplit.derive` against the table in its comment.
final class BatchSplitTests: XCTestCase {
    private func derive(_ global: Int, ranks: Int, batch: Int? = nil, accumulate: Int? = nil,
                        recorded: (Int, Int)) -> BatchSplit? {
        BatchSplit.derive(global: global, ranks: ranks, batchSize: batch, accumulate: accumulate,
                          recorded: BatchSplit(batchSize: recorded.0, accumulate: recorded.1))
    }

    func testTheSplitKeepsTheGlobalBatch() {
        // 4 ranks x 64 resumed on 2: 2 x 128, or 2 x 64 x 2 when --batch-size 64 is given.
        XCTAssertEqual(derive(256, ranks: 2, recorded: (64, 1)), BatchSplit(batchSize: 128, accumulate: 1))
        XCTAssertEqual(derive(256, ranks: 2, batch: 64, recorded: (64, 1)), BatchSplit(batchSize: 64, accumulate: 2))
        XCTAssertEqual(derive(256, ranks: 8, recorded: (64, 1)), BatchSplit(batchSize: 32, accumulate: 1))
        XCTAssertEqual(derive(256, ranks: 1, accumulate: 8, recorded: (64, 1)), BatchSplit(batchSize: 32, accumulate: 8))
        // The recorded accumulation is kept when it divides ...
        XCTAssertEqual(derive(512, ranks: 2, recorded: (64, 2)), BatchSplit(batchSize: 128, accumulate: 2))
        // ... else the fewest micro-batches no larger than the recorded one: 2 x 3 x 2 = 12 on 4
        // ranks is 4 x 3 x 1; 1 x 1 x 6 on 2 ranks is 2 x 1 x 3.
        XCTAssertEqual(derive(12, ranks: 4, recorded: (3, 2)), BatchSplit(batchSize: 3, accumulate: 1))
        XCTAssertEqual(derive(6, ranks: 2, recorded: (1, 6)), BatchSplit(batchSize: 1, accumulate: 3))
        // Both given: as given, whatever global batch they make (the caller decides).
        XCTAssertEqual(derive(256, ranks: 2, batch: 8, accumulate: 3, recorded: (64, 1)), BatchSplit(batchSize: 8, accumulate: 3))
    }

    func testNoWholeSplitIsNil() {
        XCTAssertNil(derive(256, ranks: 3, recorded: (64, 1)))
        XCTAssertNil(derive(256, ranks: 2, batch: 48, recorded: (64, 1)))
        XCTAssertNil(derive(256, ranks: 2, batch: 256, recorded: (64, 1)), "N would be 1/2")
        XCTAssertNil(derive(256, ranks: 2, accumulate: 3, recorded: (64, 1)))
        XCTAssertNil(derive(256, ranks: 512, recorded: (64, 1)), "fewer samples than ranks")
        XCTAssertNil(derive(256, ranks: 2, batch: 0, recorded: (64, 1)))
        XCTAssertNil(derive(256, ranks: 2, accumulate: Int.max, recorded: (64, 1)))
    }
}
