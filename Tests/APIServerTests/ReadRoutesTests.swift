import Foundation
import JobModel
import JobStore
import XCTest

/// The read routes and cancel, over a batch real workers finished: progress (the very document
/// `ternflux status BATCH --json` prints), lists, one job, its image; 400/404/405 for what does not fit.
final class ReadRoutesTests: XCTestCase {
    // One server and one finished batch for the whole class (workers take seconds to join their group); the
    // tests that change anything do it to batches of their own.
    static var shared: (harness: APIHarness, batch: UUID)?
    var harness: APIHarness { Self.shared!.harness }
    var batch: UUID { Self.shared!.batch }

    override func setUpWithError() throws {
        if Self.shared == nil {
            let harness = try APIHarness()
            Self.shared = (harness, try harness.finishedBatchWithAFailure())
        }
    }

    override class func tearDown() { shared = nil }

    var batchPath: String { "/v1/batches/\(batch.uuidString.lowercased())" }

    func testProgressIsTheStatusJSONDocument() throws {
        let response = try harness.client.get(batchPath)
        XCTAssertEqual(response.status, 200, response.description)
        XCTAssertEqual(response.headers["content-type"], "application/json")
        let cli = try APIHarness.run(APIHarness.ternflux, ["status", batch.uuidString.lowercased(), "--json", "--database-url", harness.conninfo])
        XCTAssertEqual(cli.status, 0, cli.output)
        let printed = try JSONSerialization.jsonObject(with: Data(cli.output.utf8)) as? NSDictionary
        XCTAssertEqual(response.json as? NSDictionary, printed, "API: \(response.text)\nstatus --json: \(cli.output)")
        XCTAssertEqual(response.object["succeeded"] as? Int, 3)
        XCTAssertEqual(response.object["failed"] as? Int, 1)
        XCTAssertEqual(response.object["finished"] as? Bool, true)
    }

    func testBatchListIsNewestFirstAndBounded() throws {
        let second = try harness.submit("{\"prompt\": \"a later batch\"}")
        let list = try harness.client.get("/v1/batches")
        XCTAssertEqual(list.status, 200, list.description)
        let ids = (list.object["batches"] as? [[String: Any]] ?? []).compactMap { $0["batch_id"] as? String }
        XCTAssertEqual(ids.first, second.uuidString.lowercased(), "newest first")
        XCTAssertEqual(ids.last, batch.uuidString.lowercased(), "the first batch of this server last")
        XCTAssertEqual(ids.count, try harness.repository.recentBatches(limit: 200).count)
        let one = try harness.client.get("/v1/batches?limit=1")
        XCTAssertEqual((one.object["batches"] as? [Any])?.count, 1)
        for bad in ["limit=0", "limit=201", "limit=ten", "limit=1.5", "order=asc"] {
            let response = try harness.client.get("/v1/batches?" + bad)
            XCTAssertEqual(response.status, 400, "\(bad): \(response)")
            XCTAssertTrue(response.errorMessage.contains(bad.split(separator: "=")[0]), "\(bad): the message names the parameter: \(response)")
        }
    }

    func testBatchJobsInLineOrderWithFiltersAndPages() throws {
        let all = try harness.client.get(batchPath + "/jobs")
        XCTAssertEqual(all.status, 200, all.description)
        let jobs = all.object["jobs"] as? [[String: Any]] ?? []
        XCTAssertEqual(jobs.map { $0["line"] as? Int }, [1, 2, 2, 3])
        XCTAssertEqual(jobs.map { $0["seed"] as? Int }.prefix(3), [11, 20, 21])
        XCTAssertEqual(jobs.map { $0["state"] as? String }, ["succeeded", "succeeded", "succeeded", "failed"])
        XCTAssertEqual(jobs[0]["width"] as? Int, 128, "the worker's model defaults, written by its claim")
        XCTAssertNotNil(jobs[0]["total_ms"])
        XCTAssertEqual(all.object["limit"] as? Int, 100)
        let failed = try harness.client.get(batchPath + "/jobs?state=failed")
        XCTAssertEqual((failed.object["jobs"] as? [[String: Any]])?.map { $0["line"] as? Int }, [3])
        XCTAssertEqual(failed.object["state"] as? String, "failed")
        let page = try harness.client.get(batchPath + "/jobs?limit=2&offset=1")
        XCTAssertEqual((page.object["jobs"] as? [[String: Any]])?.map { $0["seed"] as? Int }, [20, 21])
        for bad in ["state=done", "limit=0", "limit=501", "offset=-1", "offset=x"] {
            let response = try harness.client.get(batchPath + "/jobs?" + bad)
            XCTAssertEqual(response.status, 400, "\(bad): \(response)")
            XCTAssertTrue(response.errorMessage.contains(String(bad.split(separator: "=")[0])), response.description)
        }
    }

    func testOneJobWithItsErrorsAndTimings() throws {
        let entries = try harness.repository.batchJobs(batch)
        let succeeded = try XCTUnwrap(entries.first { $0.state == .succeeded })
        let ok = try harness.client.get("/v1/jobs/\(succeeded.jobID.uuidString.lowercased())")
        XCTAssertEqual(ok.status, 200, ok.description)
        XCTAssertEqual(ok.object["prompt"] as? String, "a red circle")
        XCTAssertEqual(ok.object["max_attempts"] as? Int, 3)
        XCTAssertEqual((ok.object["errors"] as? [Any])?.count, 0)
        let timings = try XCTUnwrap(ok.object["timings"] as? [String: Any])
        XCTAssertEqual(timings["worker_id"] as? String, "api-test-worker")
        XCTAssertNotNil(timings["total_ms"] as? Double)
        let failedEntry = try XCTUnwrap(entries.first { $0.state == .failed })
        let failed = try harness.client.get("/v1/jobs/\(failedEntry.jobID.uuidString.lowercased())")
        XCTAssertEqual(failed.status, 200)
        let errors = failed.object["errors"] as? [[String: Any]] ?? []
        XCTAssertEqual(errors.count, 1)
        XCTAssertTrue((errors.first?["message"] as? String ?? "").contains("unknown model 'nope'"), failed.description)
        XCTAssertEqual(errors.first?["terminal"] as? Bool, true)
        XCTAssertTrue(failed.object["timings"] is NSNull, "no timings before a success: \(failed)")
    }

    func testImageIsTheFileTheWorkerWrote() throws {
        let job = try XCTUnwrap(harness.repository.batchJobs(batch).first { $0.state == .succeeded })
        let response = try harness.client.get("/v1/jobs/\(job.jobID.uuidString.lowercased())/image")
        XCTAssertEqual(response.status, 200, response.description)
        XCTAssertEqual(response.headers["content-type"], "image/png")
        let onDisk = try Data(contentsOf: harness.output.appendingPathComponent("\(batch.uuidString.lowercased())/\(job.jobID.uuidString.lowercased()).png"))
        XCTAssertEqual(response.body, onDisk)
        XCTAssertEqual(Array(response.body.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        XCTAssertEqual(response.headers["etag"], "\"\(job.sha256 ?? "")\"")
        let failed = try XCTUnwrap(harness.repository.batchJobs(batch).first { $0.state == .failed })
        let none = try harness.client.get("/v1/jobs/\(failed.jobID.uuidString.lowercased())/image")
        XCTAssertEqual(none.status, 404)
        XCTAssertEqual(none.errorMessage, "job \(failed.jobID.uuidString.lowercased()) has no image: it is failed")
    }

    func testCancelAnswersTheNewProgress() throws {
        let queued = try harness.submit("{\"prompt\": \"never run\"}\n{\"prompt\": \"nor this\"}")
        let response = try harness.client.post("/v1/batches/\(queued.uuidString.lowercased())/cancel")
        XCTAssertEqual(response.status, 200, response.description)
        XCTAssertEqual(response.object["canceled"] as? Int, 2)
        XCTAssertEqual(response.object["finished"] as? Bool, true)
        XCTAssertNotNil(response.object["canceled_at"])
        XCTAssertEqual(try harness.repository.batchProgress(queued)?.canceled, 2)
        let again = try harness.client.post("/v1/batches/\(queued.uuidString.lowercased())/cancel")
        XCTAssertEqual(again.status, 200)
        XCTAssertEqual(again.object["canceled_at"] as? String, response.object["canceled_at"] as? String, "canceling twice changes nothing")
        let finished = try harness.client.post(batchPath + "/cancel")
        XCTAssertEqual(finished.object["succeeded"] as? Int, 3, "finished jobs stay as they were")
    }

    func testUnknownIDsAre404AndMalformedOnes400() throws {
        let unknown = UUID().uuidString.lowercased()
        for path in ["/v1/batches/\(unknown)", "/v1/batches/\(unknown)/jobs"] {
            let response = try harness.client.get(path)
            XCTAssertEqual(response.status, 404, path)
            XCTAssertEqual(response.errorMessage, "no batch \(unknown)")
        }
        XCTAssertEqual(try harness.client.post("/v1/batches/\(unknown)/cancel").status, 404)
        for path in ["/v1/jobs/\(unknown)", "/v1/jobs/\(unknown)/image"] {
            let response = try harness.client.get(path)
            XCTAssertEqual(response.status, 404, path)
            XCTAssertEqual(response.errorMessage, "no job \(unknown)")
        }
        for (path, parameter) in [("/v1/batches/not-a-uuid", "batch_id"), ("/v1/batches/123/jobs", "batch_id"),
                                  ("/v1/jobs/zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz", "job_id"), ("/v1/jobs/1/image", "job_id")] {
            let response = try harness.client.get(path)
            XCTAssertEqual(response.status, 400, path)
            XCTAssertTrue(response.errorMessage.hasPrefix("path parameter '\(parameter)' must be a UUID"), response.description)
        }
        XCTAssertEqual(try harness.client.post("/v1/batches/x/cancel").status, 400)
        let extra = try harness.client.get(batchPath + "?verbose=1")
        XCTAssertEqual(extra.status, 400)
        XCTAssertTrue(extra.errorMessage.contains("unknown query parameter 'verbose'"), extra.description)
    }

    func testUnknownRoutes404AndWrongMethods405AsJSON() throws {
        for path in ["/v1/nothing", "/v2/batches", "/v1/batches/\(batch.uuidString.lowercased())/images", "/favicon.ico"] {
            let response = try harness.client.get(path)
            XCTAssertEqual(response.status, 404, path)
            XCTAssertEqual(response.headers["content-type"], "application/json")
            XCTAssertTrue(response.errorMessage.hasPrefix("no route GET"), response.description)
        }
        let cases: [(String, String, String)] = [
            ("DELETE", batchPath, "GET, HEAD"), ("PUT", "/v1/batches", "GET, POST, HEAD"), ("GET", batchPath + "/cancel", "POST"),
            ("PATCH", "/v1/jobs/\(UUID().uuidString)", "GET, HEAD"), ("QUERY", "/healthz", "GET, HEAD"), ("POST", "/", "GET, HEAD"),
        ]
        for (method, path, allowed) in cases {
            let response = try harness.client.request(method, path)
            XCTAssertEqual(response.status, 405, "\(method) \(path): \(response)")
            XCTAssertEqual(response.headers["allow"], allowed, "\(method) \(path)")
            XCTAssertEqual((response.object["error"] as? [String: Any])?["status"] as? Int, 405)
        }
        let head = try harness.client.request("HEAD", batchPath)
        XCTAssertEqual(head.status, 200, "HEAD where GET is allowed")
        XCTAssertTrue(head.body.isEmpty)
    }

    func testHealthAndTheGalleryAssets() throws {
        let health = try harness.client.get("/healthz")
        XCTAssertEqual(health.status, 200)
        XCTAssertEqual(health.text, "ok\n")
        let page = try harness.client.get("/")
        XCTAssertEqual(page.status, 200)
        XCTAssertTrue(page.headers["content-type"]?.hasPrefix("text/html") ?? false)
        XCTAssertTrue(page.headers["content-security-policy"]?.contains("script-src 'self'") ?? false)
        XCTAssertTrue(page.text.contains("<script src=\"/assets/app.js\"></script>"))
        XCTAssertFalse(page.text.contains("http://") && page.text.contains("cdn"), "nothing from other sites")
        for (path, type) in [("/assets/app.js", "text/javascript"), ("/assets/app.css", "text/css"), ("/assets/favicon.svg", "image/svg+xml")] {
            let asset = try harness.client.get(path)
            XCTAssertEqual(asset.status, 200, path)
            XCTAssertTrue(asset.headers["content-type"]?.hasPrefix(type) ?? false, path)
            XCTAssertFalse(asset.body.isEmpty, path)
        }
        XCTAssertEqual(page.headers["x-content-type-options"], "nosniff")
    }
}
