import CRdKafka

/// A topic partition.
public struct TopicPartition: Hashable, Sendable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32

    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public var description: String { "\(topic)[\(partition)]" }
}

/// An owned `rd_kafka_topic_partition_list_t`: built from partitions (with offsets where a call needs them),
/// destroyed with the value, read back as Swift values. A list librdkafka hands to a callback is read with
/// `entries(of:)` and not owned.
final class PartitionList {
    private let pointer: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>

    init(_ partitions: [TopicPartition] = [], offset: Int64? = nil) {
        pointer = rd_kafka_topic_partition_list_new(Int32(max(partitions.count, 1)))!
        for tp in partitions { add(tp, offset: offset) }
    }

    /// A topic with every partition (RD_KAFKA_PARTITION_UA), for subscribing.
    convenience init(topics: [String]) {
        self.init()
        for topic in topics { rd_kafka_topic_partition_list_add(pointer, topic, RD_KAFKA_PARTITION_UA) }
    }

    deinit { rd_kafka_topic_partition_list_destroy(pointer) }

    /// Runs `body` with the C list, keeping this value (and so the list and its entries) alive throughout:
    /// a Swift object may be released right after its last use, which could be before the C call reads it.
    func withPointer<R>(_ body: (UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) throws -> R) rethrows -> R {
        try withExtendedLifetime(self) { try body(pointer) }
    }

    func add(_ tp: TopicPartition, offset: Int64? = nil) {
        let entry = rd_kafka_topic_partition_list_add(pointer, tp.topic, tp.partition)!
        if let offset { entry.pointee.offset = offset }
    }

    /// Partitions with their offsets (and per-entry error codes).
    var entries: [(partition: TopicPartition, offset: Int64, error: rd_kafka_resp_err_t)] { withPointer(Self.entries(of:)) }

    static func entries(of list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>)
        -> [(partition: TopicPartition, offset: Int64, error: rd_kafka_resp_err_t)] {
        let l = list.pointee
        return (0..<Int(l.cnt)).map { i in
            let e = l.elems[i]
            return (TopicPartition(topic: String(cString: e.topic), partition: e.partition), e.offset, e.err)
        }
    }
}
