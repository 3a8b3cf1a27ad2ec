import Foundation
import JobQueue

/// Runs a worker's jobs off the consumer's owner thread while the owner keeps polling, so heartbeats,
/// rebalances and `max.poll.interval.ms` stay healthy however long a job takes; and hands out records in
/// order, the ones that arrived during a job first.
///
/// While a job runs, records that arrive are held, not handed out. Holding keeps what librdkafka had
/// already fetched (pausing drops it, and fetching resumes only ~0.5 s after a resume), so the next job
/// starts at once; after `maxRecordsHeldDuringJob` the assignment is paused, which bounds what one busy
/// member keeps. Held records of partitions that are revoked are dropped: their new owner consumes them.
///
/// Used from the owner thread only (the consumer's rule); the job itself never touches the consumer.
public final class PollingJobRunner {
    public let consumer: KafkaConsumer
    /// Records that arrived while a job ran or while waiting, handed out by `nextRecord` before new ones.
    private var held: [ConsumedMessage] = []
    /// Runs the jobs; replaced when a job was abandoned still running.
    private var jobThread: JobThread?
    public static let maxRecordsHeldDuringJob = 8

    public init(consumer: KafkaConsumer) {
        self.consumer = consumer
        consumer.onRevoked = { [unowned self] partitions in
            let gone = Set(partitions)
            self.held.removeAll { gone.contains(TopicPartition(topic: $0.topic, partition: $0.partition)) }
        }
    }

    deinit {
        consumer.onRevoked = nil
        jobThread?.retire()
    }

    /// Records held for after a job (at most `maxRecordsHeldDuringJob` before the pause, plus any that still
    /// arrive while paused).
    public var heldRecordCount: Int { held.count }

    /// The next record: a held one, else one polled within `timeoutMilliseconds`.
    public func nextRecord(timeoutMilliseconds: Int32) throws -> ConsumedMessage? {
        if !held.isEmpty { return held.removeFirst() }
        return try consumer.poll(timeoutMilliseconds: timeoutMilliseconds)
    }

    /// Polls for `seconds` (a retry's backoff, a wait before trying the database again), holding what arrives
    /// as during a job (paused at the cap, resumed at the end); returns early once `stop()` is true.
    public func wait(seconds: Double, until stop: () -> Bool = { false }) throws {
        let end = uptimeDeadline(from: DispatchTime.now().uptimeNanoseconds, afterSeconds: seconds)
        while !stop() {
            let now = DispatchTime.now().uptimeNanoseconds
            if now >= end { break }
            if !consumer.isPaused && held.count >= Self.maxRecordsHeldDuringJob { try consumer.pauseAssignment() }
            held += try consumer.poll(for: min(0.1, Double(end - now) / 1e9), until: stop)
        }
        if consumer.isPaused { try consumer.resumeAssignment() }
    }

    /// Runs `job` on the job thread while this (owner) thread keeps polling, then resumes the assignment
    /// if it was paused.
    ///
    /// - Parameters:
    ///   - timeoutSeconds: the per-job limit. librdkafka resets `max.poll.interval.ms` on any queue poll, so
    ///     the group can never notice a stuck job: this is the only limit. When it passes, the job's
    ///     `JobCancellation` is cancelled and the owner waits up to `graceSeconds` more for the job to return
    ///     before giving up on it (`.timedOut`: the job keeps its thread until it stops, and the next `run` waits for
    ///     that; its eventual result is discarded).
    ///   - fastPathMilliseconds: how long to wait for the job before polling at all: a short job then keeps
    ///     the records fetched meanwhile and costs no poll.
    ///   - deadline: an uptime (nanoseconds, `DispatchTime.now().uptimeNanoseconds`) after which the job is
    ///     cancelled as if its time limit had passed — the worker's shutdown grace period; nil while none.
    public func run<T: Sendable>(timeoutSeconds: Double?, graceSeconds: Double = 5, pollIntervalMilliseconds: Int32 = 100,
                                 fastPathMilliseconds: Int32 = 50, deadline: () -> UInt64? = { nil },
                                 _ job: @escaping @Sendable (JobCancellation) throws -> T) throws -> JobRunOutcome<T> {
        let box = JobResultBox<T>()
        let cancellation = JobCancellation()
        let consumer = self.consumer
        try waitForStoppingJob()
        if jobThread == nil || jobThread!.isBusy {
            jobThread?.retire() // a job that never stopped still runs there: the thread exits once it returns
            jobThread = JobThread(name: "ternflux-job")
        }
        let started = DispatchTime.now().uptimeNanoseconds
        jobThread!.run {
            let result = Result { try job(cancellation) }
            return {
                box.set(result)
                // Ends the owner's poll so the job's end is noticed at once, not after the interval.
                consumer.wakeUp()
            }
        }
        if let result = box.wait(milliseconds: min(pollIntervalMilliseconds, fastPathMilliseconds)) {
            return .finished(result)
        }
        var outcome: JobRunOutcome<T>?
        while true {
            if !consumer.isPaused && held.count >= Self.maxRecordsHeldDuringJob { try consumer.pauseAssignment() }
            if let result = box.get() { outcome = .finished(result); break }
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            var limit = timeoutSeconds
            if let d = deadline() {
                let untilDeadline = d > started ? Double(d - started) / 1e9 : 0
                limit = min(limit ?? untilDeadline, untilDeadline)
            }
            if let limit {
                if elapsed >= limit { cancellation.cancel() }
                if elapsed >= limit + graceSeconds { break }
            }
            if let record = try consumer.poll(timeoutMilliseconds: pollIntervalMilliseconds) { held.append(record) }
        }
        if consumer.isPaused { try consumer.resumeAssignment() }
        return outcome ?? .timedOut(elapsedSeconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9,
                                    progress: cancellation.progress)
    }

    /// How long the next job waits for a cancelled one that has not stopped yet before giving up on its thread.
    public var stoppingJobWaitSeconds = 600.0

    /// A job that timed out is cancelled but may still be finishing a step: wait for it (polling, so the
    /// membership holds) before the next job starts, so two generations never share the cores — up to
    /// `stoppingJobWaitSeconds`, after which its thread is abandoned.
    func waitForStoppingJob() throws {
        guard let thread = jobThread, thread.isBusy else { return }
        try wait(seconds: stoppingJobWaitSeconds, until: { !thread.isBusy })
    }
}

/// Set when a job passed its time limit or must be given back; a job checks it between steps and stops. The job
/// also reports its progress here, so a timed-out job can say how far it got and how long the whole would take.
public final class JobCancellation: @unchecked Sendable {
    private let lock = NSLock()
    private var cancelled = false
    private var done = 0, total = 0

    public init() {}

    public var isCancelled: Bool {
        lock.lock(); defer { lock.unlock() }
        return cancelled
    }

    public func cancel() {
        lock.lock(); cancelled = true; lock.unlock()
    }

    /// `stepsDone` of `totalSteps` denoising steps are finished.
    public func reportProgress(stepsDone: Int, totalSteps: Int) {
        lock.lock(); (done, total) = (stepsDone, totalSteps); lock.unlock()
    }

    public var progress: (stepsDone: Int, totalSteps: Int) {
        lock.lock(); defer { lock.unlock() }
        return (done, total)
    }
}

/// How a job run under `PollingJobRunner.run` ended.
public enum JobRunOutcome<T: Sendable>: Sendable {
    /// The job returned (or threw) — possibly after cancellation asked it to stop.
    case finished(Result<T, Error>)
    /// The job did not return within timeout + grace: it is cancelled and still stopping on the job thread, which
    /// the next `run` waits for (so two jobs never run at once). `elapsed` is the time it was given; `progress`
    /// how far it had got.
    case timedOut(elapsedSeconds: Double, progress: (stepsDone: Int, totalSteps: Int))
}

/// One long-lived thread that runs jobs one at a time: starting a thread per job costs milliseconds on a
/// busy machine. A job's work returns what publishes its result; the thread counts as idle again before
/// publishing, so the owner can hand it the next job as soon as it sees the result.
private final class JobThread: @unchecked Sendable {
    private let condition = NSCondition()
    private var work: (() -> (() -> Void))?
    private var busy = false
    private var retired = false

    init(name: String) {
        let thread = Thread { [self] in loop() }
        thread.name = name
        thread.start()
    }

    var isBusy: Bool { condition.lock(); defer { condition.unlock() }; return busy }

    func run(_ job: @escaping () -> (() -> Void)) {
        condition.lock()
        work = job
        busy = true
        condition.signal()
        condition.unlock()
    }

    /// Lets the thread exit once it is idle (after a job still running returns).
    func retire() {
        condition.lock()
        retired = true
        condition.signal()
        condition.unlock()
    }

    private func loop() {
        while true {
            condition.lock()
            while work == nil && !retired { condition.wait() }
            guard let job = work else { condition.unlock(); return }
            work = nil
            condition.unlock()
            let publish = job()
            condition.lock()
            busy = false
            condition.unlock()
            publish()
        }
    }
}

private final class JobResultBox<T: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private var result: Result<T, Error>?

    func set(_ r: Result<T, Error>) { condition.lock(); result = r; condition.broadcast(); condition.unlock() }
    func get() -> Result<T, Error>? { condition.lock(); defer { condition.unlock() }; return result }

    /// The result once set, waiting up to `milliseconds` for it.
    func wait(milliseconds: Int32) -> Result<T, Error>? {
        let until = Date().addingTimeInterval(Double(milliseconds) / 1000)
        condition.lock()
        defer { condition.unlock() }
        while result == nil && condition.wait(until: until) {}
        return result
    }
}
