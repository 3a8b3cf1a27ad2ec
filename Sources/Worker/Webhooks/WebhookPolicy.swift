import Foundation

/// How a worker delivers completion webhooks: the signing secret (no secret: this worker delivers none), the
/// attempts a delivery gets, the backoff between them, the time one POST may take, and which addresses may be
/// called.
public struct WebhookPolicy: Sendable, Equatable {
    /// The HMAC-SHA256 key of `X-TernFlux-Signature`.
    public var secret: [UInt8]
    public var maxAttempts = 12
    /// Attempt n failed → the next one `min(baseDelay · 2^(n−1), maxDelay)` seconds later.
    public var baseDelaySeconds = 2.0
    public var maxDelaySeconds = 300.0
    public var timeoutSeconds = 10.0
    /// How often an idle sender looks for due deliveries.
    public var pollSeconds = 1.0
    /// Loopback, private, link-local and other non-public addresses are refused unless this is set: a
    /// submitter must not be able to make workers POST into their own network (cloud metadata services, the
    /// metrics port, PostgreSQL's HTTP-speaking neighbours).
    public var allowPrivateAddresses = false

    public init(secret: [UInt8]) { self.secret = secret }

    /// Seconds to wait after the `attempt`-th (1-based) failed attempt.
    public func delay(afterAttempt attempt: Int) -> Double {
        min(baseDelaySeconds * pow(2, Double(max(0, min(attempt - 1, 30)))), maxDelaySeconds)
    }
}
