import Foundation

/// Header names TernFlux puts on job records.
public enum JobHeaders {
    /// On a retry: epoch milliseconds before which the worker should not start the job (the
    /// backoff travels with the record, so nobody sleeps before producing it).
    public static let notBefore = "ternflux-not-before-ms"
    /// On a retry: the error of the attempt that failed.
    public static let previousError = "ternflux-previous-error"
    /// On a dead-letter record: where the record was consumed from and why it was given up.
    public static let originTopic = "ternflux-origin-topic"
    public static let originPartition = "ternflux-origin-partition"
    public static let originOffset = "ternflux-origin-offset"
    public static let error = "ternflux-error"
    /// Epoch milliseconds when the record was dead-lettered.
    public static let deadLetteredAt = "ternflux-dead-lettered-at-ms"
    /// The `attempt` of the job when given up, when one could be read.
    public static let attempt = "ternflux-attempt"

    /// Longest error text put in a header; errors can quote user input.
    public static let maxErrorBytes = 4_096
}

/// Exponential backoff with a cap: attempt 1 waits `base`, attempt 2 `2·base`, … up to `cap`.
public struct RetryPolicy: Sendable, Equatable {
    /// Deliveries a job gets before it is dead-lettered (first delivery included).
    public var maxAttempts: Int
    public var baseDelaySeconds: Double
    public var maxDelaySeconds: Double

    public init(maxAttempts: Int = 3, baseDelaySeconds: Double = 2, maxDelaySeconds: Double = 60) {
        self.maxAttempts = maxAttempts
        self.baseDelaySeconds = baseDelaySeconds
        self.maxDelaySeconds = maxDelaySeconds
    }

    /// Whether a job whose attempt number `attempt` (0-based) just failed may run again.
    public func shouldRetry(failedAttempt attempt: Int) -> Bool { attempt + 1 < maxAttempts }

    /// The wait before retry number `retry` (1 for the first retry).
    public func delaySeconds(retry: Int) -> Double {
        guard retry >= 1 else { return 0 }
        let exponent = min(Double(retry - 1), 30)
        return min(maxDelaySeconds, baseDelaySeconds * pow(2, exponent))
    }
}

extension JobMessage {
    /// The record that retries this job: attempt + 1, the backoff as a not-before header, the
    /// failed attempt's error for the next worker's logs.
    public func retryRecord(policy: RetryPolicy, error: String, now: Date = Date(),
                            topic: String = KafkaSettings.jobsTopic) -> OutgoingMessage {
        var next = self
        next.attempt = attempt + 1
        let notBefore = Int64((now.timeIntervalSince1970 + policy.delaySeconds(retry: next.attempt)) * 1000)
        return next.record(topic: topic, headers: [
            KafkaHeader(name: JobHeaders.notBefore, string: String(notBefore)),
            KafkaHeader(name: JobHeaders.previousError, string: truncatedUTF8(error, maxBytes: JobHeaders.maxErrorBytes)),
        ])
    }
}

extension ConsumedMessage {
    /// The not-before time of a retried job record, if it carries one.
    public var notBefore: Date? {
        guard let text = headers.last(named: JobHeaders.notBefore)?.stringValue, let ms = Int64(text) else { return nil }
        return Date(timeIntervalSince1970: Double(ms) / 1000)
    }

    /// A dead-letter record: key, value and headers exactly as consumed, plus headers naming the
    /// origin topic/partition/offset, the error and the time. Producing it to the dead-letter
    /// topic keeps the bytes for inspection and replay (`kcat -C -t ternflux.jobs.dlq -J`).
    public func deadLetterRecord(error: String, attempt: Int? = nil, now: Date = Date(),
                                 topic: String = KafkaSettings.deadLetterTopic) -> OutgoingMessage {
        var h = headers
        h.append(KafkaHeader(name: JobHeaders.originTopic, string: self.topic))
        h.append(KafkaHeader(name: JobHeaders.originPartition, string: String(partition)))
        h.append(KafkaHeader(name: JobHeaders.originOffset, string: String(offset)))
        h.append(KafkaHeader(name: JobHeaders.error, string: truncatedUTF8(error, maxBytes: JobHeaders.maxErrorBytes)))
        h.append(KafkaHeader(name: JobHeaders.deadLetteredAt, string: String(Int64(now.timeIntervalSince1970 * 1000))))
        if let attempt { h.append(KafkaHeader(name: JobHeaders.attempt, string: String(attempt))) }
        return OutgoingMessage(topic: topic, key: key, value: value, headers: h)
    }
}

extension KafkaProducer {
    /// Re-produces `job` with attempt + 1 and waits for the broker to have it.
    @discardableResult
    public func retry(_ job: JobMessage, policy: RetryPolicy, error: String,
                      topic: String = KafkaSettings.jobsTopic) throws -> DeliveryReport {
        try send(job.retryRecord(policy: policy, error: error, topic: topic))
    }

    /// Produces `record` to the dead-letter topic and waits for the broker to have it; only then
    /// may the caller store the record's offset.
    @discardableResult
    public func deadLetter(_ record: ConsumedMessage, error: String, attempt: Int? = nil,
                           topic: String = KafkaSettings.deadLetterTopic) throws -> DeliveryReport {
        try send(record.deadLetterRecord(error: error, attempt: attempt, topic: topic))
    }
}

/// Cuts `s` to at most `maxBytes` of UTF-8 without splitting a character.
func truncatedUTF8(_ s: String, maxBytes: Int) -> String {
    if s.utf8.count <= maxBytes { return s }
    var out = ""
    var used = 0
    for ch in s {
        let n = ch.utf8.count
        if used + n > maxBytes - 3 { break }
        out.append(ch)
        used += n
    }
    return out + "…"
}
