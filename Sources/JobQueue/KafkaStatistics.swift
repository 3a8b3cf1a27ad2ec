import Foundation

/// The parts of librdkafka's statistics JSON (STATISTICS.md, emitted every
/// `statistics.interval.ms` to `onStatistics`) that a worker exports as metrics.
public struct KafkaStatistics: Sendable, Equatable {
    /// Per assigned partition: `consumer_lag` — the log end (hi/ls offset) minus the group's
    /// committed offset. Partitions where librdkafka does not know it yet (-1) are left out.
    public var consumerLag: [TopicPartition: Int64]
    /// Per assigned partition: `consumer_lag_stored` — the same against the stored (not yet
    /// committed) offset, i.e. what is left once auto commit catches up.
    public var consumerLagStored: [TopicPartition: Int64]
    /// The consumer group handler's state (`up` once joined), nil for producers.
    public var groupState: String?
    public var rebalanceCount: Int?
    public var assignmentSize: Int?
    /// Records waiting in the producer's queue (`msg_cnt`).
    public var queuedMessages: Int?

    public var totalConsumerLag: Int64 { consumerLag.values.reduce(0, +) }

    /// Parses a statistics document; the error names what was wrong with it.
    public static func parse(_ json: String) throws -> KafkaStatistics {
        let root = try JSONDecoder().decode(Root.self, from: Data(json.utf8))
        var lag: [TopicPartition: Int64] = [:]
        var lagStored: [TopicPartition: Int64] = [:]
        for (topic, t) in root.topics ?? [:] {
            for (key, p) in t.partitions ?? [:] {
                // "-1" is librdkafka's internal unassigned-partition bucket.
                guard let partition = Int32(key), partition >= 0 else { continue }
                let tp = TopicPartition(topic: topic, partition: partition)
                if let l = p.consumer_lag, l >= 0 { lag[tp] = l }
                if let l = p.consumer_lag_stored, l >= 0 { lagStored[tp] = l }
            }
        }
        return KafkaStatistics(consumerLag: lag, consumerLagStored: lagStored, groupState: root.cgrp?.state,
                               rebalanceCount: root.cgrp?.rebalance_cnt, assignmentSize: root.cgrp?.assignment_size,
                               queuedMessages: root.msg_cnt)
    }

    private struct Root: Decodable {
        var msg_cnt: Int?
        var topics: [String: Topic]?
        var cgrp: Group?
    }

    private struct Topic: Decodable {
        var partitions: [String: Partition]?
    }

    private struct Partition: Decodable {
        var consumer_lag: Int64?
        var consumer_lag_stored: Int64?
    }

    private struct Group: Decodable {
        var state: String?
        var rebalance_cnt: Int?
        var assignment_size: Int?
    }
}

extension KafkaSettings {
    /// Checks the pass-through properties against librdkafka without connecting anywhere, so a
    /// bad `--kafka-property` is rejected at start-up with librdkafka's own message.
    public func validateProperties() throws {
        try KafkaClientConfiguration.validate(properties)
    }
}
