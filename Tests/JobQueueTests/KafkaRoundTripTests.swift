import Foundation
import JobModel
import XCTest
@testable import JobQueue
import DevServices

final class KafkaRoundTripTests: XCTestCase {
    func testProduceConsumeRoundTripKeepsKeyValueAndHeaders() throws {
        let broker = try EmbeddedBroker.forJobs(partitions: 3)
        let producer = try KafkaProducer(configuration: KafkaTestSupport.producerConfig(broker.bootstrapServers))
        let headers = [KafkaHeader(name: "a", string: "1"), KafkaHeader(name: "empty", value: []),
                       KafkaHeader(name: "null", value: nil)]
        let report = try producer.send(OutgoingMessage(topic: KafkaSettings.jobsTopic, key: "job-1",
                                                       value: Array("hello".utf8), headers: headers))
        XCTAssertNil(report.error)
        XCTAssertGreaterThanOrEqual(report.offset, 0)
        XCTAssertTrue((0..<3).contains(report.partition))
        producer.close()

        let consumer = try KafkaConsumer(configuration: KafkaTestSupport.consumerConfig(broker, group: KafkaTestSupport.uniqueGroup()))
        let got = try KafkaTestSupport.consume(consumer, count: 1)
        XCTAssertEqual(got.first?.keyString, "job-1")
        XCTAssertEqual(got.first?.value, Array("hello".utf8))
        XCTAssertEqual(got.first?.headers, headers)
        XCTAssertEqual(got.first?.partition, report.partition)
        XCTAssertEqual(got.first?.offset, report.offset)
        try consumer.close()
    }
}
