import Foundation
import JobModel
import XCTest
@testable import JobQueue
import DevServices

final class KafkaProducerTests: XCTestCase {
    func testBadPassThroughPropertyIsRejectedWithLibrdkafkaMessage() {
        var config = KafkaProducerConfiguration(bootstrapServers: "127.0.0.1:1", properties: ["no.such.property": "1"])
        XCTAssertThrowsError(try KafkaProducer(configuration: config)) { error in
            let e = error as? KafkaConfigurationError
            XCTAssertEqual(e?.property, "no.such.property")
            XCTAssertEqual(e?.message, "No such configuration property: \"no.such.property\"")
            XCTAssertTrue("\(error)".contains("no.such.property"))
        }
        config.properties = ["security.protocol": "carrier-pigeon"]
        XCTAssertThrowsError(try KafkaProducer(configuration: config)) { error in
            XCTAssertEqual((error as? KafkaConfigurationError)?.property, "security.protocol")
            XCTAssertTrue("\(error)".contains("carrier-pigeon"), "\(error)")
        }
        XCTAssertThrowsError(try KafkaClientConfiguration.validate(["socket.timeout.ms": "abc"]))
        XCTAssertNoThrow(try KafkaClientConfiguration.validate(["socket.timeout.ms": "1000", "sasl.mechanisms": "PLAIN"]))
        // Consumers get the same treatment.
        XCTAssertThrowsError(try KafkaConsumer(configuration: KafkaConsumerConfiguration(
            bootstrapServers: "127.0.0.1:1", groupID: "g", properties: ["bogus": "x"]))) { error in
            XCTAssertEqual((error as? KafkaConfigurationError)?.property, "bogus")
        }
    }

    func testDeliveryFailureCarriesLibrdkafkaText() throws {
        let broker = try EmbeddedBroker.forJobs(partitions: 1)
        let producer = try KafkaProducer(configuration: KafkaTestSupport.producerConfig(broker.bootstrapServers))
        defer { producer.close() }
        let reports = try producer.sendBatch([
            OutgoingMessage(topic: KafkaSettings.jobsTopic, partition: 7, key: Array("k".utf8), value: [1]),
            OutgoingMessage(topic: KafkaSettings.jobsTopic, key: Array("k".utf8), value: [2]),
        ])
        XCTAssertEqual(reports[0].error?.message, "Local: Unknown partition")
        XCTAssertNil(reports[1].error)
        XCTAssertThrowsError(try producer.send(OutgoingMessage(topic: KafkaSettings.jobsTopic, partition: 7, key: nil, value: [1])))
    }

    func testHundredThousandJobsBatchThroughput() throws {
        let broker = try EmbeddedBroker.forJobs(partitions: 4)
        let producer = try KafkaProducer(configuration: KafkaTestSupport.producerConfig(broker.bootstrapServers))
        defer { producer.close() }
        let batchID = UUID()
        let count = 100_000
        let start = Date()
        let records = (0..<count).map { i in
            JobMessage(jobID: UUID(), batchID: batchID, parameters: JobParameters(prompt: "a photograph of prompt number \(i), highly detailed",
                       seed: Int64(i), width: 128, height: 128, steps: 8, guidance: 3.5, model: "default")).record()
        }
        let encoded = Date()
        let reports = try producer.sendBatch(records)
        let done = Date()
        XCTAssertEqual(reports.count, count)
        XCTAssertEqual(reports.filter { $0.error != nil }.count, 0, "\(reports.first { $0.error != nil }?.error as Any)")
        let rate = Double(count) / done.timeIntervalSince(start)
        let produceRate = Double(count) / done.timeIntervalSince(encoded)
        print("100000 jobs: encode \(String(format: "%.2f", encoded.timeIntervalSince(start))) s, produce+acks \(String(format: "%.2f", done.timeIntervalSince(encoded))) s (\(Int(produceRate)) jobs/s), end to end \(Int(rate)) jobs/s")
        // The Kafka leg is what this target owns; record building is measured too, but in a debug
        // build on shared cores it says little about the release `ternflux submit`.
        XCTAssertGreaterThanOrEqual(produceRate, 5_000)
    }
}
