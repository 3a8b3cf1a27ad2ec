import Foundation
import JobModel
import XCTest
@testable import JobQueue
import DevServices

final class RetryDeadLetterTests: XCTestCase {
    func testBackoffGrowsAndIsCapped() {
        let p = RetryPolicy(maxAttempts: 4, baseDelaySeconds: 2, maxDelaySeconds: 5)
        XCTAssertEqual(p.delaySeconds(retry: 1), 2)
        XCTAssertEqual(p.delaySeconds(retry: 2), 4)
        XCTAssertEqual(p.delaySeconds(retry: 3), 5)
        XCTAssertTrue(p.shouldRetry(failedAttempt: 2))
        XCTAssertFalse(p.shouldRetry(failedAttempt: 3))
    }

    func testRetryRecordIncrementsAttemptAndCarriesBackoff() throws {
        let job = JobMessage(jobID: UUID(), batchID: UUID(), parameters: JobParameters(prompt: "p", seed: 1, width: 64, height: 64,
                             steps: 4, guidance: 1, model: "default"), attempt: 1)
        let now = Date(timeIntervalSince1970: 1_000)
        let record = job.retryRecord(policy: RetryPolicy(baseDelaySeconds: 3), error: "boom", now: now)
        XCTAssertEqual(record.topic, KafkaSettings.jobsTopic)
        XCTAssertEqual(record.key, Array(job.key.utf8))
        XCTAssertEqual(try JobMessage.parse(value: record.value).attempt, 2)
        // Retry 2 waits 2 × 3 s.
        XCTAssertEqual(record.headers.last(named: JobHeaders.notBefore)?.stringValue, "1006000")
        XCTAssertEqual(record.headers.last(named: JobHeaders.previousError)?.stringValue, "boom")
    }

    func testDeadLetterOverRealBrokerNamesOriginAndError() throws {
        let broker = try EmbeddedBroker.forJobs(partitions: 2)
        let producer = try KafkaProducer(configuration: KafkaTestSupport.producerConfig(broker.bootstrapServers))
        defer { producer.close() }
        let poison: [UInt8] = Array("{not json".utf8)
        let sent = try producer.send(OutgoingMessage(topic: KafkaSettings.jobsTopic, key: Array("k1".utf8), value: poison,
                                                     headers: [KafkaHeader(name: "origin-header", string: "kept")]))
        let consumer = try KafkaConsumer(configuration: KafkaTestSupport.consumerConfig(broker, group: KafkaTestSupport.uniqueGroup()))
        let record = try XCTUnwrap(KafkaTestSupport.consume(consumer, count: 1).first)
        let error = "\(JobMessageError.unidentifiable(reason: "x"))"
        try producer.deadLetter(record, error: error)
        try consumer.storeOffset(for: record)
        try consumer.close()

        let dlq = try KafkaConsumer(configuration: KafkaTestSupport.consumerConfig(
            broker, group: KafkaTestSupport.uniqueGroup(), topics: [KafkaSettings.deadLetterTopic]))
        defer { try? dlq.close() }
        let dead = try XCTUnwrap(KafkaTestSupport.consume(dlq, count: 1).first)
        XCTAssertEqual(dead.value, poison)
        XCTAssertEqual(dead.keyString, "k1")
        XCTAssertEqual(dead.headers.last(named: "origin-header")?.stringValue, "kept")
        XCTAssertEqual(dead.headers.last(named: JobHeaders.originTopic)?.stringValue, KafkaSettings.jobsTopic)
        XCTAssertEqual(dead.headers.last(named: JobHeaders.originPartition)?.stringValue, String(sent.partition))
        XCTAssertEqual(dead.headers.last(named: JobHeaders.originOffset)?.stringValue, String(sent.offset))
        XCTAssertEqual(dead.headers.last(named: JobHeaders.error)?.stringValue, error)
        XCTAssertNotNil(dead.headers.last(named: JobHeaders.deadLetteredAt)?.stringValue.flatMap { Int64($0) })
    }

    func testLongErrorsAreTruncatedOnACharacterBoundary() {
        let s = truncatedUTF8(String(repeating: "é", count: 5_000), maxBytes: 101)
        XCTAssertLessThanOrEqual(s.utf8.count, 101)
        XCTAssertTrue(s.hasSuffix("…"))
    }
}
