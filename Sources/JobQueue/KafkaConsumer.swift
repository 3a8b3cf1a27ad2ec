import CRdKafka
import Foundation

/// A consumer-group member over librdkafka.
///
/// The thread that calls `poll` is the one polling owner: rebalance callbacks, errors and
/// statistics are all served inside its `poll` calls. While a job runs, the owner pauses the
/// assigned partitions and keeps polling (`runWhilePolling`) so heartbeats, rebalances and
/// `max.poll.interval.ms` stay healthy however long the job takes; the job itself runs on a
/// separate thread and never touches the consumer.
///
/// Not thread-safe: one owner thread calls every method.
public final class KafkaConsumer: @unchecked Sendable {
    let handle: OpaquePointer
    private let events: ClientEvents
    private let onRebalance: (@Sendable (RebalanceEvent) -> Void)?
    private let consumerQueue: OpaquePointer
    private var assigned: Set<TopicPartition> = []
    private var paused = false
    /// True while `runWhilePolling` polls for a running job without having paused yet: records
    /// that arrive are held instead of handed out.
    private var holding = false
    /// Records that arrived while a job ran (fetched before the pause, or the few that still arrive
    /// while paused): handed out by `poll` after the job, in order, dropped if their partition is revoked.
    var held: [ConsumedMessage] = []
    /// How many records a job may hold before the assignment is paused. Holding keeps the records
    /// librdkafka had already fetched (pausing drops them, and fetching resumes only ~0.5 s after the
    /// resume), so the next job starts at once; the cap bounds what one member keeps while busy.
    public static let maxRecordsHeldDuringJob = 8
    private var closed = false
    /// Runs `runWhilePolling`'s jobs; replaced when a job was abandoned still running.
    private var jobThread: JobThread?

    public init(configuration: KafkaConsumerConfiguration) throws {
        guard !configuration.topics.isEmpty else {
            throw KafkaError(code: nil, operation: "creating the consumer", message: "no topics to subscribe to")
        }
        let conf = try configuration.clientConfiguration().makeConf()
        events = ClientEvents(onError: configuration.onError, onStatistics: configuration.onStatistics)
        onRebalance = configuration.onRebalance
        events.install(on: conf)
        rd_kafka_conf_set_rebalance_cb(conf, consumerRebalanceCallback)
        handle = try makeKafkaHandle(type: RD_KAFKA_CONSUMER, conf: conf, role: "consumer")
        // Route the main queue (errors, statistics) to the consumer queue so `poll` serves all.
        rd_kafka_poll_set_consumer(handle)
        consumerQueue = rd_kafka_queue_get_consumer(handle)
        events.rebalance = { [unowned self] rk, err, partitions in self.rebalance(rk, err, partitions) }

        let list = rd_kafka_topic_partition_list_new(Int32(configuration.topics.count))!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for topic in configuration.topics {
            rd_kafka_topic_partition_list_add(list, topic, RD_KAFKA_PARTITION_UA)
        }
        let err = rd_kafka_subscribe(handle, list)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            rd_kafka_queue_destroy(consumerQueue)
            rd_kafka_destroy(handle)
            throw KafkaError(err, operation: "subscribing to \(configuration.topics.joined(separator: ", "))")
        }
    }

    deinit {
        // `self` can no longer be referenced from callbacks; librdkafka's revoke during close is
        // then answered by the plain fallback in the C callback.
        events.rebalance = nil
        try? close()
    }

    /// The partitions currently assigned to this member.
    public var assignment: Set<TopicPartition> { assigned }

    /// True while `pauseAssignment` is in effect.
    public var isPaused: Bool { paused }

    /// Records fetched while a job ran and held for after it (at most `maxRecordsHeldDuringJob`
    /// before the pause, plus any that still arrive while paused).
    var heldRecordCount: Int { held.count }

    public var lastClientError: KafkaError? { events.lastError }
    public var lastStatistics: String? { events.lastStatistics }

    /// Returns the next record, or nil when none arrived within the timeout. Serves rebalances and
    /// events. Throws only on a fatal consumer error; other errors go to `onError`.
    public func poll(timeoutMilliseconds: Int32 = 100) throws -> ConsumedMessage? {
        if !paused, !holding, !held.isEmpty { return held.removeFirst() }
        guard let m = rd_kafka_consumer_poll(handle, timeoutMilliseconds) else { return nil }
        defer { rd_kafka_message_destroy(m) }
        let err = m.pointee.err
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            let text = String(cString: rd_kafka_message_errstr(m))
            let error = KafkaError(code: err.rawValue, operation: "consuming", message: text)
            if err == RD_KAFKA_RESP_ERR__FATAL {
                var errstr = [CChar](repeating: 0, count: 512)
                let code = rd_kafka_fatal_error(handle, &errstr, errstr.count)
                throw KafkaError(code: code.rawValue, operation: "consuming (fatal)", message: String(cString: errstr))
            }
            events.onError?(error)
            return nil
        }
        let message = ConsumedMessage(copying: m)
        if paused || holding {
            held.append(message)
            return nil
        }
        return message
    }

    /// Marks `message` as done: its offset + 1 is stored and auto commit will commit it. Call
    /// only after the job's outcome is committed in Postgres. Throws (`isNotAssigned`) when the
    /// partition was revoked meanwhile: the new owner will see the record again.
    public func storeOffset(for message: ConsumedMessage) throws {
        let list = rd_kafka_topic_partition_list_new(1)!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let tp = rd_kafka_topic_partition_list_add(list, message.topic, message.partition)!
        tp.pointee.offset = message.offset + 1
        let err = rd_kafka_offsets_store(handle, list)
        let perPartition = tp.pointee.err
        let failure = err != RD_KAFKA_RESP_ERR_NO_ERROR ? err : perPartition
        if failure != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(failure, operation: "storing offset \(message.offset + 1) for \(message.topic)[\(message.partition)]")
        }
    }

    /// Commits the stored offsets now and waits (at most `timeoutSeconds`) for the broker's answer.
    public func commit(timeoutSeconds: Double = 10) throws {
        guard let queue = rd_kafka_queue_new(handle) else {
            throw KafkaError(code: nil, operation: "committing offsets", message: "rd_kafka_queue_new failed")
        }
        defer { rd_kafka_queue_destroy(queue) }
        let err = rd_kafka_commit_queue(handle, nil, queue, nil, nil)
        if err == RD_KAFKA_RESP_ERR__NO_OFFSET { return }
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(err, operation: "committing offsets") }
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(timeoutSeconds * 1e9)
        while DispatchTime.now().uptimeNanoseconds < deadline {
            guard let event = rd_kafka_queue_poll(queue, 100) else { continue }
            defer { rd_kafka_event_destroy(event) }
            guard rd_kafka_event_type(event) == RD_KAFKA_EVENT_OFFSET_COMMIT else { continue }
            let result = rd_kafka_event_error(event)
            if result == RD_KAFKA_RESP_ERR_NO_ERROR || result == RD_KAFKA_RESP_ERR__NO_OFFSET { return }
            throw KafkaError(code: result.rawValue, operation: "committing offsets",
                             message: String(cString: rd_kafka_event_error_string(event)))
        }
        throw KafkaError(code: RD_KAFKA_RESP_ERR__TIMED_OUT.rawValue, operation: "committing offsets",
                         message: "no answer from the group coordinator within \(timeoutSeconds) s")
    }

    /// The committed offsets of the group for the given partitions (-1001 = none).
    public func committedOffsets(_ partitions: [TopicPartition], timeoutMilliseconds: Int32 = 5_000) throws -> [TopicPartition: Int64] {
        let list = makeList(partitions)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let err = rd_kafka_committed(handle, list, timeoutMilliseconds)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(err, operation: "reading committed offsets") }
        var result: [TopicPartition: Int64] = [:]
        for (tp, offset) in readList(list) { result[tp] = offset }
        return result
    }

    /// Stops fetching from every assigned partition (and from partitions assigned while paused).
    public func pauseAssignment() throws {
        paused = true
        try setPaused(Array(assigned), pause: true)
    }

    /// Resumes fetching; delivery continues right after the last record returned by `poll`.
    public func resumeAssignment() throws {
        paused = false
        try setPaused(Array(assigned), pause: false)
    }

    /// Runs `job` on its own thread while this (owner) thread keeps polling with the assignment
    /// paused, then resumes. The job must not use the consumer.
    ///
    /// - Parameters:
    ///   - timeoutSeconds: the per-job limit. librdkafka 2.0.2 resets `max.poll.interval.ms` on
    ///     any queue poll, so the group can never notice a stuck job: this is the only limit.
    ///     When it passes, the job's `JobCancellation` is cancelled and the owner waits up to
    ///     `graceSeconds` more for the job to return before giving up on it (`.timedOut`; the
    ///     thread is then abandoned, its eventual result discarded).
    ///   - fastPathMilliseconds: how long to wait for the job before pausing the assignment and polling
    ///     (a short job then keeps the records fetched meanwhile; nothing is polled during the wait).
    ///   - deadline: an uptime (nanoseconds, `DispatchTime.now().uptimeNanoseconds`) after which the job
    ///     is cancelled as if its time limit had passed — the worker's shutdown grace period; nil while none.
    public func runWhilePolling<T: Sendable>(timeoutSeconds: Double?, graceSeconds: Double = 5,
                                             pollIntervalMilliseconds: Int32 = 100, fastPathMilliseconds: Int32 = 50,
                                             deadline: @escaping @Sendable () -> UInt64? = { nil },
                                             _ job: @escaping @Sendable (JobCancellation) throws -> T) throws -> JobRunOutcome<T> {
        let box = JobResultBox<T>()
        let cancellation = JobCancellation()
        let waker = PollWaker(queue: consumerQueue)
        defer { waker.disarm() }
        if jobThread == nil || jobThread!.isBusy {
            jobThread?.retire() // an abandoned job still runs there: it exits once that job returns
            jobThread = JobThread(name: "ternflux-job")
        }
        let started = DispatchTime.now().uptimeNanoseconds
        jobThread!.run {
            let result = Result { try job(cancellation) }
            return {
                box.set(result)
                // Wake the owner's poll so the job's end is noticed at once, not after the interval.
                waker.wake()
            }
        }
        // A job that ends within one poll interval needs no polling: waiting for it without pausing keeps
        // the records already fetched (pausing drops them, and fetching resumes only after a delay).
        if let result = box.wait(milliseconds: min(pollIntervalMilliseconds, fastPathMilliseconds)) {
            return .finished(result)
        }
        // Keep polling without pausing while few records arrive: they are held for the next jobs.
        holding = true
        defer { holding = false }
        var outcome: JobRunOutcome<T> = .timedOut
        while true {
            if !paused && held.count >= Self.maxRecordsHeldDuringJob { try pauseAssignment() }
            if let result = box.get() { outcome = .finished(result); break }
            let now = DispatchTime.now().uptimeNanoseconds
            let elapsed = Double(now - started) / 1e9
            var limit = timeoutSeconds
            if let d = deadline() {
                let untilDeadline = d > started ? Double(d - started) / 1e9 : 0
                limit = min(limit ?? untilDeadline, untilDeadline)
            }
            if let limit {
                if elapsed >= limit { cancellation.cancel() }
                if elapsed >= limit + graceSeconds { break }
            }
            _ = try poll(timeoutMilliseconds: pollIntervalMilliseconds)
        }
        if paused { try resumeAssignment() }
        return outcome
    }

    /// Commits stored offsets, leaves the group (revoking the assignment in order) and releases
    /// the client. The commit and the leave are bounded by `timeoutSeconds` even when no broker
    /// answers (then the stored-but-uncommitted records are redelivered to the next owner); after
    /// an unconfirmed leave, librdkafka's handle destroy blocks up to about `session.timeout.ms`
    /// more. Safe to call more than once.
    public func close(timeoutSeconds: Double = 10) throws {
        if closed { return }
        closed = true
        jobThread?.retire()
        jobThread = nil
        let start = DispatchTime.now().uptimeNanoseconds
        func remaining() -> Double { max(0.5, timeoutSeconds - Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) }
        var firstError: KafkaError?
        do { try commit(timeoutSeconds: timeoutSeconds / 2) } catch let e as KafkaError { firstError = e }

        // rd_kafka_consumer_close can block for a long time without a coordinator; the queue
        // variant lets us bound the wait while still serving the revoke.
        var finished = false
        if let queue = rd_kafka_queue_new(handle) {
            if let error = rd_kafka_consumer_close_queue(handle, queue) {
                let e = KafkaError(takingError: error, operation: "leaving the consumer group")
                if firstError == nil { firstError = e }
            } else {
                let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(remaining() * 1e9)
                while rd_kafka_consumer_closed(handle) == 0 && DispatchTime.now().uptimeNanoseconds < deadline {
                    guard let event = rd_kafka_queue_poll(queue, 100) else { continue }
                    if rd_kafka_event_type(event) == RD_KAFKA_EVENT_REBALANCE,
                       let list = rd_kafka_event_topic_partition_list(event) {
                        rebalance(handle, rd_kafka_event_error(event), list)
                    }
                    rd_kafka_event_destroy(event)
                }
                finished = rd_kafka_consumer_closed(handle) != 0
                if !finished && firstError == nil {
                    firstError = KafkaError(code: RD_KAFKA_RESP_ERR__TIMED_OUT.rawValue, operation: "leaving the consumer group",
                                            message: "not confirmed within \(timeoutSeconds) s; the group will expire this member after session.timeout.ms")
                }
            }
            rd_kafka_queue_destroy(queue)
        }
        rd_kafka_queue_destroy(consumerQueue)
        // Without a finished close, destroy must not attempt another (unbounded) one.
        rd_kafka_destroy_flags(handle, finished ? 0 : Int32(RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE))
        if let firstError { throw firstError }
    }

    // MARK: - Rebalance

    fileprivate func rebalance(_ rk: OpaquePointer, _ err: rd_kafka_resp_err_t,
                               _ partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) {
        let cooperative = String(cString: rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE"
        let changed = readList(partitions).map { $0.0 }
        switch err {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            if cooperative {
                if let error = rd_kafka_incremental_assign(rk, partitions) {
                    events.onError?(KafkaError(takingError: error, operation: "incremental assign"))
                    return
                }
            } else {
                let e = rd_kafka_assign(rk, partitions)
                if e != RD_KAFKA_RESP_ERR_NO_ERROR { events.onError?(KafkaError(e, operation: "assign")); return }
                assigned = []
            }
            assigned.formUnion(changed)
            // A member that is mid-job keeps everything paused, new partitions included.
            if paused { try? setPaused(changed, pause: true) }
            onRebalance?(.assigned(changed))
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            let lost = rd_kafka_assignment_lost(rk) != 0
            if cooperative {
                if let error = rd_kafka_incremental_unassign(rk, partitions) {
                    events.onError?(KafkaError(takingError: error, operation: "incremental unassign"))
                }
                assigned.subtract(changed)
            } else {
                _ = rd_kafka_assign(rk, nil)
                assigned = []
            }
            let gone = Set(changed)
            held.removeAll { gone.contains(TopicPartition(topic: $0.topic, partition: $0.partition)) }
            onRebalance?(.revoked(changed, lost: lost))
        default:
            events.onError?(KafkaError(err, operation: "rebalance"))
            _ = rd_kafka_assign(rk, nil)
            assigned = []
            held = []
        }
    }

    private func setPaused(_ partitions: [TopicPartition], pause: Bool) throws {
        if partitions.isEmpty { return }
        let list = makeList(partitions)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let err = pause ? rd_kafka_pause_partitions(handle, list) : rd_kafka_resume_partitions(handle, list)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(err, operation: pause ? "pausing partitions" : "resuming partitions")
        }
    }
}

/// Set when a job passed its time limit; a job checks it between steps and stops early.
public final class JobCancellation: @unchecked Sendable {
    private let lock = NSLock()
    private var cancelled = false

    public init() {}

    public var isCancelled: Bool {
        lock.lock(); defer { lock.unlock() }
        return cancelled
    }

    public func cancel() {
        lock.lock(); cancelled = true; lock.unlock()
    }
}

/// How a job run under `runWhilePolling` ended.
public enum JobRunOutcome<T: Sendable>: Sendable {
    /// The job returned (or threw) — possibly after cancellation asked it to stop.
    case finished(Result<T, Error>)
    /// The job did not return within timeout + grace; its thread was abandoned.
    case timedOut
}

/// Lets a job thread interrupt the owner's poll, but only while the owner is still waiting for
/// it: an abandoned job that finishes later must not touch a queue that may have been destroyed.
private final class PollWaker: @unchecked Sendable {
    private let lock = NSLock()
    private var queue: OpaquePointer?

    init(queue: OpaquePointer) { self.queue = queue }

    func wake() {
        lock.lock(); defer { lock.unlock() }
        if let queue { rd_kafka_queue_yield(queue) }
    }

    func disarm() {
        lock.lock(); queue = nil; lock.unlock()
    }
}

/// One long-lived thread that runs jobs one at a time: starting a thread per job costs milliseconds on
/// a busy machine. A job's work returns what publishes its result; the thread counts as idle again
/// before publishing, so the owner can hand it the next job as soon as it sees the result.
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

func makeList(_ partitions: [TopicPartition]) -> UnsafeMutablePointer<rd_kafka_topic_partition_list_t> {
    let list = rd_kafka_topic_partition_list_new(Int32(max(partitions.count, 1)))!
    for tp in partitions { rd_kafka_topic_partition_list_add(list, tp.topic, tp.partition) }
    return list
}

func readList(_ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) -> [(TopicPartition, Int64)] {
    var result: [(TopicPartition, Int64)] = []
    let l = list.pointee
    for i in 0..<Int(l.cnt) {
        let e = l.elems[i]
        result.append((TopicPartition(topic: String(cString: e.topic), partition: e.partition), e.offset))
    }
    return result
}

private func consumerRebalanceCallback(_ rk: OpaquePointer?, _ err: rd_kafka_resp_err_t,
                                       _ partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?,
                                       _ opaque: UnsafeMutableRawPointer?) {
    guard let rk, let partitions, let opaque else { return }
    let events = Unmanaged<ClientEvents>.fromOpaque(opaque).takeUnretainedValue()
    if let handler = events.rebalance {
        handler(rk, err, partitions)
        return
    }
    let cooperative = String(cString: rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE"
    if cooperative {
        let error = err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS
            ? rd_kafka_incremental_assign(rk, partitions) : rd_kafka_incremental_unassign(rk, partitions)
        if let error { rd_kafka_error_destroy(error) }
    } else {
        _ = rd_kafka_assign(rk, err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS ? partitions : nil)
    }
}
