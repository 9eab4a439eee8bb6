import AllReduce
import XCTest

/// Reading mpirun's placement from Open MPI's environment (no MPI involved).
final class MPILaunchEnvironmentTests: XCTestCase {
    func testOpenMPIVariablesGiveRankSizeAndNodePlacement() {
        let launch = MPILaunchEnvironment.from([
            "OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_RANK": "3",
            "OMPI_COMM_WORLD_LOCAL_RANK": "1", "OMPI_COMM_WORLD_LOCAL_SIZE": "2",
        ])
        XCTAssertEqual(launch, MPILaunchEnvironment(rank: 3, size: 4, localRank: 1, localSize: 2))
    }

    func testAPlainProcessIsNotALaunch() {
        XCTAssertNil(MPILaunchEnvironment.from(["PATH": "/usr/bin"]))
        XCTAssertNil(MPILaunchEnvironment.from(["OMPI_COMM_WORLD_SIZE": "two", "OMPI_COMM_WORLD_RANK": "0"]))
    }
}
