import DevServices
import Foundation
import JobStore
import XCTest

/// PostgreSQL going away: requests are answered 503 with the JSON error (never a hang or a 500), pooled
/// connections that died are replaced on the next request, and Kafka refusing a stored batch is a 503
/// that names the batch and how to finish it, which a resubmit with the same batch_key does.
final class OutageTests: XCTestCase {
    func testPostgresRestartAndOutage() throws {
        // A server of its own: the shared one must stay up for the other tests.
        let postgres = try TemporaryPostgres()
        defer { postgres.stop() }
        let admin = try PostgresConnection(conninfo: postgres.conninfo())
        try admin.execute("CREATE DATABASE outage")
        admin.close()
        let conninfo = postgres.conninfo(database: "outage")
        let migrate = try PostgresConnection(conninfo: conninfo)
        try MigrationRunner(connection: migrate).up()
        migrate.close()
        let harness = try APIHarness { $0.database = DatabaseSettings(conninfo: conninfo) }

        // Fill the pool: every read thread has a connection afterwards.
        for _ in 0..<8 { XCTAssertEqual(try harness.client.get("/v1/batches").status, 200) }
        try postgres.restart()
        // Every pooled connection died with the restart; each request still succeeds, on a new one.
        for _ in 0..<8 {
            let response = try harness.client.get("/v1/batches")
            XCTAssertEqual(response.status, 200, "after a restart: \(response)")
        }
        XCTAssertEqual(try harness.client.get("/healthz").status, 200)

        postgres.stop()
        let started = Date()
        for path in ["/healthz", "/v1/batches", "/v1/batches/\(UUID().uuidString)"] {
            let response = try harness.client.get(path)
            XCTAssertEqual(response.status, 503, "\(path) with PostgreSQL down: \(response)")
            XCTAssertEqual(response.headers["content-type"], "application/json")
            XCTAssertTrue(response.errorMessage.hasPrefix("the job database is unavailable"), response.description)
        }
        let submit = try harness.client.post("/v1/batches", text: "a prompt", contentType: "text/plain")
        XCTAssertEqual(submit.status, 503, submit.description)
        XCTAssertLessThan(Date().timeIntervalSince(started), 20, "answered promptly, not after a hang")
    }

    func testNoDatabaseAtAllIs503() throws {
        let harness = try APIHarness { $0.database = DatabaseSettings(conninfo: "host=/nonexistent/socket-dir dbname=none") }
        let health = try harness.client.get("/healthz")
        XCTAssertEqual(health.status, 503)
        XCTAssertTrue(health.errorMessage.contains("cannot connect to PostgreSQL"), health.description)
        XCTAssertEqual(try harness.client.get("/v1/jobs/\(UUID().uuidString)").status, 503)
        XCTAssertEqual(try harness.client.get("/v1/batches/nope").status, 400, "a malformed id is still the client's error")
    }

    func testKafkaDownAfterTheInsertNamesTheBatchAndTheKeyFinishesIt() throws {
        // Delivery reports come within message.timeout.ms: keep the wait short.
        let harness = try APIHarness { $0.kafka.properties["message.timeout.ms"] = "1500" }
        try harness.broker.setDown()
        let body = "{\"prompt\": \"stored first\"}\n{\"prompt\": \"then produced\"}\n"
        let failed = try harness.client.post("/v1/batches?batch_key=retry-me", text: body, contentType: "application/x-ndjson")
        XCTAssertEqual(failed.status, 503, failed.description)
        let error = try XCTUnwrap(failed.object["error"] as? [String: Any])
        let batchText = try XCTUnwrap(error["batch_id"] as? String)
        let batch = try XCTUnwrap(UUID(uuidString: batchText))
        XCTAssertTrue(failed.errorMessage.contains("is stored in PostgreSQL but not all of its jobs reached Kafka"), failed.description)
        XCTAssertTrue((error["hint"] as? String ?? "").contains("ternflux requeue --batch \(batchText) --older-than 0"), failed.description)
        XCTAssertEqual(try harness.repository.batchProgress(batch)?.queued, 2, "the batch is stored")
        XCTAssertTrue(try harness.repository.queuedButNotEnqueued(batchID: batch, olderThan: 0).count == 2, "and not enqueued")

        try harness.broker.setUp()
        let resumed = try harness.client.post("/v1/batches?batch_key=retry-me", text: body, contentType: "application/x-ndjson")
        XCTAssertEqual(resumed.status, 200, resumed.description)
        XCTAssertEqual(resumed.object["batch_id"] as? String, batchText)
        XCTAssertEqual(resumed.object["produced"] as? Int, 2, "the jobs that had not reached Kafka are produced now")
        XCTAssertEqual(try harness.repository.queuedButNotEnqueued(batchID: batch, olderThan: 0).count, 0)
        XCTAssertEqual(try harness.repository.recentBatches().count, 1, "no second batch")
    }
}
