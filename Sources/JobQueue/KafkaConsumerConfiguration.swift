import Foundation

/// What a rebalance did to this member's assignment.
public enum RebalanceEvent: Sendable, Equatable {
    case assigned([TopicPartition])
    /// `lost` is librdkafka's `rd_kafka_assignment_lost`: the partitions were taken away without
    /// an orderly revoke (session timeout, fenced member), so another member may already be
    /// processing them and offsets for them can no longer be committed.
    case revoked([TopicPartition], lost: Bool)
}

/// Consumer-group member settings. Applied after the pass-through properties, so an operator
/// cannot switch them off by accident: `partition.assignment.strategy=cooperative-sticky` (a
/// rebalance only moves the partitions that must move; a member keeps running its current job)
/// and `enable.auto.offset.store=false` (an offset is stored only once the job's outcome is
/// committed in Postgres; auto commit then commits what was stored).
public struct KafkaConsumerConfiguration: Sendable {
    public var bootstrapServers: String
    public var groupID: String
    public var topics: [String]
    /// librdkafka properties passed through verbatim (TLS, SASL, tuning).
    public var properties: [String: String]
    public var clientID: String
    public var sessionTimeoutMilliseconds: Int
    public var heartbeatIntervalMilliseconds: Int
    public var autoCommitIntervalMilliseconds: Int
    /// Where a group with no committed offset starts; `earliest` so no job is skipped.
    public var autoOffsetReset: String
    public var statisticsIntervalMilliseconds: Int
    public var onStatistics: (@Sendable (String) -> Void)?
    public var onError: (@Sendable (KafkaError) -> Void)?
    /// Called on the polling thread, after the assignment change was applied.
    public var onRebalance: (@Sendable (RebalanceEvent) -> Void)?

    public init(bootstrapServers: String, groupID: String, topics: [String] = [KafkaSettings.jobsTopic],
                properties: [String: String] = [:], clientID: String = "ternflux-worker",
                sessionTimeoutMilliseconds: Int = 10_000, heartbeatIntervalMilliseconds: Int = 1_000,
                autoCommitIntervalMilliseconds: Int = 1_000, autoOffsetReset: String = "earliest",
                statisticsIntervalMilliseconds: Int = 0) {
        self.bootstrapServers = bootstrapServers
        self.groupID = groupID
        self.topics = topics
        self.properties = properties
        self.clientID = clientID
        self.sessionTimeoutMilliseconds = sessionTimeoutMilliseconds
        self.heartbeatIntervalMilliseconds = heartbeatIntervalMilliseconds
        self.autoCommitIntervalMilliseconds = autoCommitIntervalMilliseconds
        self.autoOffsetReset = autoOffsetReset
        self.statisticsIntervalMilliseconds = statisticsIntervalMilliseconds
    }

    public init(settings: KafkaSettings, groupID: String, topics: [String] = [KafkaSettings.jobsTopic],
                clientID: String = "ternflux-worker") {
        self.init(bootstrapServers: settings.brokers, groupID: groupID, topics: topics,
                  properties: settings.properties, clientID: clientID)
    }

    func clientConfiguration() -> KafkaClientConfiguration {
        var c = KafkaClientConfiguration()
        c.set("bootstrap.servers", bootstrapServers)
        c.set("client.id", clientID)
        c.set("session.timeout.ms", String(sessionTimeoutMilliseconds))
        c.set("heartbeat.interval.ms", String(heartbeatIntervalMilliseconds))
        c.set("auto.commit.interval.ms", String(autoCommitIntervalMilliseconds))
        c.set("auto.offset.reset", autoOffsetReset)
        c.set("enable.partition.eof", "false")
        c.set("log.connection.close", "false")
        c.set("statistics.interval.ms", String(statisticsIntervalMilliseconds))
        c.set(properties)
        c.set("group.id", groupID)
        c.set("partition.assignment.strategy", "cooperative-sticky")
        c.set("enable.auto.offset.store", "false")
        c.set("enable.auto.commit", "true")
        return c
    }
}
