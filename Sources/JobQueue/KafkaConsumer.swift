import CRdKafka
import Foundation

/// A consumer-group member over librdkafka: poll, offset store and commit, pause/resume, rebalances.
///
/// The thread that calls `poll` is the one polling owner: rebalance callbacks, errors and statistics are
/// all served inside its `poll` calls. A caller that must keep the membership alive while it works (the
/// worker during a long job) keeps polling with `poll(for:until:)` and, typically, the assignment paused;
/// `wakeUp()` is the one method another thread may call, to end such a poll early.
///
/// Not thread-safe otherwise: one owner thread calls every method.
public final class KafkaConsumer: @unchecked Sendable {
    let handle: OpaquePointer
    private let events: ClientEvents
    private let onRebalance: (@Sendable (RebalanceEvent) -> Void)?
    private let consumerQueue: OpaquePointer
    private var assigned: Set<TopicPartition> = []
    private var paused = false
    private var closed = false
    /// Guards `consumerQueue` against a `wakeUp` from another thread racing `close`.
    private let wakeLock = NSLock()
    private var wakeable = true
    /// Called on the polling thread when partitions are revoked or lost, after the assignment changed: a
    /// caller holding records of those partitions drops them (their new owner consumes them).
    public var onRevoked: (([TopicPartition]) -> Void)?

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

        let err = PartitionList(topics: configuration.topics).withPointer { rd_kafka_subscribe(handle, $0) }
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

    public var lastClientError: KafkaError? { events.lastError }
    public var lastStatistics: String? { events.lastStatistics }

    /// Returns the next record, or nil when none arrived within the timeout. Serves rebalances and
    /// events. Throws only on a fatal consumer error; other errors go to `onError`.
    public func poll(timeoutMilliseconds: Int32 = 100) throws -> ConsumedMessage? {
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
        return ConsumedMessage(copying: m)
    }

    /// Keeps polling for up to `seconds` (heartbeats, rebalances and events are served) and returns every
    /// record that arrived meanwhile, in order. Returns early once `stop()` is true (checked after every poll
    /// of at most `intervalMilliseconds`) or after `wakeUp()`. With the assignment paused, few or no records
    /// arrive: this is how a busy member stays in its group.
    public func poll(for seconds: Double, intervalMilliseconds: Int32 = 100,
                     until stop: () -> Bool = { false }) throws -> [ConsumedMessage] {
        let deadline = uptimeDeadline(from: DispatchTime.now().uptimeNanoseconds, afterSeconds: seconds)
        var records: [ConsumedMessage] = []
        while !stop() {
            let now = DispatchTime.now().uptimeNanoseconds
            if now >= deadline { break }
            let remaining = Int32(min(Double(intervalMilliseconds), Double(deadline - now) / 1e6).rounded(.up))
            if let record = try poll(timeoutMilliseconds: max(1, remaining)) { records.append(record) }
        }
        return records
    }

    /// Ends the owner's current `poll` early. Safe from any thread, also after `close`.
    public func wakeUp() {
        wakeLock.lock()
        defer { wakeLock.unlock() }
        if wakeable { rd_kafka_queue_yield(consumerQueue) }
    }

    /// Marks `message` as done: its offset + 1 is stored and auto commit will commit it. Call
    /// only after the job's outcome is committed in Postgres. Throws (`isNotAssigned`) when the
    /// partition was revoked meanwhile: the new owner will see the record again.
    public func storeOffset(for message: ConsumedMessage) throws {
        let list = PartitionList([TopicPartition(topic: message.topic, partition: message.partition)], offset: message.offset + 1)
        let err = list.withPointer { rd_kafka_offsets_store(handle, $0) }
        let perPartition = list.entries[0].error
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
        let deadline = uptimeDeadline(from: DispatchTime.now().uptimeNanoseconds, afterSeconds: timeoutSeconds)
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
        let list = PartitionList(partitions)
        let err = list.withPointer { rd_kafka_committed(handle, $0, timeoutMilliseconds) }
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(err, operation: "reading committed offsets") }
        var result: [TopicPartition: Int64] = [:]
        for entry in list.entries { result[entry.partition] = entry.offset }
        return result
    }

    /// Stops fetching from every assigned partition (and from partitions assigned while paused; partitions
    /// assigned while not paused are resumed, whatever flag librdkafka kept for them).
    public func pauseAssignment() throws {
        paused = true
        try setPaused(Array(assigned), pause: true)
    }

    /// Resumes fetching; delivery continues right after the last record returned by `poll`.
    public func resumeAssignment() throws {
        paused = false
        try setPaused(Array(assigned), pause: false)
    }

    /// Commits stored offsets, leaves the group (revoking the assignment in order) and releases
    /// the client. The commit and the leave are bounded by `timeoutSeconds` even when no broker
    /// answers (then the stored-but-uncommitted records are redelivered to the next owner); after
    /// an unconfirmed leave, librdkafka's handle destroy blocks up to about `session.timeout.ms`
    /// more. Safe to call more than once.
    public func close(timeoutSeconds: Double = 10) throws {
        if closed { return }
        closed = true
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
                let deadline = uptimeDeadline(from: DispatchTime.now().uptimeNanoseconds, afterSeconds: remaining())
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
        wakeLock.lock()
        wakeable = false
        rd_kafka_queue_destroy(consumerQueue)
        wakeLock.unlock()
        // Without a finished close, destroy must not attempt another (unbounded) one.
        rd_kafka_destroy_flags(handle, finished ? 0 : Int32(RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE))
        if let firstError { throw firstError }
    }

    // MARK: - Rebalance

    fileprivate func rebalance(_ rk: OpaquePointer, _ err: rd_kafka_resp_err_t,
                               _ partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) {
        let cooperative = String(cString: rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE"
        let changed = PartitionList.entries(of: partitions).map(\.partition)
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
            // A member that is mid-job keeps everything paused, new partitions included; one that is not resumes
            // them, because librdkafka keeps a partition's pause flag across a revoke and a re-assignment (a
            // partition taken away while paused would otherwise come back paused for good).
            try? setPaused(changed, pause: paused)
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
            onRevoked?(changed)
            onRebalance?(.revoked(changed, lost: lost))
        default:
            events.onError?(KafkaError(err, operation: "rebalance"))
            _ = rd_kafka_assign(rk, nil)
            let gone = Array(assigned)
            assigned = []
            onRevoked?(gone)
        }
    }

    private func setPaused(_ partitions: [TopicPartition], pause: Bool) throws {
        if partitions.isEmpty { return }
        let list = PartitionList(partitions)
        let err = list.withPointer { pause ? rd_kafka_pause_partitions(handle, $0) : rd_kafka_resume_partitions(handle, $0) }
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(err, operation: pause ? "pausing partitions" : "resuming partitions")
        }
    }
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
