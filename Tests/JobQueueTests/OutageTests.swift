import Foundation
import JobModel
import XCTest
@testable import JobQueue
import DevServices

final class OutageTests: XCTestCase {
    /// A worker told to stop during a broker outage must still exit in bounded time.
    func testConsumerClosesInBoundedTimeWhileBrokersAreDown() throws {
        let broker = try EmbeddedBroker.forJobs(partitions: 1)
        let producer = try KafkaProducer(configuration: KafkaTestSupport.producerConfig(broker.bootstrapServers))
        try producer.send(OutgoingMessage(topic: KafkaSettings.jobsTopic, key: "k", value: [1]))
        producer.close()
        let consumer = try KafkaConsumer(configuration: KafkaTestSupport.consumerConfig(broker, group: KafkaTestSupport.uniqueGroup()))
        let record = try XCTUnwrap(KafkaTestSupport.consume(consumer, count: 1).first)
        try consumer.storeOffset(for: record)
        try broker.setDown()
        let start = Date()
        XCTAssertThrowsError(try consumer.close(timeoutSeconds: 3)) // the commit cannot reach the coordinator
        let took = Date().timeIntervalSince(start)
        print("consumer close with brokers down took \(String(format: "%.2f", took)) s")
        // The bounded part takes `timeoutSeconds`; librdkafka's handle destroy then waits for its group
        // handler to give up, observed to be bounded by session.timeout.ms (5 s in these tests).
        XCTAssertLessThan(took, 3 + 5 + 1.5)
    }
}
