import Foundation
import JobModel
import XCTest
@testable import JobQueue
import DevServices

final class KafkaStatisticsTests: XCTestCase {
    func testParsesLagPerPartitionAndSkipsUnknown() throws {
        let json = """
        {"name":"c#consumer-1","type":"consumer","msg_cnt":0,
         "topics":{"ternflux.jobs":{"topic":"ternflux.jobs","partitions":{
            "0":{"partition":0,"consumer_lag":5,"consumer_lag_stored":3},
            "1":{"partition":1,"consumer_lag":-1,"consumer_lag_stored":-1},
            "-1":{"partition":-1,"consumer_lag":-1}}}},
         "cgrp":{"state":"up","rebalance_cnt":2,"assignment_size":2}}
        """
        let s = try KafkaStatistics.parse(json)
        XCTAssertEqual(s.consumerLag, [TopicPartition(topic: "ternflux.jobs", partition: 0): 5])
        XCTAssertEqual(s.consumerLagStored, [TopicPartition(topic: "ternflux.jobs", partition: 0): 3])
        XCTAssertEqual(s.totalConsumerLag, 5)
        XCTAssertEqual(s.groupState, "up")
        XCTAssertEqual(s.rebalanceCount, 2)
        XCTAssertEqual(s.assignmentSize, 2)
        XCTAssertThrowsError(try KafkaStatistics.parse("{\"topics\": 3}"))
    }

    func testLiveConsumerReportsLagOfUnprocessedRecords() throws {
        let broker = try EmbeddedBroker.forJobs(partitions: 1)
        let producer = try KafkaProducer(configuration: KafkaTestSupport.producerConfig(broker.bootstrapServers))
        _ = try producer.sendBatch((0..<5).map { OutgoingMessage(topic: KafkaSettings.jobsTopic, key: "k\($0)", value: [1]) })
        producer.close()
        var config = KafkaTestSupport.consumerConfig(broker, group: KafkaTestSupport.uniqueGroup())
        config.statisticsIntervalMilliseconds = 100
        let consumer = try KafkaConsumer(configuration: config)
        defer { try? consumer.close() }
        let first = try XCTUnwrap(KafkaTestSupport.consume(consumer, count: 1).first)
        try consumer.storeOffset(for: first)
        try consumer.commit()
        // One record committed, four to go (the others were fetched but not stored).
        let tp = TopicPartition(topic: KafkaSettings.jobsTopic, partition: 0)
        let deadline = Date(timeIntervalSinceNow: 10)
        var lag: Int64?
        while Date() < deadline {
            _ = try consumer.poll(timeoutMilliseconds: 50)
            if let json = consumer.lastStatistics, let s = try? KafkaStatistics.parse(json), s.consumerLag[tp] == 4 {
                lag = 4
                XCTAssertEqual(s.groupState, "up")
                break
            }
        }
        XCTAssertEqual(lag, 4, "last statistics: \(consumer.lastStatistics?.prefix(300) ?? "none")")
    }

    func testSettingsValidationUsesLibrdkafka() {
        XCTAssertNoThrow(try KafkaSettings(brokers: "x:1", properties: [
            "security.protocol": "SASL_SSL", "sasl.mechanisms": "SCRAM-SHA-512",
            "sasl.username": "u", "sasl.password": "p"]).validateProperties())
        // Only rd_kafka_new checks the combination; validation goes that far.
        XCTAssertThrowsError(try KafkaSettings(brokers: "x:1", properties: [
            "security.protocol": "SASL_SSL", "sasl.mechanisms": "NOPE"]).validateProperties()) { error in
            XCTAssertTrue("\(error)".contains("NOPE"), "\(error)")
        }
        XCTAssertThrowsError(try KafkaSettings(brokers: "x:1", properties: ["security.protocol": "TLS"]).validateProperties()) { error in
            XCTAssertEqual((error as? KafkaConfigurationError)?.property, "security.protocol")
        }
    }
}
