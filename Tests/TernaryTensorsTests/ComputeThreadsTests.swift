import Foundation
import TernaryTensors
import XCTest

/// TERNFLUX_THREADS: the values it accepts, the ones it refuses, and the cap it puts on this process.
final class ComputeThreadsTests: XCTestCase {
    func testAcceptedAndRefusedValues() throws {
        XCTAssertNil(try ComputeThreads.cap(from: nil))
        XCTAssertNil(try ComputeThreads.cap(from: ""))
        XCTAssertEqual(try ComputeThreads.cap(from: "1"), 1)
        XCTAssertEqual(try ComputeThreads.cap(from: "4096"), 4096)
        for bad in ["0", "-1", "abc", "1.5", " 2", "4097", "99999999999999999999"] {
            XCTAssertThrowsError(try ComputeThreads.cap(from: bad), bad) { error in
                XCTAssertTrue("\(error)".contains("TERNFLUX_THREADS='\(bad)'"), "\(error)")
            }
        }
    }

    func testCountIsWithinTheUsableCores() {
        XCTAssertGreaterThanOrEqual(ComputeThreads.count, 1)
        XCTAssertLessThanOrEqual(ComputeThreads.count, ProcessInfo.processInfo.activeProcessorCount)
        if let cap = try? ComputeThreads.cap(from: ProcessInfo.processInfo.environment["TERNFLUX_THREADS"]) {
            XCTAssertLessThanOrEqual(ComputeThreads.count, cap)
        }
    }

    /// The command line refuses a bad value before any command runs (exit 64, the variable named), and a good
    /// one runs a real generation with one thread.
    func testTheCommandChecksTheVariable() throws {
        let root = TernfluxCommand.root
        func run(_ value: String, _ arguments: [String]) throws -> (Int32, String) {
            try TernfluxCommand.run(arguments, environment: ["TERNFLUX_THREADS": value])
        }
        let (bad, message) = try run("two", ["--version"])
        XCTAssertEqual(bad, 64)
        XCTAssertTrue(message.contains("TERNFLUX_THREADS='two'"), message)
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("threads-\(UUID().uuidString).png")
        defer { try? FileManager.default.removeItem(at: out) }
        let (ok, log) = try run("1", ["generate", "a red circle", "--model", root.appendingPathComponent("models/default").path,
                                      "--out", out.path])
        XCTAssertEqual(ok, 0, log)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out.path))
    }
}
