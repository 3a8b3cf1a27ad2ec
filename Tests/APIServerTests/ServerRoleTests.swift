import DevServices
import Foundation
import JobStore
import XCTest

/// The server needs no more than the `ternflux_worker` role (SELECT, INSERT, UPDATE on the tables, SELECT on
/// the views): submit, read, image and cancel all work for a login that is only a member of it.
final class ServerRoleTests: XCTestCase {
    func testTheWorkerRoleIsEnough() throws {
        let postgres = try TemporaryPostgres.shared()
        let harness = try APIHarness(start: false)
        let database = try XCTUnwrap(harness.conninfo.split(separator: " ").first { $0.hasPrefix("dbname=") }?.dropFirst("dbname=".count))
        let login = "api_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12)
        let admin = try PostgresConnection(conninfo: postgres.conninfo())
        try admin.execute("CREATE ROLE \(login) LOGIN IN ROLE ternflux_worker")
        defer { admin.close() }
        harness.configuration.database = DatabaseSettings(conninfo: postgres.conninfo(database: String(database), user: login))
        try harness.startServer()
        defer {
            // Roles are cluster-wide: drop this one once the server has closed its sessions.
            harness.stopServer()
            _ = try? admin.execute("DROP ROLE \(login)")
        }
        let client = harness.client
        let submitted = try client.post("/v1/batches", text: "{\"prompt\": \"as the worker role\"}", contentType: "application/x-ndjson")
        XCTAssertEqual(submitted.status, 201, submitted.description)
        let id = try XCTUnwrap(submitted.object["batch_id"] as? String)
        XCTAssertEqual(try client.get("/v1/batches").status, 200)
        XCTAssertEqual(try client.get("/v1/batches/\(id)").status, 200)
        let jobs = try client.get("/v1/batches/\(id)/jobs")
        XCTAssertEqual(jobs.status, 200)
        let job = try XCTUnwrap(((jobs.object["jobs"] as? [[String: Any]])?.first)?["job_id"] as? String)
        XCTAssertEqual(try client.get("/v1/jobs/\(job)").status, 200)
        let image = try client.get("/v1/jobs/\(job)/image")
        XCTAssertEqual(image.status, 404, "queued: no image yet, and the lookup is allowed: \(image)")
        let canceled = try client.post("/v1/batches/\(id)/cancel")
        XCTAssertEqual(canceled.status, 200, canceled.description)
        XCTAssertEqual(canceled.object["canceled"] as? Int, 1)
        XCTAssertEqual(try client.get("/healthz").status, 200)
        // And the role is really all it has: it may not create a table.
        let own = try PostgresConnection(conninfo: postgres.conninfo(database: String(database), user: login))
        defer { own.close() }
        XCTAssertThrowsError(try own.execute("CREATE TABLE not_allowed (x int)"))
    }
}
