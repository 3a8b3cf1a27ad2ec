import CRdKafka

extension KafkaConsumer {
    /// Moves the fetch position of one assigned partition back to `offset`, so that a record whose
    /// outcome could not be recorded is consumed again by this member (its offset was never stored).
    public func seek(_ partition: TopicPartition, offset: Int64, timeoutMilliseconds: Int32 = 5_000) throws {
        let list = rd_kafka_topic_partition_list_new(1)!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let entry = rd_kafka_topic_partition_list_add(list, partition.topic, partition.partition)!
        entry.pointee.offset = offset
        if let error = rd_kafka_seek_partitions(handle, list, Int32(timeoutMilliseconds)) {
            throw KafkaError(takingError: error, operation: "seeking \(partition) to offset \(offset)")
        }
        let err = entry.pointee.err
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(err, operation: "seeking \(partition) to offset \(offset)")
        }
        // Records of this partition held during a job would otherwise be handed out twice.
        held.removeAll { $0.topic == partition.topic && $0.partition == partition.partition }
    }
}
