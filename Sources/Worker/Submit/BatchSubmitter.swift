import Foundation
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

    public func submit(_ plan: BatchPlan, name: String, source: String?, maxAttempts: Int) throws {
        let jobs = zip(plan.jobs, plan.lineNumbers).map { job, line in
            NewJob(id: job.jobID, line: line, parameters: job.parameters, maxAttempts: maxAttempts)
        }
        try repository.createBatch(NewBatch(id: plan.batchID, name: name, source: source), jobs: jobs)
        try enqueue(plan.jobs)
    }

    /// Produces job records and marks them enqueued once the broker has acknowledged them.
    public func enqueue(_ jobs: [JobMessage]) throws {
        var start = 0
        while start < jobs.count {
            let chunk = jobs[start..<min(start + chunkSize, jobs.count)]
            let reports = try producer.sendBatch(chunk.map { $0.record() })
            let delivered = zip(chunk, reports).compactMap { job, report in report.error == nil ? job.jobID : nil }
            try repository.markEnqueued(delivered)
            if let failed = reports.first(where: { $0.error != nil })?.error {
                throw failed
            }
            start += chunk.count
        }
    }
}

extension JobRecord {
    /// The Kafka record for a stored job (its next delivery).
    public var message: JobMessage {
        JobMessage(jobID: id, batchID: batchID, prompt: parameters.prompt, seed: parameters.seed, width: parameters.width,
                   height: parameters.height, steps: parameters.steps, guidance: parameters.guidance,
                   model: parameters.model, attempt: attempt)
    }
}
