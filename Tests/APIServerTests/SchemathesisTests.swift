@testable import APIServer
import Foundation
import XCTest

/// schemathesis (ops/web/requirements.txt) against /openapi.json on a live server with tokens and a finished
/// batch holding images: every check (no 5xx, statuses, content types, headers and bodies as documented,
/// invalid input refused, valid input accepted, auth enforced, 405 for undocumented methods), 25 examples
/// per operation plus its coverage and stateful phases, with the settings of ops/web/schemathesis.toml.
final class SchemathesisTests: XCTestCase {
    func testTheServerMatchesItsOpenAPIDocument() throws {
        let python = try APIHarness.requireWebPython()
        let token = "schemathesis-submit-token-0123456789"
        let harness = try APIHarness { $0.tokens = try! APITokens.parse("\(token) submit", source: "test") }
        _ = try harness.finishedBatchWithAFailure(token: token)
        let root = APIHarness.packageRoot.path
        // schemathesis keeps a crash cache in its working directory: a temporary one, not the checkout.
        let scratch = harness.output.appendingPathComponent("schemathesis")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        let started = Date()
        let run = try APIHarness.run(python, [
            "-m", "schemathesis.cli", "--no-color", "--config-file", root + "/ops/web/schemathesis.toml",
            "run", harness.baseURL + "openapi.json", "--checks", "all", "--max-examples", "25", "--seed", "20261203",
            "--generation-database", "none", "--workers", "1", "--request-timeout", "30",
            "--header", "Authorization: Bearer \(token)",
        ], timeout: 420, directory: scratch)
        let seconds = Date().timeIntervalSince(started)
        XCTAssertEqual(run.status, 0, "schemathesis failed after \(Int(seconds)) s:\n\(run.output.suffix(12_000))")
        XCTAssertTrue(run.output.contains("passed"), run.output.suffix(2_000).description)
        print(run.output.split(separator: "\n").suffix(22).joined(separator: "\n"))
    }
}
