import Foundation
import JobModel
import XCTest
@testable import JobQueue
import DevServices

/// Shared helpers: every wait is bounded so a broken broker or client fails a test, never hangs it.
enum KafkaTestSupport {
    static func uniqueGroup(_ name: String = #function) -> String {
        "test-\(name.filter { $0.isLetter || $0.isNumber })-\(UUID().uuidString.prefix(8))"
    }

    /// Consumer settings tuned for tests: short session and heartbeat so rebalances finish fast.
    static func consumerConfig(_ broker: EmbeddedBroker, group: String,
                               topics: [String] = [KafkaSettings.jobsTopic]) -> KafkaConsumerConfiguration {
        var c = KafkaConsumerConfiguration(bootstrapServers: broker.bootstrapServers, groupID: group, topics: topics,
                                           sessionTimeoutMilliseconds: 5_000, heartbeatIntervalMilliseconds: 200)
        c.autoCommitIntervalMilliseconds = 200
        return c
    }

    static func producerConfig(_ bootstrap: String) -> KafkaProducerConfiguration {
        KafkaProducerConfiguration(bootstrapServers: bootstrap, messageTimeoutMilliseconds: 10_000)
    }

    /// Polls until `count` records arrived or `timeout` passed.
    static func consume(_ consumer: KafkaConsumer, count: Int, timeout: TimeInterval = 20,
                        file: StaticString = #filePath, line: UInt = #line) throws -> [ConsumedMessage] {
        var got: [ConsumedMessage] = []
        let deadline = Date(timeIntervalSinceNow: timeout)
        while got.count < count, Date() < deadline {
            if let m = try consumer.poll(timeoutMilliseconds: 100) { got.append(m) }
        }
        XCTAssertEqual(got.count, count, "records received before the \(timeout) s timeout", file: file, line: line)
        return got
    }

    /// Polls until `condition` holds or `timeout` passed; returns whether it held.
    @discardableResult
    static func pollUntil(_ consumers: [KafkaConsumer], timeout: TimeInterval = 20,
                          into sink: inout [ConsumedMessage], _ condition: ([ConsumedMessage]) -> Bool) throws -> Bool {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while Date() < deadline {
            if condition(sink) { return true }
            for c in consumers {
                if let m = try c.poll(timeoutMilliseconds: 20) { sink.append(m) }
            }
        }
        return condition(sink)
    }
}
