import Foundation
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

    func testPausedWhileJobRunsOwnerKeepsPollingThenResumes() throws {
        let broker = try EmbeddedBroker.forJobs(partitions: 2)
        _ = try produce(broker, count: 1, prefix: "first")
        let consumer = try KafkaConsumer(configuration: KafkaTestSupport.consumerConfig(broker, group: KafkaTestSupport.uniqueGroup()))
        defer { try? consumer.close() }
        let first = try XCTUnwrap(KafkaTestSupport.consume(consumer, count: 1).first)

        // While the job runs on its own thread, more records arrive; none may be handed out.
        let sideProducer = try KafkaProducer(configuration: KafkaTestSupport.producerConfig(broker.bootstrapServers))
        defer { sideProducer.close() }
        let jobThread = ThreadRecorder()
        let outcome = try consumer.runWhilePolling(timeoutSeconds: 10) { _ -> Int in
            jobThread.record()
            _ = try sideProducer.sendBatch((0..<5).map {
                OutgoingMessage(topic: KafkaSettings.jobsTopic, key: "during\($0)", value: Array("x".utf8))
            })
            Thread.sleep(forTimeInterval: 1.5) // the owner polls (paused) all this time
            return 7
        }
        guard case .finished(.success(7)) = outcome else { return XCTFail("unexpected outcome \(outcome)") }
        XCTAssertFalse(jobThread.wasMainThread)
        XCTAssertFalse(consumer.isPaused)
        try consumer.storeOffset(for: first)

        // After resuming, the records produced during the job arrive, each once.
        let after = try KafkaTestSupport.consume(consumer, count: 5)
        XCTAssertEqual(Set(after.compactMap(\.keyString)), Set((0..<5).map { "during\($0)" }))
    }

    func testJobTimeoutCancelsAndReportsTimedOut() throws {
        let broker = try EmbeddedBroker.forJobs(partitions: 1)
        let consumer = try KafkaConsumer(configuration: KafkaTestSupport.consumerConfig(broker, group: KafkaTestSupport.uniqueGroup()))
        defer { try? consumer.close() }
        let start = Date()
        // A job that honours cancellation returns soon after the limit...
        let cooperative = try consumer.runWhilePolling(timeoutSeconds: 0.3, graceSeconds: 2) { cancel -> Bool in
            while !cancel.isCancelled { Thread.sleep(forTimeInterval: 0.01) }
            return true
        }
        guard case .finished(.success(true)) = cooperative else { return XCTFail("unexpected outcome \(cooperative)") }
        // ...one that ignores it is abandoned after the grace period.
        let stuck = try consumer.runWhilePolling(timeoutSeconds: 0.2, graceSeconds: 0.3) { _ -> Bool in
            Thread.sleep(forTimeInterval: 8)
            return true
        }
        guard case .timedOut = stuck else { return XCTFail("expected .timedOut, got \(stuck)") }
        // ~0.8 s when the limits are honoured; waiting for the stuck job would take over 8 s.
        XCTAssertLessThan(Date().timeIntervalSince(start), 6)
        XCTAssertFalse(consumer.isPaused)
    }
}

private final class EventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var _entries: [(String, RebalanceEvent)] = []
    func append(_ who: String, _ e: RebalanceEvent) { lock.lock(); _entries.append((who, e)); lock.unlock() }
    var entries: [(String, RebalanceEvent)] { lock.lock(); defer { lock.unlock() }; return _entries }
}

private final class ThreadRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var main = true
    func record() { lock.lock(); main = Thread.isMainThread; lock.unlock() }
    var wasMainThread: Bool { lock.lock(); defer { lock.unlock() }; return main }
}

final class PollOverheadTests: XCTestCase {
    /// Pause + job thread + poll + resume around a job that does nothing: the queue's share of the
    /// per-job overhead budget (≤ 5 ms median for queue and database together).
    func testRunWhilePollingOverheadIsSmall() throws {
        let broker = try EmbeddedBroker.forJobs(partitions: 2)
        let consumer = try KafkaConsumer(configuration: KafkaTestSupport.consumerConfig(broker, group: KafkaTestSupport.uniqueGroup()))
        defer { try? consumer.close() }
        var sink: [ConsumedMessage] = []
        XCTAssertTrue(try KafkaTestSupport.pollUntil([consumer], into: &sink) { _ in consumer.assignment.count == 2 })
        var samples: [Double] = []
        for _ in 0..<50 {
            let t0 = DispatchTime.now().uptimeNanoseconds
            let outcome = try consumer.runWhilePolling(timeoutSeconds: 5) { _ in 1 }
            samples.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
            guard case .finished(.success(1)) = outcome else { return XCTFail("\(outcome)") }
        }
        samples.sort()
        let median = samples[samples.count / 2]
        print("runWhilePolling overhead over 50 no-op jobs: median \(String(format: "%.3f", median)) ms, max \(String(format: "%.3f", samples.last!)) ms")
        // Measured ~0.01 ms; the bound only catches a poll that waits instead of returning at once.
        XCTAssertLessThan(median, 50)

        // A job that outlives the first poll: its end must interrupt the owner's 100 ms poll
        // (rd_kafka_queue_yield), not wait it out.
        var slow: [Double] = []
        for _ in 0..<10 {
            let t0 = DispatchTime.now().uptimeNanoseconds
            _ = try consumer.runWhilePolling(timeoutSeconds: 5, pollIntervalMilliseconds: 100) { _ -> Int in
                Thread.sleep(forTimeInterval: 0.01)
                return 1
            }
            slow.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6 - 10)
        }
        slow.sort()
        print("runWhilePolling overhead over 10 jobs of 10 ms: median \(String(format: "%.3f", slow[5])) ms")
        // Measured ~0.2 ms; waiting out the owner's poll would add up to 100 ms.
        XCTAssertLessThan(slow[5], 60)
    }
}

final class RebalanceDuringJobTests: XCTestCase {
    /// A member mid-job takes over a partition from a member that leaves: the new partition is
    /// paused with the rest until the job ends, then its records arrive, none lost.
    func testPartitionAssignedDuringAJobIsPausedThenDelivered() throws {
        let broker = try EmbeddedBroker.forJobs(partitions: 2)
        let group = KafkaTestSupport.uniqueGroup()
        let events = AssignmentLog()
        var configA = KafkaTestSupport.consumerConfig(broker, group: group)
        configA.onRebalance = { events.append($0) }
        let a = try KafkaConsumer(configuration: configA)
        let b = try KafkaConsumer(configuration: KafkaTestSupport.consumerConfig(broker, group: group))
        var sink: [ConsumedMessage] = []
        XCTAssertTrue(try KafkaTestSupport.pollUntil([a, b], into: &sink) { _ in a.assignment.count == 1 && b.assignment.count == 1 })
        let taken = try XCTUnwrap(b.assignment.first)
        let producer = try KafkaProducer(configuration: KafkaTestSupport.producerConfig(broker.bootstrapServers))
        defer { producer.close() }
        let handover = BoolBox()

        let outcome = try a.runWhilePolling(timeoutSeconds: 30) { _ -> Int in
            try b.close(timeoutSeconds: 5) // b's owner is this thread now; a's owner keeps polling
            let reports = try producer.sendBatch((0..<3).map {
                OutgoingMessage(topic: taken.topic, partition: taken.partition, key: Array("moved\($0)".utf8), value: [1])
            })
            let deadline = Date(timeIntervalSinceNow: 15)
            while Date() < deadline && !events.assigned.contains(taken) { Thread.sleep(forTimeInterval: 0.05) }
            handover.set(events.assigned.contains(taken))
            Thread.sleep(forTimeInterval: 0.5) // paused: nothing may be fetched from the new partition
            return reports.filter { $0.error == nil }.count
        }
        guard case .finished(.success(3)) = outcome else { return XCTFail("unexpected outcome \(outcome)") }
        XCTAssertTrue(handover.get(), "partition \(taken) was assigned to a while its job ran")
        XCTAssertTrue(a.assignment.contains(taken))
        XCTAssertLessThanOrEqual(a.heldRecordCount, KafkaConsumer.maxRecordsHeldDuringJob,
                                 "more records held during the job than the cap before pausing")
        let moved = try KafkaTestSupport.consume(a, count: 3)
        XCTAssertEqual(moved.compactMap(\.keyString).sorted(), ["moved0", "moved1", "moved2"])
        XCTAssertEqual(Set(moved.map(\.partition)), [taken.partition])
        try a.close()
    }
}

private final class AssignmentLog: @unchecked Sendable {
    private let lock = NSLock()
    private var _assigned: Set<TopicPartition> = []
    func append(_ e: RebalanceEvent) {
        lock.lock(); defer { lock.unlock() }
        if case .assigned(let parts) = e { _assigned.formUnion(parts) }
    }
    var assigned: Set<TopicPartition> { lock.lock(); defer { lock.unlock() }; return _assigned }
}

private final class BoolBox: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set(_ v: Bool) { lock.lock(); value = v; lock.unlock() }
    func get() -> Bool { lock.lock(); defer { lock.unlock() }; return value }
}
