import CRdKafka
import Foundation

/// Producer settings. The delivery guarantees are not negotiable: `enable.idempotence=true` and
/// `acks=all` are applied after the pass-through properties.
public struct KafkaProducerConfiguration: Sendable {
    public var bootstrapServers: String
    /// librdkafka properties passed through verbatim (TLS, SASL, tuning).
    public var properties: [String: String]
    public var clientID: String
    /// Upper bound for one record's delivery attempts (librdkafka `message.timeout.ms`); every
    /// record gets a delivery report within this time.
    public var messageTimeoutMilliseconds: Int
    /// How often librdkafka emits statistics JSON to `onStatistics` (0 = never).
    public var statisticsIntervalMilliseconds: Int
    public var onStatistics: (@Sendable (String) -> Void)?
    /// Called with client-level errors (broker down, authentication failures); they are also
    /// kept in `lastClientError`.
    public var onError: (@Sendable (KafkaError) -> Void)?

    public init(bootstrapServers: String, properties: [String: String] = [:], clientID: String = "ternflux",
                messageTimeoutMilliseconds: Int = 60_000, statisticsIntervalMilliseconds: Int = 0) {
        self.bootstrapServers = bootstrapServers
        self.properties = properties
        self.clientID = clientID
        self.messageTimeoutMilliseconds = messageTimeoutMilliseconds
        self.statisticsIntervalMilliseconds = statisticsIntervalMilliseconds
    }

    public init(settings: KafkaSettings, clientID: String = "ternflux") {
        self.init(bootstrapServers: settings.brokers, properties: settings.properties, clientID: clientID)
    }

    func clientConfiguration() -> KafkaClientConfiguration {
        var c = KafkaClientConfiguration()
        c.set("bootstrap.servers", bootstrapServers)
        c.set("client.id", clientID)
        c.set("message.timeout.ms", String(messageTimeoutMilliseconds))
        c.set("linger.ms", "5")
        c.set("log.connection.close", "false")
        c.set("statistics.interval.ms", String(statisticsIntervalMilliseconds))
        c.set(properties)
        c.set("enable.idempotence", "true")
        c.set("acks", "all")
        return c
    }
}

/// A Kafka producer over librdkafka.
///
/// One internal thread owns `rd_kafka_poll` (delivery reports, errors, statistics); callers of
/// `send`/`sendBatch` only enqueue records and wait on a condition for their reports. Any number
/// of threads may send concurrently.
public final class KafkaProducer: @unchecked Sendable {
    let handle: OpaquePointer
    private let events: ClientEvents
    private let poller: PollerThread
    private let closeLock = NSLock()
    private var closed = false

    public init(configuration: KafkaProducerConfiguration) throws {
        let conf = try configuration.clientConfiguration().makeConf()
        events = ClientEvents(onError: configuration.onError, onStatistics: configuration.onStatistics)
        events.install(on: conf)
        rd_kafka_conf_set_dr_msg_cb(conf, producerDeliveryReportCallback)
        handle = try makeKafkaHandle(type: RD_KAFKA_PRODUCER, conf: conf, role: "producer")
        let rk = SendableHandle(handle)
        poller = PollerThread(name: "ternflux-producer-poll") { rd_kafka_poll(rk.pointer, 100) }
    }

    deinit {
        close(timeoutMilliseconds: 5_000)
    }

    /// The most recent client-level error librdkafka reported, if any.
    public var lastClientError: KafkaError? { events.lastError }

    /// Produces one record and waits for its delivery report; throws the delivery error.
    @discardableResult
    public func send(_ message: OutgoingMessage) throws -> DeliveryReport {
        let report = try sendBatch([message])[0]
        if let error = report.error { throw error }
        return report
    }

    /// Produces every record, then waits once for all delivery reports (bounded by
    /// `message.timeout.ms`). Reports are returned in input order; a record that failed carries
    /// librdkafka's error. Throws only when the producer is closed or fatally failed.
    public func sendBatch(_ messages: [OutgoingMessage]) throws -> [DeliveryReport] {
        if messages.isEmpty { return [] }
        try checkUsable()
        let batch = DeliveryBatch(messages: messages)
        var cstrings = CStringCache()
        defer { cstrings.free() }
        for index in messages.indices {
            while true {
                let err = produce(messages[index], slot: batch.slot(index), cstrings: &cstrings)
                if err == RD_KAFKA_RESP_ERR_NO_ERROR { break }
                if err == RD_KAFKA_RESP_ERR__QUEUE_FULL {
                    // The poller drains delivery reports; wait for room instead of failing.
                    batch.waitBriefly()
                    continue
                }
                batch.record(index: index, partition: messages[index].partition ?? -1, offset: -1,
                             error: KafkaError(err, operation: "producing to \(messages[index].topic)"))
                break
            }
        }
        return batch.waitForAll()
    }

    /// Waits until every queued record has been delivered or failed.
    public func flush(timeoutMilliseconds: Int32 = 30_000) throws {
        let err = rd_kafka_flush(handle, timeoutMilliseconds)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(err, operation: "flushing the producer (\(rd_kafka_outq_len(handle)) records still queued)")
        }
    }

    /// Flushes outstanding records and releases the client. Safe to call more than once.
    public func close(timeoutMilliseconds: Int32 = 30_000) {
        closeLock.lock()
        defer { closeLock.unlock() }
        if closed { return }
        closed = true
        poller.stop()
        _ = rd_kafka_flush(handle, timeoutMilliseconds)
        rd_kafka_destroy(handle)
    }

    private func checkUsable() throws {
        closeLock.lock()
        let isClosed = closed
        closeLock.unlock()
        if isClosed { throw KafkaError(code: nil, operation: "producing", message: "the producer is closed") }
        var errstr = [CChar](repeating: 0, count: 512)
        let fatal = rd_kafka_fatal_error(handle, &errstr, errstr.count)
        if fatal != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(code: fatal.rawValue, operation: "producing (fatal producer error)", message: String(cString: errstr))
        }
    }

    private func produce(_ m: OutgoingMessage, slot: UnsafeMutableRawPointer,
                         cstrings: inout CStringCache) -> rd_kafka_resp_err_t {
        var vus: [rd_kafka_vu_t] = []
        vus.reserveCapacity(6 + m.headers.count)
        var vu = rd_kafka_vu_t()
        vu.vtype = RD_KAFKA_VTYPE_TOPIC
        vu.u.cstr = cstrings.pointer(for: m.topic)
        vus.append(vu)
        if let partition = m.partition {
            vu = rd_kafka_vu_t(); vu.vtype = RD_KAFKA_VTYPE_PARTITION; vu.u.i32 = partition; vus.append(vu)
        }
        vu = rd_kafka_vu_t(); vu.vtype = RD_KAFKA_VTYPE_MSGFLAGS; vu.u.i = RD_KAFKA_MSG_F_COPY; vus.append(vu)
        vu = rd_kafka_vu_t(); vu.vtype = RD_KAFKA_VTYPE_OPAQUE; vu.u.ptr = slot; vus.append(vu)
        // Header values are laid out in one buffer so a single pointer scope covers them all.
        var headerBytes: [UInt8] = []
        var headerRanges: [(Int, Int)] = []
        for header in m.headers {
            if let value = header.value {
                headerRanges.append((headerBytes.count, value.count))
                headerBytes.append(contentsOf: value)
            } else {
                headerRanges.append((-1, -1))
            }
        }
        let key = m.key
        return m.value.withUnsafeBytes { valuePtr -> rd_kafka_resp_err_t in
            headerBytes.withUnsafeBytes { headerPtr -> rd_kafka_resp_err_t in
                var all = vus
                for (i, header) in m.headers.enumerated() {
                    var h = rd_kafka_vu_t()
                    h.vtype = RD_KAFKA_VTYPE_HEADER
                    h.u.header.name = cstrings.pointer(for: header.name)
                    let (start, size) = headerRanges[i]
                    if start < 0 {
                        h.u.header.val = nil
                        h.u.header.size = -1
                    } else {
                        // A zero-length value still needs a non-NULL pointer, or it reads as null.
                        h.u.header.val = size == 0 ? UnsafeRawPointer(bitPattern: 1) : UnsafeRawPointer(headerPtr.baseAddress! + start)
                        h.u.header.size = size
                    }
                    all.append(h)
                }
                var v = rd_kafka_vu_t()
                v.vtype = RD_KAFKA_VTYPE_VALUE
                v.u.mem.ptr = valuePtr.count == 0 ? nil : UnsafeMutableRawPointer(mutating: valuePtr.baseAddress)
                v.u.mem.size = valuePtr.count
                all.append(v)
                let produceWithKey: (UnsafeRawBufferPointer?) -> rd_kafka_resp_err_t = { keyPtr in
                    if let keyPtr {
                        var k = rd_kafka_vu_t()
                        k.vtype = RD_KAFKA_VTYPE_KEY
                        k.u.mem.ptr = UnsafeMutableRawPointer(mutating: keyPtr.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!)
                        k.u.mem.size = keyPtr.count
                        all.append(k)
                    }
                    guard let error = all.withUnsafeBufferPointer({ rd_kafka_produceva(self.handle, $0.baseAddress, $0.count) }) else {
                        return RD_KAFKA_RESP_ERR_NO_ERROR
                    }
                    let code = rd_kafka_error_code(error)
                    rd_kafka_error_destroy(error)
                    return code
                }
                if let key { return key.withUnsafeBytes { produceWithKey($0) } }
                return produceWithKey(nil)
            }
        }
    }
}

/// C strings for topic and header names, shared by all records of one batch.
private struct CStringCache {
    private var storage: [String: UnsafeMutablePointer<CChar>] = [:]

    mutating func pointer(for s: String) -> UnsafePointer<CChar> {
        if let p = storage[s] { return UnsafePointer(p) }
        let p = strdup(s)!
        storage[s] = p
        return UnsafePointer(p)
    }

    func free() { for p in storage.values { Foundation.free(p) } }
}

/// Collects the delivery reports of one batch. Each record's opaque points at a slot naming the
/// batch and the record's index; the batch keeps itself alive until its last report arrives, so a
/// caller that gave up waiting never leaves librdkafka pointing at freed memory.
final class DeliveryBatch {
    struct Slot {
        var batch: Unmanaged<DeliveryBatch>
        var index: Int
    }

    private let condition = NSCondition()
    private var reports: [DeliveryReport]
    private var remaining: Int
    private let slots: UnsafeMutablePointer<Slot>
    private let count: Int

    init(messages: [OutgoingMessage]) {
        count = messages.count
        reports = messages.map { DeliveryReport(topic: $0.topic, partition: $0.partition ?? -1, offset: -1, error: nil) }
        remaining = messages.count
        slots = .allocate(capacity: messages.count)
        let me = Unmanaged.passRetained(self) // released when the last report arrives
        for i in 0..<messages.count { (slots + i).initialize(to: Slot(batch: me, index: i)) }
    }

    deinit { slots.deallocate() }

    func slot(_ index: Int) -> UnsafeMutableRawPointer { UnsafeMutableRawPointer(slots + index) }

    func record(index: Int, partition: Int32, offset: Int64, error: KafkaError?) {
        condition.lock()
        reports[index].partition = partition
        reports[index].offset = offset
        reports[index].error = error
        remaining -= 1
        let done = remaining == 0
        condition.broadcast()
        condition.unlock()
        if done { Unmanaged.passUnretained(self).release() }
    }

    func waitBriefly() {
        condition.lock()
        _ = condition.wait(until: Date(timeIntervalSinceNow: 0.01))
        condition.unlock()
    }

    func waitForAll() -> [DeliveryReport] {
        condition.lock()
        defer { condition.unlock() }
        while remaining > 0 { condition.wait() }
        return reports
    }
}

private func producerDeliveryReportCallback(_ rk: OpaquePointer?, _ message: UnsafePointer<rd_kafka_message_t>?,
                                            _ opaque: UnsafeMutableRawPointer?) {
    guard let message, let raw = message.pointee._private else { return }
    let slot = raw.assumingMemoryBound(to: DeliveryBatch.Slot.self).pointee
    let m = message.pointee
    var error: KafkaError?
    if m.err != RD_KAFKA_RESP_ERR_NO_ERROR {
        let topic = m.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? "?"
        error = KafkaError(code: m.err.rawValue, operation: "delivering to \(topic)",
                           message: String(cString: rd_kafka_err2str(m.err)))
    }
    slot.batch.takeUnretainedValue().record(index: slot.index, partition: m.partition, offset: m.offset, error: error)
}
