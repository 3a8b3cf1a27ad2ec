import Foundation
import JobModel
import JobQueue
import JobStore

/// Writes a planned batch: Postgres first (one transaction), then Kafka, then marks the jobs enqueued.
/// A crash between the steps leaves jobs queued but not enqueued, which `ternflux requeue` produces again.
public struct BatchSubmitter {
    let repository: JobRepository
    let producer: KafkaProducer
    /// Records produced per delivery wait: bounded memory for huge batches, few round trips.
    public var chunkSize = 10_000

    public init(repository: JobRepository, producer: KafkaProducer) {
        self.repository = repository
        self.producer = producer
    }

    /// Returns where the time went (for `ternflux bench pipeline` and the submit summary). When the batch is stored
    /// but producing fails, throws `SubmitError.notEnqueued` naming the batch, so the caller can say how to finish it.
    @discardableResult
    public func submit(_ plan: BatchPlan, name: String, source: String?, maxAttempts: Int,
                       key: String? = nil, digest: String? = nil, webhookURL: String? = nil) throws -> SubmitTimings {
        var timings = SubmitTimings()
        let started = DispatchTime.now().uptimeNanoseconds
        let jobs = zip(plan.jobs, plan.lineNumbers).map { job, line in
            NewJob(id: job.jobID, line: line, parameters: job.parameters, maxAttempts: maxAttempts)
        }
        try repository.createBatch(NewBatch(id: plan.batchID, name: name, source: source, key: key, digest: digest,
                                            webhookURL: webhookURL), jobs: jobs)
        timings.insertSeconds = SubmitTimings.seconds(since: started)
        do {
            try enqueue(plan.jobs, timings: &timings)
        } catch {
            throw SubmitError.notEnqueued(batchID: plan.batchID, reason: "\(error)")
        }
        return timings
    }

    /// Submits `plan` under the idempotency key `key`: the first time as `submit` does; again (same key, same
    /// `digest`) nothing new is written, and the jobs of that batch that never reached Kafka are produced now,
    /// which finishes a submit that could not reach the broker. The same key with another digest is refused.
    public func submit(_ plan: BatchPlan, name: String, source: String?, maxAttempts: Int, batchKey key: String,
                       digest: String, webhookURL: String? = nil) throws -> KeyedSubmitOutcome {
        if let existing = try repository.batch(withKey: key) { return try resume(existing, key: key, digest: digest) }
        do {
            try submit(plan, name: name, source: source, maxAttempts: maxAttempts, key: Optional(key), digest: Optional(digest),
                       webhookURL: webhookURL)
            return .submitted(plan.batchID)
        } catch JobStoreError.batchKeyTaken(_, let id) {
            // Another submit with this key stored its batch between the lookup and the insert.
            return try resume(KeyedBatch(id: id, digest: try repository.batch(withKey: key)?.digest), key: key, digest: digest)
        }
    }

    func resume(_ existing: KeyedBatch, key: String, digest: String) throws -> KeyedSubmitOutcome {
        guard existing.digest == digest else { throw SubmitError.keyNamesAnotherBatch(key: key, batchID: existing.id) }
        do {
            return .alreadySubmitted(existing.id, produced: try requeueNeverEnqueued(batchID: existing.id, olderThan: 0))
        } catch {
            throw SubmitError.notEnqueued(batchID: existing.id, reason: "\(error)")
        }
    }

    /// Produces job records and marks them enqueued once the broker has acknowledged them.
    public func enqueue(_ jobs: [JobMessage]) throws {
        var timings = SubmitTimings()
        try enqueue(jobs, timings: &timings)
    }

    func enqueue(_ jobs: [JobMessage], timings: inout SubmitTimings) throws {
        var start = 0
        while start < jobs.count {
            let chunk = jobs[start..<min(start + chunkSize, jobs.count)]
            let produceStart = DispatchTime.now().uptimeNanoseconds
            let reports = try producer.sendBatch(chunk.map { $0.record() })
            timings.produceSeconds += SubmitTimings.seconds(since: produceStart)
            let markStart = DispatchTime.now().uptimeNanoseconds
            let delivered = zip(chunk, reports).compactMap { job, report in report.error == nil ? job.jobID : nil }
            try repository.markEnqueued(delivered)
            timings.markEnqueuedSeconds += SubmitTimings.seconds(since: markStart)
            if let failed = reports.first(where: { $0.error != nil })?.error {
                throw failed
            }
            start += chunk.count
        }
    }
}

/// What a keyed submit did.
public enum KeyedSubmitOutcome: Sendable, Equatable {
    /// A new batch was stored and produced.
    case submitted(UUID)
    /// The key's batch already existed with the same input; `produced` of its jobs had not reached Kafka before.
    case alreadySubmitted(UUID, produced: Int)
}

/// Why a submit did not finish.
public enum SubmitError: Error, CustomStringConvertible, Equatable {
    /// The batch is stored in PostgreSQL but not all of its jobs reached Kafka.
    case notEnqueued(batchID: UUID, reason: String)
    /// `--batch-key` names a batch submitted from other input.
    case keyNamesAnotherBatch(key: String, batchID: UUID)

    public var description: String {
        switch self {
        case let .notEnqueued(id, reason):
            let batch = id.uuidString.lowercased()
            return "batch \(batch) is stored in PostgreSQL but not all of its jobs reached Kafka (\(reason)); nothing is lost: "
                + "once the broker is reachable run `ternflux requeue --batch \(batch) --older-than 0` (or submit again with "
                + "the same --batch-key), not a plain resubmit, which would make a second batch"
        case let .keyNamesAnotherBatch(key, id):
            return "batch key '\(key)' already names batch \(id.uuidString.lowercased()), submitted from another file or "
                + "other flags; use a new key for a new batch"
        }
    }
}

/// Wall time of the phases of one submit: the Postgres transaction (validation, INSERT/COPY, commit),
/// encoding and producing with delivery reports, and marking the delivered jobs enqueued.
public struct SubmitTimings: Sendable, Equatable {
    public var insertSeconds = 0.0
    public var produceSeconds = 0.0
    public var markEnqueuedSeconds = 0.0
    public var totalSeconds: Double { insertSeconds + produceSeconds + markEnqueuedSeconds }

    public init() {}

    public static func seconds(since start: UInt64) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }
}

extension JobRecord {
    /// The Kafka record for a stored job (its next delivery).
    public var message: JobMessage {
        JobMessage(jobID: id, batchID: batchID, parameters: parameters, attempt: attempt)
    }
}
