import Foundation
import XCTest

/// `ternflux serve` as a process: port 0 picks a free port and prints the gallery URL, the server answers,
/// and SIGTERM stops it cleanly (exit 0).
final class ServeCommandTests: XCTestCase {
    func testServeStartsOnAFreePortAndStopsOnSIGTERM() throws {
        let harness = try APIHarness(start: false)
        let process = Process()
        process.executableURL = APIHarness.ternflux
        process.arguments = ["serve", "--port", "0", "--output", harness.output.path, "--database-url", harness.conninfo,
                             "--brokers", harness.broker.bootstrapServers, "--log-level", "warning"]
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() } }
        // The first line of stdout: "ternflux serve: gallery and API at http://127.0.0.1:PORT/ (no authentication)".
        var line = Data()
        while !line.contains(0x0A) {
            let chunk = stdout.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line += chunk
        }
        let text = String(decoding: line, as: UTF8.self)
        let match = try XCTUnwrap(text.range(of: #"http://127\.0\.0\.1:[0-9]+/"#, options: .regularExpression), text)
        let url = String(text[match])
        XCTAssertTrue(text.contains("(no authentication)"), text)
        let port = try XCTUnwrap(Int(url.split(separator: ":").last!.dropLast()))
        XCTAssertNotEqual(port, 8080)
        let health = try TestHTTPClient(port: port).get("/healthz")
        XCTAssertEqual(health.status, 200)
        XCTAssertEqual(try TestHTTPClient(port: port).get("/v1/batches").status, 200)
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
    }
}
