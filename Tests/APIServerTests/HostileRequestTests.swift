import Foundation
import XCTest

/// The hostile pass over the HTTP API (docs/security.md, "Hostile-input review"): requests a careless or
/// malicious client sends get a JSON error naming what is wrong, never a 500, and the server keeps serving.
final class HostileRequestTests: XCTestCase {
    var harness: APIHarness!

    override func setUpWithError() throws { harness = try APIHarness() }
    override func tearDown() { harness = nil }

    func assertJSONError(_ r: TestHTTPClient.Response, _ statuses: Set<Int>, naming: String? = nil,
                         file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(statuses.contains(r.status), "\(r)", file: file, line: line)
        XCTAssertFalse(r.errorMessage.isEmpty, "not a JSON error: \(r)", file: file, line: line)
        if let naming { XCTAssertTrue(r.errorMessage.contains(naming) || r.text.contains(naming), "\(r)", file: file, line: line) }
    }

    func testPathsQueriesAndHeadersThatAreWrongOnPurpose() throws {
        let c = harness.client
        assertJSONError(try c.get("/v1/jobs/..%2F..%2Fetc%2Fpasswd/image"), [400, 404])
        assertJSONError(try c.get("/v1/jobs/%00/image"), [400, 404])
        assertJSONError(try c.get("/v1/batches/" + String(repeating: "a", count: 8_000)), [400, 404, 414])
        assertJSONError(try c.get("/v1/batches?limit=99999999999999999999999"), [400], naming: "limit")
        assertJSONError(try c.get("/v1/batches?limit=-1"), [400], naming: "limit")
        assertJSONError(try c.get("/v1/batches?limit=1&limit=2"), [400], naming: "limit")
        assertJSONError(try c.get("/v1/batches/\(UUID().uuidString)/jobs?offset=1e3"), [400, 404])
        assertJSONError(try c.post("/v1/batches", text: "a red circle\n", contentType: "application/json; charset=iso-8859-1"), [415, 422])
        assertJSONError(try c.post("/v1/batches", body: Data([0xFF, 0xFE, 0x00]), contentType: "text/plain"), [415, 422])
        assertJSONError(try c.post("/v1/batches", text: String(repeating: "[", count: 100_000), contentType: "application/json"), [422])
        assertJSONError(try c.post("/v1/batches", text: #"{"webhook_url": "javascript:alert(1)", "jobs": [{"prompt": "x"}]}"#,
                                   contentType: "application/json"), [422], naming: "webhook_url")
        // Still serving.
        XCTAssertEqual(try c.get("/healthz").status, 200)
    }
}
