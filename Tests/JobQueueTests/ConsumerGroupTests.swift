import Foundation
import JobModel
import XCTest
@testable import JobQueue
import DevServices

final class ConsumerGroupTests: XCTestCase {
    private func produce(_ broker: EmbeddedBroker, count: Int, prefix: String = "m") throws -> [DeliveryReport] {
        let producer = try KafkaProducer(configuration: KafkaTestSupport.producerConfig(broker.bootstrapServers))
        defer { producer.close() }
        let reports = try producer.sendBatch((0..<count).map {
            OutgoingMessage(topic: KafkaSettings.jobsTopic, key: "\(prefix)\($0)", value: Array("\($0)".utf8))
        })
        XCTAssertEqual(reports.filter { $0.error != nil }.count, 0)
        return reports
    }

    func testTwoMembersSplitThePartitionsCooperatively() throws {
        let broker = try EmbeddedBroker.forJobs(partitions: 4)
        let group = KafkaTestSupport.uniqueGroup()
        let events = EventLog()
        var config = KafkaTestSupport.consumerConfig(broker, group: group)
        config.onRebalance = { events.append("a", $0) }
        let a = try KafkaConsumer(configuration: config)
        var sink: [ConsumedMessage] = []
        XCTAssertTrue(try KafkaTestSupport.pollUntil([a], into: &sink) { _ in a.assignment.count == 4 }, "first member gets all 4 partitions")

        config.onRebalance = { events.append("b", $0) }
        let b = try KafkaConsumer(configuration: config)
        XCTAssertTrue(try KafkaTestSupport.pollUntil([a, b], into: &sink) { _ in a.assignment.count == 2 && b.assignment.count == 2 },
                      "assignments after the second join: a=\(a.assignment) b=\(b.assignment)")
        XCTAssertTrue(a.assignment.isDisjoint(with: b.assignment))
        // Cooperative: the first member only gave partitions up, it was never revoked wholesale.
        let revokedFromA = events.entries.filter { $0.0 == "a" }.compactMap { entry -> [TopicPartition]? in
            if case .revoked(let parts, let lost) = entry.1 { XCTAssertFalse(lost); return parts }
            return nil
        }
        XCTAssertEqual(revokedFromA.flatMap { $0 }.count, 2)

        // Records on every partition reach exactly one of the two members.
        _ = try produce(broker, count: 40)
        var got: [ConsumedMessage] = []
        XCTAssertTrue(try KafkaTestSupport.pollUntil([a, b], into: &got) { $0.count >= 40 })
        XCTAssertEqual(Set(got.map(\.keyString)).count, 40)
        for m in got {
            let tp = TopicPartition(topic: m.topic, partition: m.partition)
            XCTAssertTrue(a.assignment.contains(tp) || b.assignment.contains(tp))
        }
        try a.close()
        try b.close()
    }

    /// librdkafka keeps a partition's pause flag across a revoke and a later re-assignment. A member that was
    /// paused (mid-job) when a partition was taken away, resumed (its then assignment), and is given the
    /// partition back must consume it: seen once as a stall in the chaos run (55 jobs never consumed).
    func testAPartitionRevokedWhilePausedAndReassignedIsConsumed() throws {
        let broker = try EmbeddedBroker.forJobs(partitions: 2)
        let config = KafkaTestSupport.consumerConfig(broker, group: KafkaTestSupport.uniqueGroup())
        let a = try KafkaConsumer(configuration: config)
        defer { try? a.close() }
        var sink: [ConsumedMessage] = []
        XCTAssertTrue(try KafkaTestSupport.pollUntil([a], into: &sink) { _ in a.assignment.count == 2 })
        try a.pauseAssignment()
        // A second member takes one partition away while the first is paused, then the first resumes.
        let b = try KafkaConsumer(configuration: config)
        XCTAssertTrue(try KafkaTestSupport.pollUntil([a, b], into: &sink) { _ in a.assignment.count == 1 && b.assignment.count == 1 })
        try a.resumeAssignment()
        // The second member leaves: its partition comes back to the first, which is not paused now.
        try b.close()
        XCTAssertTrue(try KafkaTestSupport.pollUntil([a], into: &sink) { _ in a.assignment.count == 2 })
        _ = try produce(broker, count: 20, prefix: "after")
        var got: [ConsumedMessage] = []
        XCTAssertTrue(try KafkaTestSupport.pollUntil([a], timeout: 15, into: &got) { $0.count >= 20 },
                      "records of both partitions reach the member: got \(got.count) of 20, from partitions \(Set(got.map(\.partition)))")
    }

    func testOffsetsAreStoredOnlyWhenTold() throws {
        let broker = try EmbeddedBroker.forJobs(partitions: 1)
        _ = try produce(broker, count: 3)
        let group = KafkaTestSupport.uniqueGroup()
        let config = KafkaTestSupport.consumerConfig(broker, group: group)

        // First member: finishes record 0 (stores it), reads 1 and 2 but never stores them.
        let first = try KafkaConsumer(configuration: config)
        let firstBatch = try KafkaTestSupport.consume(first, count: 3)
        XCTAssertEqual(firstBatch.map(\.offset), [0, 1, 2])
        try first.storeOffset(for: firstBatch[0])
        try first.close()

        // The next member starts right after the last stored offset: 1 and 2 come again.
        let second = try KafkaConsumer(configuration: config)
        let again = try KafkaTestSupport.consume(second, count: 2)
        XCTAssertEqual(again.map(\.offset), [1, 2])
        XCTAssertEqual(try second.committedOffsets([TopicPartition(topic: KafkaSettings.jobsTopic, partition: 0)]).values.first, 1)
        try second.close()
    }

    func testStoringAnOffsetOfAPartitionNotAssignedFails() throws {
        let broker = try EmbeddedBroker.forJobs(partitions: 1)
        let consumer = try KafkaConsumer(configuration: KafkaTestSupport.consumerConfig(broker, group: KafkaTestSupport.uniqueGroup()))
        defer { try? consumer.close() }
        let foreign = ConsumedMessage(topic: KafkaSettings.jobsTopic, partition: 0, offset: 5, key: nil, value: [])
        XCTAssertThrowsError(try consumer.storeOffset(for: foreign)) { error in
            XCTAssertTrue((error as? KafkaError)?.isNotAssigned == true, "\(error)")
        }
    }
}

private final class EventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var _entries: [(String, RebalanceEvent)] = []
    func append(_ who: String, _ e: RebalanceEvent) { lock.lock(); _entries.append((who, e)); lock.unlock() }
    var entries: [(String, RebalanceEvent)] { lock.lock(); defer { lock.unlock() }; return _entries }
}

