import FluxModel
import Foundation
import JobModel
import JobQueue
import JobStore
import Logging

/// What became of one consumed record (for logs, metrics and tests).
public enum JobOutcome: Sendable, Equatable {
    case succeeded(UUID)
    /// A duplicate delivery or a canceled job: nothing was generated.
    case skipped(UUID, JobState)
    case willRetry(UUID, nextAttempt: Int)
    case failed(UUID, String)
    /// The record had no readable job id; it went to the dead-letter topic.
    case deadLettered(String)
    /// The worker is shutting down and handed the job back unfinished; its offset was not stored.
    case givenBack(UUID)
}

/// Everything a worker needs to process one record: consume → claim → generate → store → record → offset.
/// Used from the consumer's owner thread only.
public final class JobProcessor {
    public let workerID: String
    let repository: JobRepository
    let producer: KafkaProducer
    let generator: any ImageGenerator
    let images: ImageStore
    let limits: JobLimits
    let retryPolicy: RetryPolicy
    let jobTimeoutSeconds: Double
    let shutdown: WorkerShutdown
    var logger: Logger
    /// Counts outcomes, dead letters and the timings of succeeded jobs (nil: not measured).
    let metrics: WorkerMetrics?
    /// Where the last processed record's time went when it was claimed and generated (nil otherwise).
    public private(set) var lastTiming: JobPathTiming?
    private var timing = JobPathTiming()

    public init(workerID: String, repository: JobRepository, producer: KafkaProducer, generator: any ImageGenerator,
                images: ImageStore, limits: JobLimits = .standard, retryPolicy: RetryPolicy = RetryPolicy(),
                jobTimeoutSeconds: Double, shutdown: WorkerShutdown, logger: Logger, metrics: WorkerMetrics? = nil) {
        self.metrics = metrics
        self.workerID = workerID
        self.repository = repository
        self.producer = producer
        self.generator = generator
        self.images = images
        self.limits = limits
        self.retryPolicy = retryPolicy
        self.jobTimeoutSeconds = jobTimeoutSeconds
        self.shutdown = shutdown
        self.logger = logger
    }

    /// Processes `record` to a recorded outcome, then stores its offset (unless the job was handed
    /// back). Errors thrown are infrastructure failures (database or broker unreachable): the offset is
    /// not stored and the record will be delivered again.
    public func process(_ record: ConsumedMessage, runner: PollingJobRunner) throws -> JobOutcome {
        lastTiming = nil
        timing = JobPathTiming()
        let outcome = try handle(record, runner: runner)
        if case .givenBack = outcome { return outcome }
        // The outcome is committed in Postgres at this point; the offset follows.
        metrics?.record(outcome)
        do {
            try runner.consumer.storeOffset(for: record)
        } catch let error as KafkaError where error.isNotAssigned {
            // A rebalance took the partition while the job ran: the outcome is recorded, so the new owner
            // skips the record as finished. Not an infrastructure failure; move on.
            logger.info("partition revoked before the offset was stored; its new owner will skip the finished job",
                        metadata: JobMessage.logMetadata(record))
            return outcome
        }
        if timing.claimStarted != 0 && timing.recorded != 0 {
            timing.offsetStored = DispatchTime.now().uptimeNanoseconds
            lastTiming = timing
        }
        return outcome
    }

    func handle(_ record: ConsumedMessage, runner: PollingJobRunner) throws -> JobOutcome {
        let job: JobMessage
        do {
            job = try JobMessage.parse(record, limits: limits)
        } catch let error as JobMessageError {
            switch error {
            case .unidentifiable(let reason):
                logger.warning("dead-lettering a record without a job id", metadata: [
                    "partition": "\(record.partition)", "offset": "\(record.offset)", "error": "\(reason)"])
                try producer.deadLetter(record, error: error.description)
                metrics?.deadLettered(.unidentifiable)
                return .deadLettered(reason)
            case .invalid(let jobID, _):
                return try reject(jobID: jobID, batchID: JobMessage.readableBatchID(record), parameters: nil,
                                  message: error.description, record: record)
            }
        }
        var log = logger
        log[metadataKey: "job_id"] = "\(job.key)"
        log[metadataKey: "batch_id"] = "\(job.batchID.uuidString.lowercased())"
        log[metadataKey: "attempt"] = "\(job.attempt)"

        let model = job.parameters.model ?? JobSettings.defaultModel
        guard generator.modelNames.contains(model) else {
            let message = "unknown model '\(model)'; this worker serves: \(generator.modelNames.joined(separator: ", "))"
            return try reject(jobID: job.jobID, batchID: job.batchID, parameters: job.parameters, message: message, record: record)
        }

        // A retried record waits for its backoff, polling all the while.
        if let notBefore = record.notBefore, notBefore > Date() {
            let shutdown = self.shutdown
            try runner.wait(seconds: notBefore.timeIntervalSinceNow, until: { shutdown.isPastDeadline })
            if shutdown.isRequested { return .givenBack(job.jobID) }
        }

        timing.claimStarted = DispatchTime.now().uptimeNanoseconds
        let defaults = generator.defaults
        var claim = try repository.claim(jobID: job.jobID, workerID: workerID, defaults: defaults)
        if claim == .notFound {
            // Produced by another client straight to the topic: record it, then claim it.
            try repository.ensureJob(NewJob(id: job.jobID, parameters: job.parameters, maxAttempts: retryPolicy.maxAttempts),
                                     batchID: job.batchID)
            claim = try repository.claim(jobID: job.jobID, workerID: workerID, defaults: defaults)
        }
        let claimed: JobRecord
        switch claim {
        case .claimed(let record): claimed = record
        case .skipped(let state):
            log.info("skipping job", metadata: ["state": "\(state.rawValue)"])
            return .skipped(job.jobID, state)
        case .notFound:
            throw JobStoreError.jobNotFound(job.jobID)
        }
        // The row is the truth: its parameters (with the model's defaults filled in by the claim) are generated,
        // and the image goes under its batch. A record that says otherwise (forged, or from a producer that
        // reuses job ids) changes nothing, and is reported.
        let parameters = claimed.parameters
        let batchID = claimed.batchID
        let disagreeing = Self.fieldsDisagreeing(record: job, row: claimed, defaults: defaults)
        if !disagreeing.isEmpty {
            log.warning("the record disagrees with its job's row; generating the row's parameters under the row's batch",
                        metadata: ["fields": "\(disagreeing.joined(separator: ","))",
                                   "row_batch_id": "\(batchID.uuidString.lowercased())"])
        }
        log.info("generating", metadata: ["prompt_chars": "\(parameters.prompt.count)", "steps": "\(parameters.steps ?? 0)",
                                           "size": "\(parameters.width ?? 0)x\(parameters.height ?? 0)"])

        let started = DispatchTime.now().uptimeNanoseconds
        timing.claimed = started
        let generator = self.generator
        let images = self.images
        // Every PNG says how it was made (the row's parameters with the model's defaults, as generated).
        let metadata = GenerationMetadata(jobID: job.jobID, batchID: batchID, parameters: parameters.filling(from: defaults),
                                          modelSHA256: generator.modelSHA256, ternfluxVersion: WorkerVersion.current)
        let text = try metadata.textChunks().map { PNGTextChunk(keyword: $0.keyword, text: $0.text) }
        let run = try runner.run(timeoutSeconds: jobTimeoutSeconds, deadline: shutdown.deadline) { cancellation in
            let generateStart = DispatchTime.now().uptimeNanoseconds
            let image = try generator.generate(parameters, cancellation: cancellation)
            let generateNanos = DispatchTime.now().uptimeNanoseconds - generateStart
            if cancellation.isCancelled { throw GenerationCancelled(reason: "cancelled after generation") }
            let encoded = try images.store(image.image, batchID: batchID, jobID: job.jobID, text: text)
            return (image.timings, encoded, generateNanos)
        }

        let failure: String
        switch run {
        case .finished(.success(let (timings, encoded, generateNanos))):
            let (stored, storeSeconds) = (encoded.stored, encoded.storeSeconds)
            let generated = DispatchTime.now().uptimeNanoseconds
            let total = Double(generated - started) / 1e9
            timing.generated = generated
            timing.generateNanos = generateNanos
            timing.storeNanos = saturatingNanoseconds(storeSeconds)
            let jobTimings = JobTimings(tokenizeEncode: timings.tokenizeEncode, denoiseSteps: timings.denoiseSteps,
                                        vaeDecode: timings.vaeDecode, pngEncode: encoded.pngEncodeSeconds, store: storeSeconds,
                                        total: total, peakRSSBytes: ProcessMemory.peakResidentBytes())
            let recorded = try repository.recordSuccess(
                jobID: job.jobID, workerID: workerID,
                output: JobOutput(uri: stored.url.path, sha256: stored.sha256, bytes: Int64(stored.bytes)),
                timings: jobTimings)
            timing.recorded = DispatchTime.now().uptimeNanoseconds
            if case .alreadyFinished(let state, _) = recorded {
                log.info("job finished elsewhere meanwhile; result not recorded twice", metadata: ["state": "\(state.rawValue)"])
                return .skipped(job.jobID, state)
            }
            var queueWait = 0.0
            if let startedAt = claimed.startedAt { queueWait = startedAt.timeIntervalSince(claimed.enqueuedAt ?? claimed.createdAt) }
            metrics?.observe(jobTimings, queueWaitSeconds: queueWait)
            log.info("succeeded", metadata: ["seconds": "\(String(format: "%.3f", total))", "bytes": "\(stored.bytes)"])
            return .succeeded(job.jobID)
        case .finished(.failure(let error)):
            if shutdown.isRequested, error is GenerationCancelled { return try handBack(job, logger: log) }
            if let stopped = error as? GenerationCancelled {
                // Cancelled by the time limit and stopped within the grace period.
                let elapsed = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
                let verdict = timeLimitFailure(elapsed: elapsed, stepsDone: stopped.stepsDone ?? 0, totalSteps: stopped.totalSteps ?? 0)
                return try recordFailure(job: job, message: verdict.message, terminal: verdict.terminal, record: record, logger: log)
            }
            failure = "\(error)"
            if error is ImageStoreError, case .outsideRoot? = error as? ImageStoreError {
                // A link in the output tree stays a link: retrying cannot help.
                return try recordFailure(job: job, message: failure, terminal: true, record: record, logger: log)
            }
        case .timedOut(let elapsed, let progress):
            if shutdown.isRequested { return try handBack(job, logger: log) }
            let verdict = timeLimitFailure(elapsed: elapsed, stepsDone: progress.stepsDone, totalSteps: progress.totalSteps)
            return try recordFailure(job: job, message: verdict.message, terminal: verdict.terminal, record: record, logger: log)
        }
        return try recordFailure(job: job, message: failure, record: record, logger: log)
    }

    /// A job stopped by the time limit: terminal when the steps it did say the whole job needs more than the
    /// limit (a retry would time out again), else retried (a slow moment, or a phase after the steps).
    func timeLimitFailure(elapsed: Double, stepsDone: Int, totalSteps: Int) -> (message: String, terminal: Bool) {
        let limit = Int(jobTimeoutSeconds)
        guard stepsDone > 0, totalSteps > 0 else {
            return ("job exceeded the worker's time limit of \(limit) s", false)
        }
        let perStep = elapsed / Double(stepsDone)
        let projected = perStep * Double(totalSteps)
        let done = "after \(stepsDone) of \(totalSteps) denoising steps"
        if projected > jobTimeoutSeconds {
            return ("job exceeded the worker's time limit of \(limit) s \(done) (about \(Self.seconds(perStep)) a step here: the "
                    + "whole job needs about \(Self.seconds(projected))); not retried: raise the worker's --job-timeout or lower "
                    + "the job's size or steps", true)
        }
        return ("job exceeded the worker's time limit of \(limit) s \(done)", false)
    }

    static func seconds(_ value: Double) -> String { value >= 10 ? "\(Int(value.rounded())) s" : String(format: "%.1f s", value) }

    /// The fields in which a record differs from its job's claimed row (unset settings of the record compared as
    /// the model's defaults, which the claim wrote into the row).
    static func fieldsDisagreeing(record: JobMessage, row: JobRecord, defaults: JobSettings) -> [String] {
        let r = record.parameters.filling(from: defaults), w = row.parameters
        var fields: [String] = []
        if record.batchID != row.batchID { fields.append("batch_id") }
        if r.prompt != w.prompt { fields.append("prompt") }
        if r.seed != w.seed { fields.append("seed") }
        if r.width != w.width { fields.append("width") }
        if r.height != w.height { fields.append("height") }
        if r.steps != w.steps { fields.append("steps") }
        if r.guidance != w.guidance { fields.append("guidance") }
        if (r.model ?? JobSettings.defaultModel) != (w.model ?? JobSettings.defaultModel) { fields.append("model") }
        if r.negativePrompt != w.negativePrompt { fields.append("negative_prompt") }
        if r.trueCFGScale != w.trueCFGScale { fields.append("true_cfg_scale") }
        return fields
    }

    /// Shutting down and the grace period passed: the job goes back to queued unfinished and its offset is
    /// not stored, so the group delivers it again.
    func handBack(_ job: JobMessage, logger log: Logger) throws -> JobOutcome {
        try repository.release(jobID: job.jobID, workerID: workerID)
        log.notice("shutting down: job handed back unfinished")
        return .givenBack(job.jobID)
    }

    /// A failed attempt: retried with backoff while attempts remain, else failed and dead-lettered.
    func recordFailure(job: JobMessage, message: String, terminal: Bool = false, record: ConsumedMessage,
                       logger log: Logger) throws -> JobOutcome {
        switch try repository.recordFailure(jobID: job.jobID, workerID: workerID, message: message, terminal: terminal) {
        case .willRetry(let next, let max):
            log.warning("attempt failed; retrying", metadata: ["error": "\(message)", "next_attempt": "\(next)/\(max)"])
            try producer.retry(job, policy: retryPolicy, error: message)
            try repository.markEnqueued([job.jobID])
            return .willRetry(job.jobID, nextAttempt: next)
        case .failed(let attempts):
            log.error("failed for good", metadata: ["error": "\(message)", "attempts": "\(attempts)"])
            try producer.deadLetter(record, error: message, attempt: job.attempt)
            metrics?.deadLettered(.maxAttempts)
            return .failed(job.jobID, message)
        case .alreadyFinished(let state):
            return .skipped(job.jobID, state)
        case .notFound:
            throw JobStoreError.jobNotFound(job.jobID)
        }
    }

    /// A job that can never run (bad parameters, unknown model): failed at once, never retried.
    func reject(jobID: UUID, batchID: UUID?, parameters: JobParameters?, message: String, record: ConsumedMessage) throws -> JobOutcome {
        var metadata = JobMessage.logMetadata(record)
        metadata["job_id"] = "\(jobID.uuidString.lowercased())"
        if let batchID { metadata["batch_id"] = "\(batchID.uuidString.lowercased())" }
        metadata["error"] = "\(message)"
        logger.warning("rejecting job", metadata: metadata)
        _ = try repository.recordRejection(jobID: jobID, batchID: batchID, parameters: parameters, workerID: workerID, message: message)
        return .failed(jobID, message)
    }
}

extension JobMessage {
    /// Log metadata naming the job of a record as far as it can be read (job id, batch id, attempt),
    /// plus where the record is; for lines logged before or without a parsed job.
    public static func logMetadata(_ record: ConsumedMessage) -> Logger.Metadata {
        var metadata: Logger.Metadata = ["partition": "\(record.partition)", "offset": "\(record.offset)"]
        let object = try? JSONSerialization.jsonObject(with: Data(record.value)) as? [String: Any]
        if let id = object?["job_id"] as? String {
            metadata["job_id"] = "\(id.lowercased())"
        } else if let key = record.key, let id = String(bytes: key, encoding: .utf8) {
            metadata["job_id"] = "\(id)"
        }
        if let batch = object?["batch_id"] as? String { metadata["batch_id"] = "\(batch.lowercased())" }
        if let attempt = object?["attempt"] as? Int { metadata["attempt"] = "\(attempt)" }
        return metadata
    }

    /// The batch id of an invalid record when its value still names one.
    static func readableBatchID(_ record: ConsumedMessage) -> UUID? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(record.value)) as? [String: Any],
              let text = object["batch_id"] as? String else { return nil }
        return UUID(uuidString: text)
    }
}

/// Monotonic stamps (DispatchTime nanoseconds) of one successfully processed record, for measuring the
/// queue and database path: claim, generation (and image store) off the owner thread, the result's
/// transaction, and the stored offset. A few clock reads per job.
public struct JobPathTiming: Sendable, Equatable {
    /// Before the claim transaction.
    public var claimStarted: UInt64 = 0
    /// After the claim committed (generation is handed to its thread next).
    public var claimed: UInt64 = 0
    /// Back on the owner thread with the generated and stored image.
    public var generated: UInt64 = 0
    /// After the success (result + timings) transaction committed.
    public var recorded: UInt64 = 0
    /// After the offset was stored.
    public var offsetStored: UInt64 = 0
    /// Time inside `ImageGenerator.generate`.
    public var generateNanos: UInt64 = 0
    /// Time writing the PNG (write, fsync, rename).
    public var storeNanos: UInt64 = 0

    public init() {}

    /// Claim to offset stored, less the generation itself: what the queue, the database and the
    /// image store add to each job.
    public var overheadNanos: UInt64 { offsetStored - claimStarted - min(generateNanos, offsetStored - claimStarted) }
    /// The overhead less the image write: what the queue and the database alone add.
    public var queueDatabaseNanos: UInt64 { overheadNanos - min(storeNanos, overheadNanos) }
    public var claimNanos: UInt64 { claimed - claimStarted }
    /// Handing generation to its thread and back, plus storing the image, less the generation.
    public var handoffAndStoreNanos: UInt64 { (generated - claimed) - min(generateNanos, generated - claimed) }
    public var recordNanos: UInt64 { recorded - generated }
    public var offsetNanos: UInt64 { offsetStored - recorded }
}
