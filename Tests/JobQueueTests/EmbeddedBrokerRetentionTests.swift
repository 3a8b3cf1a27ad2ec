import Foundation
import JobModel
import XCTest
@testable import JobQueue
import DevServices

/// The embedded broker (librdkafka's mock cluster) keeps only ~5 MiB per partition and silently drops older
/// records; it reports where each partition's log starts, so dev-broker can warn (docs/reliability.md).
final class EmbeddedBrokerRetentionTests: XCTestCase {
    func testDiscardedRecordsShowInTheFirstRetainedOffset() throws {
        let broker = try EmbeddedBroker(topics: ["small": 1, "large": 1])
        let producer = try KafkaProducer(configuration: KafkaTestSupport.producerConfig(broker.bootstrapServers))
        defer { producer.close() }
        let kilobyte = [UInt8](repeating: 0x61, count: 1024)
        let small = try producer.sendBatch((0..<100).map { _ in OutgoingMessage(topic: "small", key: nil, value: kilobyte) })
        XCTAssertTrue(small.allSatisfy { $0.error == nil })
        // 7 MiB into one partition: more than the mock cluster keeps.
        let large = try producer.sendBatch((0..<7_168).map { _ in OutgoingMessage(topic: "large", key: nil, value: kilobyte) })
        XCTAssertTrue(large.allSatisfy { $0.error == nil })
        XCTAssertEqual(try broker.firstRetainedOffsets(topic: "small", partitions: 1), [0])
        let first = try XCTUnwrap(try broker.firstRetainedOffsets(topic: "large", partitions: 1).first)
        XCTAssertGreaterThan(first, 0, "the mock cluster kept all 7 MiB; the documented limit is wrong")
        // What it keeps is about retainedBytesPerPartition (record overhead included).
        let keptBytes = (7_168 - first) * 1024
        XCTAssertLessThanOrEqual(keptBytes, Int64(EmbeddedBroker.retainedBytesPerPartition))
        XCTAssertGreaterThan(keptBytes, Int64(EmbeddedBroker.retainedBytesPerPartition) / 2)
    }
}
