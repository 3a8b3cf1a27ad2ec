import CRdKafka
import Foundation

/// Receives client-level events (errors, statistics) from librdkafka's callbacks, which run on
/// whichever thread serves the handle's poll. Installed as the configuration's opaque.
final class ClientEvents: @unchecked Sendable {
    private let lock = NSLock()
    private var _lastError: KafkaError?
    private var _lastStatistics: String?
    let onError: (@Sendable (KafkaError) -> Void)?
    let onStatistics: (@Sendable (String) -> Void)?
    /// Set by the consumer to handle rebalances; nil for producers.
    var rebalance: ((OpaquePointer, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) -> Void)?

    init(onError: (@Sendable (KafkaError) -> Void)?, onStatistics: (@Sendable (String) -> Void)?) {
        self.onError = onError
        self.onStatistics = onStatistics
    }

    /// The client keeps this object alive for as long as the handle lives, so the opaque is
    /// passed unretained.
    func install(on conf: OpaquePointer) {
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(self).toOpaque())
        rd_kafka_conf_set_error_cb(conf, clientErrorCallback)
        rd_kafka_conf_set_stats_cb(conf, clientStatisticsCallback)
    }

    var lastError: KafkaError? {
        lock.lock(); defer { lock.unlock() }
        return _lastError
    }

    /// The most recent statistics JSON (librdkafka STATISTICS.md), nil until the first one.
    var lastStatistics: String? {
        lock.lock(); defer { lock.unlock() }
        return _lastStatistics
    }

    fileprivate func error(_ e: KafkaError) {
        lock.lock(); _lastError = e; lock.unlock()
        onError?(e)
    }

    fileprivate func statistics(_ json: String) {
        lock.lock(); _lastStatistics = json; lock.unlock()
        onStatistics?(json)
    }
}

private func clientErrorCallback(_ rk: OpaquePointer?, _ err: Int32, _ reason: UnsafePointer<CChar>?,
                                 _ opaque: UnsafeMutableRawPointer?) {
    guard let opaque else { return }
    let events = Unmanaged<ClientEvents>.fromOpaque(opaque).takeUnretainedValue()
    let code = rd_kafka_resp_err_t(rawValue: err)
    let text = reason.map { String(cString: $0) } ?? String(cString: rd_kafka_err2str(code))
    events.error(KafkaError(code: err, operation: "client", message: text))
}

private func clientStatisticsCallback(_ rk: OpaquePointer?, _ json: UnsafeMutablePointer<CChar>?, _ len: Int,
                                      _ opaque: UnsafeMutableRawPointer?) -> Int32 {
    guard let opaque, let json else { return 0 }
    let events = Unmanaged<ClientEvents>.fromOpaque(opaque).takeUnretainedValue()
    let text = String(decoding: UnsafeRawBufferPointer(start: json, count: len), as: UTF8.self)
    events.statistics(text)
    return 0 // librdkafka frees the buffer
}

/// A thread that calls `body` until stopped; used as a handle's single polling owner.
final class PollerThread: @unchecked Sendable {
    private let lock = NSLock()
    private var running = true
    private let finished = DispatchSemaphore(value: 0)

    init(name: String, body: @escaping @Sendable () -> Void) {
        let thread = Thread { [self] in
            while isRunning { body() }
            finished.signal()
        }
        thread.name = name
        thread.start()
    }

    private var isRunning: Bool {
        lock.lock(); defer { lock.unlock() }
        return running
    }

    func stop() {
        lock.lock()
        let was = running
        running = false
        lock.unlock()
        if was { finished.wait() }
    }
}

/// A librdkafka handle handed to another thread; librdkafka handles are thread-safe.
struct SendableHandle: @unchecked Sendable {
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
}
