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

    /// Returns where the time went (for `ternflux bench pipeline` and the submit summary).
    @discardableResult
    public func submit(_ plan: BatchPlan, name: String, source: String?, maxAttempts: Int) throws -> SubmitTimings {
        var timings = SubmitTimings()
        let started = DispatchTime.now().uptimeNanoseconds
        let jobs = zip(plan.jobs, plan.lineNumbers).map { job, line in
            NewJob(id: job.jobID, line: line, parameters: job.parameters, maxAttempts: maxAttempts)
        }
        try repository.createBatch(NewBatch(id: plan.batchID, name: name, source: source), jobs: jobs)
        timings.insertSeconds = SubmitTimings.seconds(since: started)
        try enqueue(plan.jobs, timings: &timings)
        return timings
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
