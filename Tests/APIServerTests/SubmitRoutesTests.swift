import Foundation
import JobModel
import JobStore
import XCTest

/// `POST /v1/batches`: every body form is validated as `ternflux submit` validates a file and stored as it
/// stores one; invalid input is a 422 listing every line's problems, or a 400/413/415 naming what is wrong.
final class SubmitRoutesTests: XCTestCase {
    var harness: APIHarness!

    override func setUpWithError() throws { harness = try APIHarness { $0.maxBodyBytes = 64 * 1024 } }
    override func tearDown() { harness = nil }

    func jobs(_ id: UUID) throws -> [JobHistoryEntry] { try harness.repository.batchJobs(id, limit: 500) }

    func testJSONLWithQuerySettingsIsStoredAsSubmitWould() throws {
        let response = try harness.client.post("/v1/batches?name=query%20form&steps=6&width=256&height=128&seed=40&images=2&max_attempts=5&negative_prompt=blurry+edges&model=default",
                                               text: "{\"prompt\": \"a red circle\"}\n{\"prompt\": \"a blue square\", \"seed\": 7, \"steps\": 3}\n",
                                               contentType: "application/x-ndjson")
        XCTAssertEqual(response.status, 201, response.description)
        XCTAssertEqual(response.object["jobs"] as? Int, 4)
        XCTAssertEqual(response.object["produced"] as? Int, 4)
        XCTAssertEqual(response.object["replayed"] as? Bool, false)
        let id = try XCTUnwrap(UUID(uuidString: response.object["batch_id"] as? String ?? ""))
        XCTAssertEqual(response.headers["location"], "/v1/batches/\(id.uuidString.lowercased())")
        let progress = try XCTUnwrap(harness.repository.batchProgress(id))
        XCTAssertEqual(progress.name, "query form")
        let rows = try jobs(id)
        XCTAssertEqual(rows.map(\.line), [1, 1, 2, 2])
        XCTAssertEqual(rows.map(\.seed), [40, 41, 7, 8], "the query's seed for line 1, the line's own for line 2, images consecutive")
        XCTAssertEqual(rows.map(\.steps), [6, 6, 3, 3])
        XCTAssertEqual(Set(rows.map(\.width)), [256])
        XCTAssertEqual(Set(rows.map(\.negativePrompt)), ["blurry edges"], "+ is a space in a query")
        let record = try XCTUnwrap(harness.repository.job(rows[0].jobID))
        XCTAssertEqual(record.maxAttempts, 5)
        XCTAssertNotNil(record.enqueuedAt, "produced to Kafka and marked enqueued")
    }

    func testPlainTextCSVAndJSONLContentTypes() throws {
        let text = try harness.client.post("/v1/batches", text: "a red circle\n\n  a green field  \n", contentType: "text/plain; charset=utf-8")
        XCTAssertEqual(text.status, 201, text.description)
        let textID = try XCTUnwrap(UUID(uuidString: text.object["batch_id"] as? String ?? ""))
        XCTAssertEqual(try jobs(textID).map(\.prompt), ["a red circle", "a green field"])
        XCTAssertEqual(try jobs(textID).map(\.line), [1, 3])

        let sniffed = try harness.client.post("/v1/batches", text: "{\"prompt\": \"json in text/plain\", \"seed\": 3}", contentType: "text/plain")
        XCTAssertEqual(sniffed.status, 201, "text/plain whose first line is an object is JSONL, as submit guesses: \(sniffed)")
        XCTAssertEqual(try jobs(XCTUnwrap(UUID(uuidString: sniffed.object["batch_id"] as? String ?? ""))).first?.seed, 3)

        let csv = try harness.client.post("/v1/batches", text: "prompt,seed\n\"a cat, sitting\",5\na dog,6\n", contentType: "text/csv")
        XCTAssertEqual(csv.status, 201, csv.description)
        let csvRows = try jobs(XCTUnwrap(UUID(uuidString: csv.object["batch_id"] as? String ?? "")))
        XCTAssertEqual(csvRows.map(\.prompt), ["a cat, sitting", "a dog"])
        XCTAssertEqual(csvRows.map(\.line), [2, 3])

        let jsonl = try harness.client.post("/v1/batches", text: "{\"prompt\": \"a\"}", contentType: "application/jsonl")
        XCTAssertEqual(jsonl.status, 201, jsonl.description)
    }

    func testApplicationJSONBodyIsOneLinePerJob() throws {
        let body = #"{"name": "json form", "batch_key": "k-1", "defaults": {"steps": 5, "images": 2, "seed": 100, "max_attempts": 2, "negative_prompt": "noise"}, "jobs": [{"prompt": "first"}, {"prompt": "second", "seed": 9, "images": 1, "width": 64}]}"#
        let response = try harness.client.post("/v1/batches", text: body, contentType: "application/json")
        XCTAssertEqual(response.status, 201, response.description)
        XCTAssertEqual(response.object["jobs"] as? Int, 3)
        let id = try XCTUnwrap(UUID(uuidString: response.object["batch_id"] as? String ?? ""))
        let rows = try jobs(id)
        XCTAssertEqual(rows.map(\.line), [1, 1, 2])
        XCTAssertEqual(rows.map(\.prompt), ["first", "first", "second"])
        XCTAssertEqual(rows.map(\.seed), [100, 101, 9])
        XCTAssertEqual(rows.map(\.width), [nil, nil, 64])
        XCTAssertEqual(Set(rows.map(\.steps)), [5])
        XCTAssertEqual(try harness.repository.job(rows[0].jobID)?.maxAttempts, 2)
        XCTAssertEqual(try harness.repository.batchProgress(id)?.name, "json form")
    }

    /// A webhook from the query, the JSON body or a JSONL header line is stored on the batch; a URL that is not
    /// http(s) is a 422 naming webhook_url; a first job {"batch": …} in the JSON form is refused.
    func testWebhookURLsFromEveryFormAndBadOnesNamed() throws {
        func webhook(_ id: UUID) throws -> String? {
            try harness.repository.db.query("SELECT webhook_url FROM batches WHERE id = $1", [id]).first?.decodeIfPresent("webhook_url")
        }
        let query = try harness.client.post("/v1/batches?webhook_url=https%3A%2F%2Fhooks.example.com%2Fq", text: "a red circle\n", contentType: "text/plain")
        XCTAssertEqual(query.status, 201, query.description)
        XCTAssertEqual(try webhook(XCTUnwrap(UUID(uuidString: query.object["batch_id"] as? String ?? ""))), "https://hooks.example.com/q")
        let body = try harness.client.post("/v1/batches", text: #"{"webhook_url": "http://hooks.example.com/b", "jobs": [{"prompt": "x"}]}"#,
                                           contentType: "application/json")
        XCTAssertEqual(body.status, 201, body.description)
        XCTAssertEqual(try webhook(XCTUnwrap(UUID(uuidString: body.object["batch_id"] as? String ?? ""))), "http://hooks.example.com/b")
        let header = try harness.client.post("/v1/batches", text: #"{"batch": {"name": "headed", "webhook_url": "https://hooks.example.com/h"}}"# + "\n" + #"{"prompt": "y"}"#,
                                             contentType: "application/x-ndjson")
        XCTAssertEqual(header.status, 201, header.description)
        let headerID = try XCTUnwrap(UUID(uuidString: header.object["batch_id"] as? String ?? ""))
        XCTAssertEqual(try webhook(headerID), "https://hooks.example.com/h")
        XCTAssertEqual(try harness.repository.batchProgress(headerID)?.name, "headed")

        let bad = try harness.client.post("/v1/batches?webhook_url=ftp%3A%2F%2Fexample.com%2Fx", text: "z\n", contentType: "text/plain")
        XCTAssertEqual(bad.status, 422, bad.description)
        XCTAssertTrue(bad.description.contains("webhook_url"), bad.description)
        let batchJob = try harness.client.post("/v1/batches", text: #"{"jobs": [{"batch": {"name": "n"}}, {"prompt": "p"}]}"#, contentType: "application/json")
        XCTAssertEqual(batchJob.status, 422, batchJob.description)
        XCTAssertTrue(batchJob.description.contains("'batch' is not a job field"), batchJob.description)
    }

    func testJSONBodyElementsKeepTheirTextExactly() throws {
        // Each element becomes one JSONL line: escapes survive, numbers keep their text (2^63 is refused, not rounded).
        let tricky = #"{"jobs": [{"prompt": "two\nlines, \"quoted\" \\ and \u00e9\t"}, {"prompt": "big", "seed": 9223372036854775808}]}"#
        let refused = try harness.client.post("/v1/batches", text: tricky, contentType: "application/json")
        XCTAssertEqual(refused.status, 422, refused.description)
        XCTAssertEqual(refused.lineErrors.map(\.line), [2])
        XCTAssertTrue(refused.lineErrors[0].message.hasPrefix("seed: must be an integer within 0...9223372036854775807, got 9223372036854775808"),
                      refused.description)
        let accepted = try harness.client.post("/v1/batches", text: tricky.replacingOccurrences(of: "9223372036854775808", with: "9223372036854775807"),
                                               contentType: "application/json")
        XCTAssertEqual(accepted.status, 201, accepted.description)
        let rows = try jobs(XCTUnwrap(UUID(uuidString: accepted.object["batch_id"] as? String ?? "")))
        XCTAssertEqual(rows.map(\.prompt), ["two\nlines, \"quoted\" \\ and \u{e9}\t", "big"])
        XCTAssertEqual(rows.last?.seed, Int64.max)
    }

    func testBadJSONLIsRefusedWithEveryLinesErrors() throws {
        let body = """
            {"prompt": "fine"}
            {"prompt": "typo", "widht": 64}
            not json
            {"prompt": "bad size", "width": 17, "steps": 0}

            {"seed": 1}
            """
        let response = try harness.client.post("/v1/batches?steps=4", text: body, contentType: "application/x-ndjson")
        XCTAssertEqual(response.status, 422, response.description)
        XCTAssertEqual(response.lineErrors.map(\.line), [2, 3, 4, 6])
        XCTAssertTrue(response.lineErrors[0].message.contains("unknown field 'widht'"), response.description)
        XCTAssertTrue(response.lineErrors[1].message.hasPrefix("not valid JSON"), response.description)
        XCTAssertTrue(response.lineErrors[2].message.contains("width") && response.lineErrors[2].message.contains("steps"), response.description)
        XCTAssertEqual(response.lineErrors[3].message, "prompt: is missing")
        XCTAssertEqual(response.errorMessage, "4 invalid lines; nothing was submitted")
        XCTAssertEqual((response.object["error"] as? [String: Any])?["status"] as? Int, 422)
        XCTAssertEqual(try harness.repository.recentBatches().count, 0, "nothing is written")
    }

    func testTheSameProblemsAsSubmitForTheSameFile() throws {
        // The API and `ternflux submit` share BatchIntake: the same file gives the same messages.
        let file = harness.output.appendingPathComponent("bad.jsonl")
        let text = "{\"prompt\": \"ok\"}\n{\"prompt\": \"x\", \"seed\": 9223372036854775808}\n{\"prompt\": \"y\", \"images\": 65}\n"
        try Data(text.utf8).write(to: file)
        let cli = try APIHarness.run(APIHarness.ternflux, ["submit", file.path, "--database-url", harness.conninfo,
                                                           "--brokers", harness.broker.bootstrapServers])
        XCTAssertNotEqual(cli.status, 0)
        let api = try harness.client.post("/v1/batches", text: text, contentType: "application/x-ndjson")
        XCTAssertEqual(api.status, 422)
        XCTAssertEqual(api.lineErrors.count, 2)
        for error in api.lineErrors {
            XCTAssertTrue(cli.output.contains("line \(error.line): \(error.message)"), "submit said:\n\(cli.output)\nAPI: \(error)")
        }
    }

    func testBadJSONBodyNamesJobsByLineAndTheBatchAsLineZero() throws {
        let body = #"{"name": 5, "colour": "red", "defaults": {"steps": "many", "hieght": 3}, "jobs": [{"prompt": "ok"}, {"prompt": ""}, [1, 2], {"prompt": "dup", "seed": 1, "seed": 2}]}"#
        let response = try harness.client.post("/v1/batches", text: body, contentType: "application/json")
        XCTAssertEqual(response.status, 422, response.description)
        let errors = response.lineErrors
        let batch = errors.filter { $0.line == 0 }.map(\.message)
        XCTAssertTrue(batch.contains { $0.contains("unknown field 'colour' in the body") }, "\(batch)")
        XCTAssertTrue(batch.contains("name: expected a string, got a number"), "\(batch)")
        XCTAssertTrue(batch.contains("defaults.steps: expected an integer, got a string"), "\(batch)")
        XCTAssertTrue(batch.contains { $0.contains("unknown field 'hieght' in defaults") }, "\(batch)")
        XCTAssertEqual(errors.filter { $0.line > 0 }.map(\.line), [2, 3, 4], "jobs[N-1] is line N")
        XCTAssertEqual(errors.first { $0.line == 3 }?.message, "expected a JSON object, got an array")
        XCTAssertEqual(errors.first { $0.line == 4 }?.message, "'seed' appears twice")

        // Defaults out of range stop the batch before its lines are read, as submit's flags do.
        let badDefaults = try harness.client.post("/v1/batches", text: #"{"defaults": {"width": 17}, "jobs": [{"prompt": 1}]}"#,
                                                  contentType: "application/json")
        XCTAssertEqual(badDefaults.status, 422)
        XCTAssertEqual(badDefaults.lineErrors.map(\.line), [0])
        XCTAssertTrue(badDefaults.lineErrors[0].message.hasPrefix("default width: must be a multiple of 16"), badDefaults.description)

        let notJSON = try harness.client.post("/v1/batches", text: "{\"jobs\": [", contentType: "application/json")
        XCTAssertEqual(notJSON.status, 422)
        XCTAssertTrue(notJSON.lineErrors.first?.message.hasPrefix("the body is not valid JSON") ?? false, notJSON.description)
        let noJobs = try harness.client.post("/v1/batches", text: "{\"name\": \"x\"}", contentType: "application/json")
        XCTAssertEqual(noJobs.lineErrors.map(\.message), ["jobs: is missing (an array of job objects; jobs[N-1] is line N)"])
        let empty = try harness.client.post("/v1/batches", text: "{\"jobs\": []}", contentType: "application/json")
        XCTAssertEqual(empty.lineErrors.map(\.message), ["no prompts found"])
        let withQuery = try harness.client.post("/v1/batches?steps=4", text: "{\"jobs\": [{\"prompt\": \"a\"}]}", contentType: "application/json")
        XCTAssertEqual(withQuery.status, 400)
        XCTAssertTrue(withQuery.errorMessage.contains("query string"), withQuery.description)
    }

    func testBadQueryValuesAreNamed() throws {
        let cases: [(String, String)] = [
            ("steps=abc", "query parameter 'steps' must be an integer, got 'abc'"),
            ("guidance=fast", "query parameter 'guidance' must be a number, got 'fast'"),
            ("allow_unknown_fields=maybe", "query parameter 'allow_unknown_fields' must be true or false, got 'maybe'"),
            ("stepz=4", "unknown query parameter 'stepz'"),
            ("steps=4&steps=5", "query parameter 'steps' is given more than once"),
            ("name=%zz", "query parameter 'name' is not valid percent-encoding"),
        ]
        for (query, message) in cases {
            let response = try harness.client.post("/v1/batches?" + query, text: "a prompt", contentType: "text/plain")
            XCTAssertEqual(response.status, 400, "\(query): \(response)")
            XCTAssertTrue(response.errorMessage.hasPrefix(message), "\(query): \(response)")
        }
        // In range or not is the batch's business: a 422 naming the setting, as for submit's flags.
        let outOfRange = try harness.client.post("/v1/batches?steps=500&images=0", text: "a prompt", contentType: "text/plain")
        XCTAssertEqual(outOfRange.status, 422, outOfRange.description)
        XCTAssertEqual(Set(outOfRange.lineErrors.map(\.line)), [0])
        XCTAssertTrue(outOfRange.lineErrors.contains { $0.message.hasPrefix("images: must be between 1 and 64") }, outOfRange.description)
        XCTAssertTrue(outOfRange.lineErrors.contains { $0.message.hasPrefix("default steps: must be between 1 and 100") }, outOfRange.description)
    }

    func testContentTypesOutsideTheListAre415() throws {
        for type in ["application/xml", "image/png"] {
            let response = try harness.client.post("/v1/batches", text: "a prompt", contentType: type)
            XCTAssertEqual(response.status, 415, "\(type): \(response)")
            XCTAssertTrue(response.errorMessage.contains(type), response.description)
        }
        let none = try harness.client.post("/v1/batches", body: Data("a prompt".utf8))
        XCTAssertEqual(none.status, 415, none.description)
        let latin1 = try harness.client.post("/v1/batches", text: "a prompt", contentType: "text/plain; charset=latin1")
        XCTAssertEqual(latin1.status, 415, latin1.description)
        let notUTF8 = try harness.client.post("/v1/batches", body: Data([0x61, 0xFF, 0x0A]), contentType: "text/plain")
        XCTAssertEqual(notUTF8.status, 422)
        XCTAssertEqual(notUTF8.lineErrors.map(\.message), ["not valid UTF-8"])
    }

    func testBodiesOverTheLimitAre413() throws {
        let big = Data(String(repeating: "a prompt that is long enough\n", count: 4_000).utf8)   // ~116 KiB > 64 KiB
        let declared = try harness.client.post("/v1/batches", body: big, contentType: "text/plain")
        XCTAssertEqual(declared.status, 413, declared.description)
        XCTAssertTrue(declared.errorMessage.contains("65536 bytes"), declared.description)
        // Without a Content-Length (chunked), the limit holds as the body arrives.
        let chunks = stride(from: 0, to: big.count, by: 8_192).map { big[$0..<min($0 + 8_192, big.count)] }
        var chunked = Data()
        for chunk in chunks { chunked += Data((String(chunk.count, radix: 16) + "\r\n").utf8) + chunk + Data("\r\n".utf8) }
        chunked += Data("0\r\n\r\n".utf8)
        let streamed = try harness.client.request("POST", "/v1/batches", body: chunked,
                                                  headers: ["Content-Type": "text/plain", "Transfer-Encoding": "chunked"], sendContentLength: false)
        XCTAssertEqual(streamed.status, 413, streamed.description)
        XCTAssertEqual(try harness.repository.recentBatches().count, 0)
        let fits = try harness.client.post("/v1/batches", body: big.prefix(60_000), contentType: "text/plain")
        XCTAssertEqual(fits.status, 201, "just under the limit is read: \(fits)")
    }

    func testBatchKeyReplayAnswersTheFirstBatch() throws {
        let body = "{\"prompt\": \"once\"}\n{\"prompt\": \"twice\"}\n"
        let first = try harness.client.post("/v1/batches?batch_key=nightly-7&steps=4", text: body, contentType: "application/x-ndjson")
        XCTAssertEqual(first.status, 201, first.description)
        let again = try harness.client.post("/v1/batches?batch_key=nightly-7&steps=4", text: body, contentType: "application/x-ndjson")
        XCTAssertEqual(again.status, 200, again.description)
        XCTAssertEqual(again.object["batch_id"] as? String, first.object["batch_id"] as? String)
        XCTAssertEqual(again.object["replayed"] as? Bool, true)
        XCTAssertEqual(again.object["jobs"] as? Int, 2)
        XCTAssertEqual(again.object["produced"] as? Int, 0, "every job had reached Kafka the first time")
        XCTAssertEqual(try harness.repository.recentBatches().count, 1)
        let other = try harness.client.post("/v1/batches?batch_key=nightly-7&steps=5", text: body, contentType: "application/x-ndjson")
        XCTAssertEqual(other.status, 409, other.description)
        XCTAssertTrue(other.errorMessage.contains("nightly-7"), other.description)
        let badKey = try harness.client.post("/v1/batches?batch_key=a%0Ab", text: body, contentType: "application/x-ndjson")
        XCTAssertEqual(badKey.status, 422)
        XCTAssertEqual(badKey.lineErrors.map(\.message), ["batch_key: contains control characters"])
    }
}
