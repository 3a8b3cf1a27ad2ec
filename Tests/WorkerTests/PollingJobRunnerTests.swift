import Foundation
import JobModel
import JobQueue
import DevServices
import Worker
import XCTest

/// The worker's job runner against a real consumer on the embedded broker: the job runs off the owner thread
/// while the owner keeps polling (paused past the hold cap), time limits cancel and abandon, records that
/// arrive meanwhile are handed out afterwards, each once.
final class PollingJobRunnerTests: XCTestCase {
    private func produce(_ broker: EmbeddedBroker, count: Int, prefix: String = "m") throws -> [DeliveryReport] {
        let producer = try KafkaProducer(configuration: KafkaTestSupport.producerConfig(broker.bootstrapServers))
        defer { producer.close() }
        let reports = try producer.sendBatch((0..<count).map {
            OutgoingMessage(topic: KafkaSettings.jobsTopic, key: "\(prefix)\($0)", value: Array("\($0)".utf8))
        })
        XCTAssertEqual(reports.filter { $0.error != nil }.count, 0)
        return reports
    }

    func testPausedWhileJobRunsOwnerKeepsPollingThenResumes() throws {
        let broker = try EmbeddedBroker.forJobs(partitions: 2)
        _ = try produce(broker, count: 1, prefix: "first")
        let consumer = try KafkaConsumer(configuration: KafkaTestSupport.consumerConfig(broker, group: KafkaTestSupport.uniqueGroup()))
        defer { try? consumer.close() }
        let runner = PollingJobRunner(consumer: consumer)
        let first = try XCTUnwrap(KafkaTestSupport.consume(runner, count: 1).first)

        // While the job runs on its own thread, more records arrive; none may be handed out.
        let sideProducer = try KafkaProducer(configuration: KafkaTestSupport.producerConfig(broker.bootstrapServers))
        defer { sideProducer.close() }
        let jobThread = ThreadRecorder()
        let outcome = try runner.run(timeoutSeconds: 10) { _ -> Int in
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
        let after = try KafkaTestSupport.consume(runner, count: 5)
        XCTAssertEqual(Set(after.compactMap(\.keyString)), Set((0..<5).map { "during\($0)" }))
    }

    func testJobTimeoutCancelsAndReportsTimedOut() throws {
        let broker = try EmbeddedBroker.forJobs(partitions: 1)
        let consumer = try KafkaConsumer(configuration: KafkaTestSupport.consumerConfig(broker, group: KafkaTestSupport.uniqueGroup()))
        defer { try? consumer.close() }
        let runner = PollingJobRunner(consumer: consumer)
        let start = Date()
        // A job that honours cancellation returns soon after the limit...
        let cooperative = try runner.run(timeoutSeconds: 0.3, graceSeconds: 2) { cancel -> Bool in
            while !cancel.isCancelled { Thread.sleep(forTimeInterval: 0.01) }
            return true
        }
        guard case .finished(.success(true)) = cooperative else { return XCTFail("unexpected outcome \(cooperative)") }
        // ...one that ignores it is abandoned after the grace period.
        let stuck = try runner.run(timeoutSeconds: 0.2, graceSeconds: 0.3) { _ -> Bool in
            Thread.sleep(forTimeInterval: 8)
            return true
        }
        guard case .timedOut = stuck else { return XCTFail("expected .timedOut, got \(stuck)") }
        // ~0.8 s when the limits are honoured; waiting for the stuck job would take over 8 s.
        XCTAssertLessThan(Date().timeIntervalSince(start), 6)
        XCTAssertFalse(consumer.isPaused)
    }

    /// A timed-out job that is still finishing its step holds the cores: the next job starts only once it has
    /// stopped, so a retry never runs beside the attempt it replaces.
    func testTheNextJobWaitsForATimedOutJobToStop() throws {
        let broker = try EmbeddedBroker.forJobs(partitions: 1)
        let consumer = try KafkaConsumer(configuration: KafkaTestSupport.consumerConfig(broker, group: KafkaTestSupport.uniqueGroup()))
        defer { try? consumer.close() }
        let runner = PollingJobRunner(consumer: consumer)
        let finishedAt = LockedDate()
        let slow = try runner.run(timeoutSeconds: 0.2, graceSeconds: 0.1) { _ -> Bool in
            Thread.sleep(forTimeInterval: 1.5) // one long step that cannot notice the cancellation
            finishedAt.set(Date())
            return true
        }
        guard case .timedOut(_, let progress) = slow else { return XCTFail("expected .timedOut, got \(slow)") }
        XCTAssertEqual(progress.stepsDone, 0)
        let startedAt = LockedDate()
        let next = try runner.run(timeoutSeconds: 5) { _ -> Bool in startedAt.set(Date()); return true }
        guard case .finished(.success(true)) = next else { return XCTFail("unexpected outcome \(next)") }
        let (stopped, started) = (try XCTUnwrap(finishedAt.get()), try XCTUnwrap(startedAt.get()))
        XCTAssertGreaterThanOrEqual(started, stopped, "the next job started while the timed-out one still ran")
    }
}

private final class LockedDate: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Date?
    func set(_ date: Date) { lock.lock(); value = date; lock.unlock() }
    func get() -> Date? { lock.lock(); defer { lock.unlock() }; return value }
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
    func testJobRunnerOverheadIsSmall() throws {
        let broker = try EmbeddedBroker.forJobs(partitions: 2)
        let consumer = try KafkaConsumer(configuration: KafkaTestSupport.consumerConfig(broker, group: KafkaTestSupport.uniqueGroup()))
        defer { try? consumer.close() }
        var sink: [ConsumedMessage] = []
        XCTAssertTrue(try KafkaTestSupport.pollUntil([consumer], into: &sink) { _ in consumer.assignment.count == 2 })
        let runner = PollingJobRunner(consumer: consumer)
        var samples: [Double] = []
        for _ in 0..<50 {
            let t0 = DispatchTime.now().uptimeNanoseconds
            let outcome = try runner.run(timeoutSeconds: 5) { _ in 1 }
            samples.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
            guard case .finished(.success(1)) = outcome else { return XCTFail("\(outcome)") }
        }
        samples.sort()
        let median = samples[samples.count / 2]
        print("job runner overhead over 50 no-op jobs: median \(String(format: "%.3f", median)) ms, max \(String(format: "%.3f", samples.last!)) ms")
        // Measured ~0.01 ms; the bound only catches a poll that waits instead of returning at once.
        XCTAssertLessThan(median, 50)

        // A job that outlives the first poll: its end must interrupt the owner's 100 ms poll
        // (rd_kafka_queue_yield), not wait it out.
        var slow: [Double] = []
        for _ in 0..<10 {
            let t0 = DispatchTime.now().uptimeNanoseconds
            _ = try runner.run(timeoutSeconds: 5, pollIntervalMilliseconds: 100) { _ -> Int in
                Thread.sleep(forTimeInterval: 0.01)
                return 1
            }
            slow.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6 - 10)
        }
        slow.sort()
        print("job runner overhead over 10 jobs of 10 ms: median \(String(format: "%.3f", slow[5])) ms")
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

        let runnerA = PollingJobRunner(consumer: a)
        let outcome = try runnerA.run(timeoutSeconds: 30) { _ -> Int in
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
        XCTAssertLessThanOrEqual(runnerA.heldRecordCount, PollingJobRunner.maxRecordsHeldDuringJob,
                                 "more records held during the job than the cap before pausing")
        let moved = try KafkaTestSupport.consume(runnerA, count: 3)
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
