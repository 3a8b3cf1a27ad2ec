import CRdKafka
import Foundation
import JobQueue

extension EmbeddedBroker {
    /// The mock cluster keeps each partition's log in memory and, in librdkafka 2.0.2, discards the
    /// oldest record sets once a partition holds more than 5 MiB or 100 000 records (fixed in
    /// rdkafka_mock.c; no API changes it). A record discarded before any consumer read it is gone: with
    /// `auto.offset.reset=earliest` a new group silently starts at the first record still kept.
    public static let retainedBytesPerPartition = 5 * 1024 * 1024

    /// The first offset still kept in each of `partitions` partitions of `topic` (the low watermark):
    /// greater than 0 once records were discarded. Throws when the brokers do not answer (for example
    /// while they are down).
    public func firstRetainedOffsets(topic: String, partitions: Int, timeoutMilliseconds: Int32 = 2_000) throws -> [Int64] {
        let client = try watermarkClient()
        return try (0..<partitions).map { partition in
            var low: Int64 = -1, high: Int64 = -1
            let err = rd_kafka_query_watermark_offsets(client, topic, Int32(partition), &low, &high, timeoutMilliseconds)
            if err != RD_KAFKA_RESP_ERR_NO_ERROR {
                throw KafkaError(err, operation: "querying the watermarks of \(topic)[\(partition)]")
            }
            return low
        }
    }
}
