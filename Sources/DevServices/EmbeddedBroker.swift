import CRdKafka
import Foundation
import JobQueue

/// A Kafka-protocol cluster inside this process: librdkafka's mock cluster (rdkafka_mock.h),
/// hosted by a producer handle that is never used to produce.
///
/// Every mock broker listens on 127.0.0.1 with a port the kernel picks; `bootstrapServers` is the
/// comma-separated list. It speaks enough of the protocol for producers (idempotent included),
/// consumer groups (JoinGroup/SyncGroup/Heartbeat, cooperative-sticky included, OffsetCommit and
/// OffsetFetch) and kcat. It keeps everything in memory: nothing survives `close()`, and each partition
/// keeps only its newest ~5 MiB (`retainedBytesPerPartition`).
public final class EmbeddedBroker: @unchecked Sendable {
    public let bootstrapServers: String
    public let brokerCount: Int
    private let host: OpaquePointer
    private let cluster: OpaquePointer
    private let lock = NSLock()
    private var closed = false
    /// A client of this cluster for watermark queries (EmbeddedBrokerRetention.swift), made on first use.
    private var watermarkHandle: OpaquePointer?

    /// - Parameters:
    ///   - brokers: number of mock brokers (ids 1...brokers); partition leaders are spread over them.
    ///   - topics: topics to create up front with their partition counts.
    public init(brokers: Int = 1, topics: [String: Int] = [:]) throws {
        guard brokers >= 1 else {
            throw KafkaError(code: nil, operation: "starting the embedded broker", message: "brokers must be at least 1 (got \(brokers))")
        }
        var config = KafkaClientConfiguration()
        // The hosting handle never connects anywhere; keep its logs quiet.
        config.set("client.id", "ternflux-embedded-broker")
        config.set("log.connection.close", "false")
        config.set("log_level", "4") // no CONFWARN about the missing bootstrap.servers
        host = try makeKafkaHandle(type: RD_KAFKA_PRODUCER, conf: try config.makeConf(), role: "embedded broker host")
        guard let cluster = rd_kafka_mock_cluster_new(host, Int32(brokers)) else {
            rd_kafka_destroy(host)
            throw KafkaError(code: nil, operation: "starting the embedded broker", message: "rd_kafka_mock_cluster_new failed (see librdkafka's log above)")
        }
        self.cluster = cluster
        self.brokerCount = brokers
        bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(cluster))
        for (topic, partitions) in topics.sorted(by: { $0.key < $1.key }) {
            try createTopic(topic, partitions: partitions)
        }
    }

    /// The two job topics with `partitions` partitions each.
    public static func forJobs(partitions: Int = 4, brokers: Int = 1) throws -> EmbeddedBroker {
        try EmbeddedBroker(brokers: brokers, topics: [KafkaSettings.jobsTopic: partitions,
                                                      KafkaSettings.deadLetterTopic: partitions])
    }

    deinit { close() }

    /// Creates a topic. Replication factor is the broker count capped at 3, like a real cluster's
    /// default placement, so taking one broker down leaves followers.
    public func createTopic(_ name: String, partitions: Int) throws {
        guard partitions >= 1 else {
            throw KafkaError(code: nil, operation: "creating topic \(name)", message: "partitions must be at least 1 (got \(partitions))")
        }
        let err = rd_kafka_mock_topic_create(cluster, name, Int32(partitions), Int32(min(brokerCount, 3)))
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(err, operation: "creating topic \(name)") }
    }

    /// Takes brokers down: they close their connections and refuse new ones until `setUp`.
    /// nil means all brokers.
    public func setDown(brokerIDs: [Int32]? = nil) throws {
        for id in brokerIDs ?? allIDs {
            let err = rd_kafka_mock_broker_set_down(cluster, id)
            if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(err, operation: "taking broker \(id) down") }
        }
    }

    /// Brings brokers back up. nil means all brokers.
    public func setUp(brokerIDs: [Int32]? = nil) throws {
        for id in brokerIDs ?? allIDs {
            let err = rd_kafka_mock_broker_set_up(cluster, id)
            if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(err, operation: "bringing broker \(id) up") }
        }
    }

    private var allIDs: [Int32] { (1...Int32(brokerCount)).map { $0 } }

    func watermarkClient() throws -> OpaquePointer {
        lock.lock()
        defer { lock.unlock() }
        if closed { throw KafkaError(code: nil, operation: "querying the embedded broker", message: "it was closed") }
        if let watermarkHandle { return watermarkHandle }
        var config = KafkaClientConfiguration()
        config.set("bootstrap.servers", bootstrapServers)
        config.set("client.id", "ternflux-embedded-broker-watermarks")
        config.set("log.connection.close", "false")
        config.set("log_level", "2") // connection failures while the brokers are down are expected
        let handle = try makeKafkaHandle(type: RD_KAFKA_PRODUCER, conf: try config.makeConf(), role: "embedded broker watermark client")
        watermarkHandle = handle
        return handle
    }

    public func close() {
        lock.lock()
        defer { lock.unlock() }
        if closed { return }
        closed = true
        if let watermarkHandle { rd_kafka_destroy(watermarkHandle) }
        rd_kafka_mock_cluster_destroy(cluster)
        rd_kafka_destroy(host)
    }
}
