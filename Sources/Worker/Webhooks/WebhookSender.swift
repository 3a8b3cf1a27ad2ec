import Foundation
import JobModel
import JobStore
import Logging

/// The body of a completion webhook: the event, the delivery id and the batch summary (the `ternflux status
/// BATCH --json` document).
struct WebhookBody: Encodable {
    let event = "batch.finished"
    @LowercaseUUID var deliveryID: UUID
    let batch: BatchProgress

    enum CodingKeys: String, CodingKey { case event, deliveryID = "delivery_id", batch }
}

/// Delivers completion webhooks from its own thread and database connection (libpq blocks): leases the due
/// delivery, POSTs the signed summary, records the attempt, and schedules the next one with backoff until a
/// 2xx or the policy's attempts run out. Any number of workers may run one; the lease keeps a delivery with
/// one sender at a time.
public final class WebhookSender: @unchecked Sendable {
    let conninfo: String
    let workerID: String
    let policy: WebhookPolicy
    let logger: Logger
    private let stopped = NSCondition()
    private var stopRequested = false
    private var thread: Thread?

    public init(conninfo: String, workerID: String, policy: WebhookPolicy, logger: Logger) {
        self.conninfo = conninfo
        self.workerID = workerID
        self.policy = policy
        self.logger = logger
    }

    public func start() {
        let thread = Thread { [self] in
            var connection: PostgresConnection?
            while !isStopping {
                var busy = false
                do {
                    if connection == nil { connection = try PostgresConnection(conninfo: conninfo) }
                    busy = try deliverOne(JobRepository(connection: connection!))
                } catch {
                    logger.warning("webhook delivery failed to reach the database", metadata: ["error": "\(error)"])
                    connection?.close()
                    connection = nil
                }
                if !busy { pause(policy.pollSeconds) }
            }
            connection?.close()
        }
        thread.name = "ternflux-webhooks"
        self.thread = thread
        thread.start()
    }

    public func stop() {
        stopped.lock()
        stopRequested = true
        stopped.signal()
        stopped.unlock()
    }

    var isStopping: Bool { stopped.lock(); defer { stopped.unlock() }; return stopRequested }

    private func pause(_ seconds: Double) {
        stopped.lock()
        if !stopRequested { _ = stopped.wait(until: Date().addingTimeInterval(seconds)) }
        stopped.unlock()
    }

    /// Makes one attempt at the due delivery, if any; returns whether there was one.
    public func deliverOne(_ repository: JobRepository) throws -> Bool {
        guard let delivery = try repository.leaseDueWebhook(workerID: workerID, leaseSeconds: policy.timeoutSeconds + 30) else {
            return false
        }
        let attempt = delivery.attempts + 1
        var log = logger
        log[metadataKey: "batch_id"] = "\(delivery.batchID.uuidString.lowercased())"
        log[metadataKey: "attempt"] = "\(attempt)"
        let started = DispatchTime.now().uptimeNanoseconds
        let result = attemptDelivery(delivery, repository: repository, attempt: attempt)
        let ms = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
        if try !repository.recordWebhookAttempt(batchID: delivery.batchID, workerID: workerID, result: result, durationMs: ms) {
            log.warning("webhook lease lost before its attempt was recorded (another worker took it over)")
        }
        switch result {
        case .delivered(let status): log.info("webhook delivered", metadata: ["status": "\(status)"])
        case .failed(_, let error, let retryAt):
            if let retryAt { log.warning("webhook attempt failed; retrying", metadata: ["error": "\(error)", "retry_at": "\(retryAt)"]) }
            else { log.error("webhook failed for good", metadata: ["error": "\(error)", "attempts": "\(attempt)"]) }
        }
        return true
    }

    func attemptDelivery(_ delivery: WebhookDelivery, repository: JobRepository, attempt: Int) -> WebhookAttemptResult {
        func failure(_ status: Int?, _ error: String) -> WebhookAttemptResult {
            let retry = attempt < policy.maxAttempts ? Date().addingTimeInterval(policy.delay(afterAttempt: attempt)) : nil
            return .failed(status: status, error: error, retryAt: retry)
        }
        guard let url = URL(string: delivery.url), let host = url.host else { return failure(nil, "'\(delivery.url)' is not a URL") }
        if !policy.allowPrivateAddresses, let why = WebhookAddressCheck.problem(host: host) {
            return failure(nil, "refusing to call \(why) (allow with the worker's --webhook-allow-private-addresses)")
        }
        let body: [UInt8]
        do {
            guard let progress = try repository.batchProgress(delivery.batchID) else { return failure(nil, "the batch no longer exists") }
            body = Array(try ReportJSON.encoder().encode(WebhookBody(deliveryID: delivery.deliveryID, batch: progress)))
        } catch {
            return failure(nil, "cannot read the batch summary: \(error)")
        }
        let headers = ["Content-Type": "application/json", "User-Agent": "TernFlux/\(WorkerVersion.current)",
                       "X-TernFlux-Event": "batch.finished", "X-TernFlux-Delivery": delivery.deliveryID.uuidString.lowercased(),
                       "X-TernFlux-Signature": "sha256=" + HMACSHA256.hexSignature(body, key: policy.secret)]
        do {
            let answer = try WebhookPost.send(url: url, body: body, headers: headers, timeoutSeconds: policy.timeoutSeconds)
            if (200..<300).contains(answer.status) { return .delivered(status: answer.status) }
            return failure(answer.status, "the receiver answered HTTP \(answer.status)")
        } catch {
            return failure(nil, "\(error)")
        }
    }
}
