import Foundation

/// A batch's completion webhook, queued by the database when its last job finished (migration 000007).
public struct WebhookDelivery: Sendable, Equatable {
    public var batchID: UUID
    /// Sent as `X-TernFlux-Delivery`: the same for every attempt, so a receiver can drop a repeat.
    public var deliveryID: UUID
    public var url: String
    /// Attempts made before this one.
    public var attempts: Int
    public var state: String
}

/// How a delivery attempt ended.
public enum WebhookAttemptResult: Sendable, Equatable {
    /// The receiver answered 2xx.
    case delivered(status: Int)
    /// No 2xx (a status, or an error before any answer); tried again at `retryAt` unless `retryAt` is nil,
    /// when the delivery has used its attempts and is marked failed.
    case failed(status: Int?, error: String, retryAt: Date?)
}

extension JobRepository {
    /// Leases the delivery that is due soonest, for `leaseSeconds`, to `workerID`, or returns nil. A lease that
    /// ran out (its worker died mid-attempt) is taken over; `SKIP LOCKED` keeps workers off each other's rows.
    public func leaseDueWebhook(workerID: String, leaseSeconds: Double) throws -> WebhookDelivery? {
        try db.query("""
            UPDATE webhook_deliveries SET leased_by = $1, leased_until = now() + make_interval(secs => $2)
            WHERE batch_id = (
                SELECT batch_id FROM webhook_deliveries
                WHERE state = 'pending' AND next_attempt_at <= now() AND (leased_until IS NULL OR leased_until < now())
                ORDER BY next_attempt_at
                LIMIT 1
                FOR UPDATE SKIP LOCKED)
            RETURNING batch_id, delivery_id, url, attempts, state
            """, [workerID, leaseSeconds]).first.map {
            WebhookDelivery(batchID: try $0.decode("batch_id"), deliveryID: try $0.decode("delivery_id"), url: try $0.decode("url"),
                            attempts: try $0.decode("attempts"), state: try $0.decode("state"))
        }
    }

    /// Records one attempt of a delivery this worker leased, and its outcome, in one transaction; returns false
    /// (recording nothing) when the lease was lost meanwhile (it ran out and another worker took it).
    @discardableResult
    public func recordWebhookAttempt(batchID: UUID, workerID: String, result: WebhookAttemptResult,
                                     durationMs: Double) throws -> Bool {
        try db.transaction { db in
            let state: String, status: Int?, error: String?, retryAt: Date?
            switch result {
            case .delivered(let s): (state, status, error, retryAt) = ("delivered", s, nil, nil)
            case .failed(let s, let e, let at): (state, status, error, retryAt) = (at == nil ? "failed" : "pending", s, e, at)
            }
            let rows = try db.query("""
                UPDATE webhook_deliveries
                SET attempts = attempts + 1, state = $3, last_status = $4, last_error = $5,
                    next_attempt_at = coalesce($6, next_attempt_at), leased_by = NULL, leased_until = NULL,
                    delivered_at = CASE WHEN $3 = 'delivered' THEN now() END
                WHERE batch_id = $1 AND leased_by = $2 AND state = 'pending'
                RETURNING attempts
                """, [batchID, workerID, state, status, error, retryAt])
            guard let attempt: Int = try rows.first?.decode("attempts") else { return false }
            try db.execute("""
                INSERT INTO webhook_attempts (batch_id, attempt, worker_id, status_code, error, duration_ms)
                VALUES ($1, $2, $3, $4, $5, $6)
                """, [batchID, attempt, workerID, status, error, durationMs])
            return true
        }
    }

    /// A batch's delivery as stored (nil: none queued).
    public func webhookDelivery(batchID: UUID) throws -> WebhookDelivery? {
        try db.query("SELECT batch_id, delivery_id, url, attempts, state FROM webhook_deliveries WHERE batch_id = $1", [batchID]).first.map {
            WebhookDelivery(batchID: try $0.decode("batch_id"), deliveryID: try $0.decode("delivery_id"), url: try $0.decode("url"),
                            attempts: try $0.decode("attempts"), state: try $0.decode("state"))
        }
    }
}
