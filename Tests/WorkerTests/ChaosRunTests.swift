import Foundation
import JobModel
import XCTest

/// The chaos run's small variant (`ops/chaos/run --small`): 200 jobs, 3 worker processes, one SIGKILL, one
/// PostgreSQL restart, one broker outage and every kind of poison record, then the full accounting. The
/// script starts its own PostgreSQL and broker; it uses the `ternflux` binary this test build made.
final class ChaosRunTests: XCTestCase {
    func testSmallChaosRunAccountsForEveryJob() throws {
        let script = PipelineHarness.packageRoot.appendingPathComponent("ops/chaos/run")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [script.path, "--small", "--seed", "7", "--bin", PipelineHarness.binary.path]
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("ternflux-chaos-small-\(UUID().uuidString.prefix(8)).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: log) }
        let handle = try FileHandle(forWritingTo: log)
        p.standardOutput = handle
        p.standardError = handle
        try p.run()
        let deadline = Date().addingTimeInterval(180)
        while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.5) }
        if p.isRunning {
            // The script's EXIT trap stops what it started.
            p.terminate()
            p.waitUntilExit()
        }
        try handle.close()
        let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        XCTAssertEqual(p.terminationStatus, 0, "ops/chaos/run --small failed:\n\(output)")
        XCTAssertTrue(output.contains("RESULT: ok"), output)
        XCTAssertTrue(output.contains("SIGKILLs                     1"), output)
        XCTAssertTrue(output.contains("PostgreSQL restarts          1"), output)
        XCTAssertTrue(output.contains("broker outages               1"), output)
    }
}
