import Foundation
import JobClient
import JobModel
import JobQueue
import JobStore
import Logging
import Worker
import XCTest

/// Completion webhooks against real PostgreSQL (the trigger that queues them, the leases that keep one sender
/// per delivery) and a real local HTTP receiver that is down, then failing, then up.
final class WebhookTests: XCTestCase {
    let secret = Array("a-webhook-secret-for-tests".utf8)

    func testHMACSHA256MatchesRFC4231() {
        XCTAssertEqual(HMACSHA256.hexSignature(Array("what do ya want for nothing?".utf8), key: Array("Jefe".utf8)),
                       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        let longKey = [UInt8](repeating: 0xaa, count: 131)
        XCTAssertEqual(HMACSHA256.hexSignature(Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8), key: longKey),
                       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
    }

    func policy(_ configure: (inout WebhookPolicy) -> Void = { _ in }) -> WebhookPolicy {
        var p = WebhookPolicy(secret: secret)
        p.allowPrivateAddresses = true
        p.baseDelaySeconds = 0.2
        p.maxDelaySeconds = 0.5
        p.pollSeconds = 0.1
        configure(&p)
        return p
    }

    func submit(_ h: PipelineHarness, prompts: [String], webhookURL: String?) throws -> BatchPlan {
        let plan = try BatchPlanner.plan(lines: prompts.enumerated().map { BatchLine(lineNumber: $0.offset + 1, prompt: $0.element) },
                                         defaults: JobSettings(steps: 4)).get()
        let producer = try h.producer()
        defer { producer.close() }
        try BatchSubmitter(repository: h.repository, producer: producer)
            .submit(plan, name: "hooks", source: nil, maxAttempts: 3, webhookURL: webhookURL)
        return plan
    }

    func deliveries(_ h: PipelineHarness, _ batchID: UUID) throws -> Int {
        try h.repository.db.query("SELECT count(*)::int AS n FROM webhook_deliveries WHERE batch_id = $1", [batchID]).first?.decode("n") ?? 0
    }

    /// The receiver is down, then answers 503, then 200; three senders compete. One signed 2xx delivery, every
    /// attempt recorded.
    func testADeliverySurvivesAReceiverThatIsDownAndExactlyOneSucceeds() throws {
        let h = try PipelineHarness(partitions: 1)
        let receiver = try WebhookReceiver(statuses: [503, 200])
        let plan = try submit(h, prompts: ["a red circle", "a blue square"], webhookURL: receiver.url)
        _ = try h.runWorkerInProcess(id: "w-hooks", generator: try FixedImageGenerator(), idleExit: 2)
        XCTAssertEqual(try deliveries(h, plan.batchID), 1, "finishing the batch queued its delivery")

        var logger = Logger(label: "test.webhooks")
        logger.logLevel = .critical
        let senders = (0..<3).map { WebhookSender(conninfo: h.conninfo, workerID: "sender-\($0)", policy: policy(), logger: logger) }
        senders.forEach { $0.start() }
        defer { senders.forEach { $0.stop() } }
        h.waitUntil("an attempt against the receiver that is down", timeout: 20) {
            (try? h.repository.webhookDelivery(batchID: plan.batchID)?.attempts ?? 0) ?? 0 >= 1
        }
        try receiver.start()
        h.waitUntil("the delivery", timeout: 30) { (try? h.repository.webhookDelivery(batchID: plan.batchID)?.state) == "delivered" }
        Thread.sleep(forTimeInterval: 1) // any duplicate would arrive meanwhile

        let ok = receiver.requests.filter { $0.status == 200 }
        XCTAssertEqual(ok.count, 1, "successful deliveries: \(ok.count)")
        let request = try XCTUnwrap(ok.first)
        XCTAssertEqual(request.headers["x-ternflux-signature"], "sha256=" + HMACSHA256.hexSignature(request.body, key: secret))
        XCTAssertEqual(request.headers["x-ternflux-event"], "batch.finished")
        let delivery = try XCTUnwrap(try h.repository.webhookDelivery(batchID: plan.batchID))
        XCTAssertEqual(request.headers["x-ternflux-delivery"], delivery.deliveryID.uuidString.lowercased())
        let body = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any])
        XCTAssertEqual(body["event"] as? String, "batch.finished")
        let batch = try XCTUnwrap(body["batch"] as? [String: Any])
        XCTAssertEqual(batch["batch_id"] as? String, plan.batchID.uuidString.lowercased())
        XCTAssertEqual(batch["succeeded"] as? Int, 2)
        XCTAssertEqual(batch["finished"] as? Bool, true)

        let attempts = Array(try h.repository.db.query("""
            SELECT attempt, status_code, error FROM webhook_attempts WHERE batch_id = $1 ORDER BY attempt
            """, [plan.batchID]))
        XCTAssertGreaterThanOrEqual(attempts.count, 3, "down, 503, 200 are three attempts at least")
        XCTAssertEqual(try attempts.last?.decodeIfPresent("status_code") as Int?, 200)
        XCTAssertEqual(try attempts.first?.decodeIfPresent("status_code") as Int?, nil, "the first attempt found nobody listening")
        XCTAssertEqual(delivery.attempts, attempts.count)
    }

    /// A sender that died holding the lease (here: a lease taken and never recorded) is taken over once the
    /// lease runs out; a delivery that uses its attempts is marked failed; private addresses are refused.
    func testLeasesRunOutAttemptsEndAndPrivateAddressesAreRefused() throws {
        let h = try PipelineHarness(partitions: 1)
        let receiver = try WebhookReceiver(statuses: [500])
        try receiver.start()
        let plan = try submit(h, prompts: ["a green triangle"], webhookURL: receiver.url)
        _ = try h.runWorkerInProcess(id: "w-hooks2", generator: try FixedImageGenerator(), idleExit: 2)
        XCTAssertNotNil(try h.repository.leaseDueWebhook(workerID: "crashed", leaseSeconds: 1))

        var logger = Logger(label: "test.webhooks")
        logger.logLevel = .critical
        let refusing = WebhookSender(conninfo: h.conninfo, workerID: "strict", policy: policy { $0.allowPrivateAddresses = false; $0.maxAttempts = 1 },
                                     logger: logger)
        let db = try PostgresConnection(conninfo: h.conninfo)
        defer { db.close() }
        let repository = JobRepository(connection: db)
        XCTAssertFalse(try refusing.deliverOne(repository), "a leased delivery is not due for another sender")
        Thread.sleep(forTimeInterval: 1.2)
        XCTAssertTrue(try refusing.deliverOne(repository), "the lease ran out: the delivery is due again")
        let refused = try XCTUnwrap(try db.query("SELECT error FROM webhook_attempts WHERE batch_id = $1", [plan.batchID]).first?.decodeIfPresent("error") as String?)
        XCTAssertTrue(refused.contains("loopback"), refused)
        XCTAssertEqual(receiver.requests.count, 0, "a refused address was called")
        XCTAssertEqual(try repository.webhookDelivery(batchID: plan.batchID)?.state, "failed", "one attempt allowed, one used")
    }

    /// Two transactions finish a batch's last two jobs at once: exactly one delivery is queued. A cancel
    /// finishes a batch too; a batch without a webhook queues none.
    func testTheDatabaseQueuesOneDeliveryWhenTheLastJobsFinishTogether() throws {
        let h = try PipelineHarness(partitions: 1)
        let plan = try submit(h, prompts: ["one", "two"], webhookURL: "http://127.0.0.1:9/hook")
        let (a, b) = (try PostgresConnection(conninfo: h.conninfo), try PostgresConnection(conninfo: h.conninfo))
        defer { a.close(); b.close() }
        try a.execute("BEGIN")
        try a.execute("UPDATE jobs SET state = 'failed', finished_at = now() WHERE id = $1", [plan.jobs[0].jobID])
        let second = Thread {
            try? b.execute("BEGIN")
            _ = try? b.execute("UPDATE jobs SET state = 'failed', finished_at = now() WHERE id = $1", [plan.jobs[1].jobID])
            try? b.execute("COMMIT")
        }
        second.start()
        Thread.sleep(forTimeInterval: 0.5) // the second waits on the batch row's lock the first holds
        try a.execute("COMMIT")
        h.waitUntil("both finished", timeout: 10) { (try? h.states(plan.batchID)[.failed]) == 2 }
        XCTAssertEqual(try deliveries(h, plan.batchID), 1)

        let canceled = try submit(h, prompts: ["three", "four"], webhookURL: "https://example.com/hook")
        XCTAssertEqual(try h.repository.cancelBatch(canceled.batchID), 2)
        XCTAssertEqual(try deliveries(h, canceled.batchID), 1)
        let silent = try submit(h, prompts: ["five"], webhookURL: nil)
        _ = try h.repository.cancelBatch(silent.batchID)
        XCTAssertEqual(try deliveries(h, silent.batchID), 0)
    }

    /// A receiver that answers 200 and then streams a body without end: the status decides, the body is never
    /// read, the attempt ends at once.
    func testAnEndlessAnswerBodyIsNotRead() throws {
        let h = try PipelineHarness(partitions: 1)
        let receiver = try WebhookReceiver(statuses: [200])
        receiver.endlessBody = true
        try receiver.start()
        let plan = try submit(h, prompts: ["a yellow circle"], webhookURL: receiver.url)
        _ = try h.runWorkerInProcess(id: "w-hooks3", generator: try FixedImageGenerator(), idleExit: 2)
        var logger = Logger(label: "test.webhooks")
        logger.logLevel = .critical
        let sender = WebhookSender(conninfo: h.conninfo, workerID: "reader", policy: policy(), logger: logger)
        let db = try PostgresConnection(conninfo: h.conninfo)
        defer { db.close() }
        let started = Date()
        XCTAssertTrue(try sender.deliverOne(JobRepository(connection: db)))
        XCTAssertLessThan(Date().timeIntervalSince(started), 5, "the sender read the endless body")
        XCTAssertEqual(try JobRepository(connection: db).webhookDelivery(batchID: plan.batchID)?.state, "delivered")
    }

    func testWebhookURLsAreCheckedAtSubmitFromTheFlagOrTheHeaderLine() throws {
        let bad = ["ftp://example.com/x", "http://", "example.com/hook", "http://exa mple.com", "javascript:alert(1)",
                   "https://example.com/" + String(repeating: "a", count: 2_100)]
        for url in bad {
            let result = BatchIntake.intake(BatchRequest(data: Data("a red circle\n".utf8), format: .text, webhookURL: url))
            guard case .failure(let errors) = result else { XCTFail("\(url) was accepted"); continue }
            XCTAssertTrue(errors.description.contains("webhook_url"), errors.description)
        }
        let header = #"{"batch": {"name": "nightly", "webhook_url": "https://hooks.example.com/t"}}"# + "\n" + #"{"prompt": "a red circle"}"#
        let intaken = try BatchIntake.intake(BatchRequest(data: Data(header.utf8), format: .jsonl)).get()
        XCTAssertEqual(intaken.webhookURL, "https://hooks.example.com/t")
        XCTAssertEqual(intaken.name, "nightly")
        XCTAssertEqual(intaken.plan.jobs.count, 1)
        let flagWins = try BatchIntake.intake(BatchRequest(data: Data(header.utf8), format: .jsonl, webhookURL: "https://other.example/x")).get()
        XCTAssertEqual(flagWins.webhookURL, "https://other.example/x")
        let badHeader = #"{"batch": {"webhook": "https://x"}}"# + "\n" + #"{"prompt": "p"}"#
        guard case .failure(let errors) = BatchIntake.intake(BatchRequest(data: Data(badHeader.utf8), format: .jsonl)) else {
            return XCTFail("an unknown header field was accepted")
        }
        XCTAssertTrue(errors.description.contains("line 1: batch: unknown field 'webhook'"), errors.description)
    }
}
