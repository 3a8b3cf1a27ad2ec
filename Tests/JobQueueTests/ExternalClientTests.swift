import Foundation
import JobModel
import XCTest
@testable import JobQueue
import DevServices

/// Interoperability with programs outside this process: the `ternflux dev-broker` binary and kcat.
final class ExternalClientTests: XCTestCase {
    func testKcatProducedHandWrittenJobIsReadByOurConsumer() throws {
        let kcat = try Executables.onPath("kcat")
        let broker = try EmbeddedBroker.forJobs(partitions: 2)
        let key = "0b6f8c52-2a0e-4c59-9d55-6f4f8f1d2e3a"
        let line = #"{"v":1,"job_id":"0b6f8c52-2a0e-4c59-9d55-6f4f8f1d2e3a","batch_id":"5e3a7c10-1111-4222-8333-944455556666","prompt":"a lighthouse at dusk; DROP TABLE jobs;--","seed":7,"width":64,"height":48,"steps":4,"guidance":2.0,"model":"default","attempt":0,"submitted_by":"kcat"}"#
        let child = try ChildProcess(executable: kcat, arguments: ["-b", broker.bootstrapServers, "-P", "-t", KafkaSettings.jobsTopic, "-k", key],
                                     stdin: Data((line + "\n").utf8))
        XCTAssertEqual(child.waitForExit(timeout: 20), 0, "kcat exit status")

        let consumer = try KafkaConsumer(configuration: KafkaTestSupport.consumerConfig(broker, group: KafkaTestSupport.uniqueGroup()))
        defer { try? consumer.close() }
        let record = try XCTUnwrap(KafkaTestSupport.consume(consumer, count: 1).first)
        XCTAssertEqual(record.keyString, key)
        let job = try JobMessage.parse(record)
        XCTAssertEqual(job.jobID, UUID(uuidString: key))
        XCTAssertEqual(job.prompt, "a lighthouse at dusk; DROP TABLE jobs;--")
        XCTAssertEqual([job.width, job.height, job.steps], [64, 48, 4])
        XCTAssertEqual(job.guidance, 2.0)
    }

    func testDevBrokerBinaryServesClientsAndObeysSignals() throws {
        let broker = try ChildProcess(executable: try Executables.ternflux(), arguments: ["dev-broker", "--partitions", "2"])
        let first = try XCTUnwrap(broker.nextLine(timeout: 20), "dev-broker printed nothing")
        XCTAssertTrue(first.hasPrefix("bootstrap=127.0.0.1:"), first)
        let bootstrap = String(first.dropFirst("bootstrap=".count))
        XCTAssertEqual(broker.nextLine(timeout: 5), "topics=ternflux.jobs:2,ternflux.jobs.dlq:2")

        let producer = try KafkaProducer(configuration: KafkaTestSupport.producerConfig(bootstrap))
        defer { producer.close() }
        let job = JobMessage(jobID: UUID(), batchID: UUID(), parameters: JobParameters(prompt: "p", seed: 1, width: 64, height: 64,
                             steps: 2, guidance: 1, model: "default"))
        try producer.send(job.record())

        // Outage: a record produced while the brokers are down is delivered once they are back.
        broker.signal(SIGUSR1)
        XCTAssertEqual(broker.nextLine(timeout: 5), "brokers=down")
        var retriedJob = job
        retriedJob.attempt = 1
        let retried = retriedJob
        let pending = DispatchQueue(label: "send-during-outage")
        let delivered = DispatchSemaphore(value: 0)
        let outcome = OutcomeBox()
        pending.async {
            outcome.set(Result { try producer.send(retried.record()) })
            delivered.signal()
        }
        XCTAssertEqual(delivered.wait(timeout: .now() + 1), .timedOut, "delivery must wait for the outage to end")
        broker.signal(SIGUSR2)
        XCTAssertEqual(broker.nextLine(timeout: 5), "brokers=up")
        XCTAssertEqual(delivered.wait(timeout: .now() + 15), .success)
        XCTAssertNoThrow(try outcome.get()?.get())

        let consumer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(
            bootstrapServers: bootstrap, groupID: KafkaTestSupport.uniqueGroup(),
            sessionTimeoutMilliseconds: 3_000, heartbeatIntervalMilliseconds: 200))
        let got = try KafkaTestSupport.consume(consumer, count: 2).map { try JobMessage.parse($0) }
        XCTAssertEqual(Set(got.map(\.attempt)), [0, 1])
        XCTAssertEqual(Set(got.map(\.jobID)), [job.jobID])
        try consumer.close()

        broker.signal(SIGTERM)
        XCTAssertEqual(broker.nextLine(timeout: 10), "stopped")
        XCTAssertEqual(broker.waitForExit(timeout: 10), 0)
    }

    func testDevBrokerRejectsBadArguments() throws {
        let child = try ChildProcess(executable: try Executables.ternflux(), arguments: ["dev-broker", "--partitions", "0"])
        XCTAssertEqual(child.waitForExit(timeout: 20), 64) // EX_USAGE from swift-argument-parser
    }
}

private final class OutcomeBox: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Result<DeliveryReport, Error>?
    func set(_ r: Result<DeliveryReport, Error>) { lock.lock(); value = r; lock.unlock() }
    func get() -> Result<DeliveryReport, Error>? { lock.lock(); defer { lock.unlock() }; return value }
}
