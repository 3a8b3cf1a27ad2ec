import ArgumentParser
import Dispatch
import Foundation
import DevServices
import JobQueue

/// `ternflux dev-broker`: a Kafka-protocol broker for one machine (librdkafka's mock cluster).
struct DevBrokerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dev-broker",
        abstract: "Run an embedded Kafka-protocol broker on 127.0.0.1 (librdkafka's mock cluster; in memory, for one machine).",
        discussion: """
        Creates the topics \(KafkaSettings.jobsTopic) and \(KafkaSettings.deadLetterTopic), prints \
        `bootstrap=HOST:PORT[,HOST:PORT...]` as the first line on stdout, and runs until SIGINT or SIGTERM.
        Fault injection for chaos tests: SIGUSR1 takes every broker down (connections closed, new ones \
        refused), SIGUSR2 brings them back up; each prints `brokers=down` / `brokers=up`.
        Everything is kept in memory and lost when the process exits; each partition keeps only its newest \
        ~5 MiB (librdkafka's mock cluster discards older records; a warning on stderr says when it did), so \
        give large batches enough partitions (100 000 jobs: 16).
        """
    )

    @Option(help: "Partitions per topic.")
    var partitions: Int = 4

    @Option(help: "Number of brokers in the cluster (partition leaders are spread over them).")
    var brokers: Int = 1

    func validate() throws {
        guard (1...1_000).contains(partitions) else {
            throw ValidationError("--partitions must be between 1 and 1000 (got \(partitions))")
        }
        guard (1...16).contains(brokers) else {
            throw ValidationError("--brokers must be between 1 and 16 (got \(brokers))")
        }
    }

    func run() throws {
        let broker = try EmbeddedBroker.forJobs(partitions: partitions, brokers: brokers)
        emit("bootstrap=\(broker.bootstrapServers)")
        emit("topics=\(KafkaSettings.jobsTopic):\(partitions),\(KafkaSettings.deadLetterTopic):\(partitions)")

        let stop = DispatchSemaphore(value: 0)
        let queue = DispatchQueue(label: "ternflux.dev-broker.signals")
        var sources: [DispatchSourceSignal] = []
        func on(_ signo: Int32, _ handler: @escaping () -> Void) {
            signal(signo, SIG_IGN) // delivered through the dispatch source instead
            let source = DispatchSource.makeSignalSource(signal: signo, queue: queue)
            source.setEventHandler(handler: handler)
            source.resume()
            sources.append(source)
        }
        on(SIGINT) { stop.signal() }
        on(SIGTERM) { stop.signal() }
        // The mock cluster silently discards a partition's oldest records beyond ~5 MiB: say so loudly. The
        // watcher has its own thread (its queries block) and pauses while the brokers are down.
        let watcher = RetentionWatcher(broker: broker, partitions: partitions)
        on(SIGUSR1) {
            watcher.setBrokersDown(true)
            do { try broker.setDown(); emit("brokers=down") } catch { FileHandle.standardError.write(Data("\(error)\n".utf8)) }
        }
        on(SIGUSR2) {
            do { try broker.setUp(); emit("brokers=up") } catch { FileHandle.standardError.write(Data("\(error)\n".utf8)) }
            watcher.setBrokersDown(false)
        }
        watcher.start()
        stop.wait()
        watcher.stop()
        broker.close()
        emit("stopped")
        withExtendedLifetime(sources) {}
    }
}

/// Writes one line to stdout and flushes, so a parent reading a pipe sees it at once.
private func emit(_ line: String) {
    print(line)
    fflush(stdout)
}

/// Checks every few seconds where each job partition's log starts and warns on stderr when the mock
/// cluster discarded records (EmbeddedBroker.firstRetainedOffsets).
private final class RetentionWatcher: @unchecked Sendable {
    let broker: EmbeddedBroker
    let partitions: Int
    private let condition = NSCondition()
    private var brokersDown = false
    private var stopping = false
    private var finished = false

    init(broker: EmbeddedBroker, partitions: Int) {
        self.broker = broker
        self.partitions = partitions
    }

    func setBrokersDown(_ down: Bool) {
        condition.lock(); brokersDown = down; condition.unlock()
    }

    func start() {
        let thread = Thread { [self] in
            var reported = [Int64](repeating: 0, count: partitions)
            while true {
                condition.lock()
                if !stopping { _ = condition.wait(until: Date().addingTimeInterval(5)) }
                let (stop, down) = (stopping, brokersDown)
                condition.unlock()
                if stop { break }
                if down { continue }
                guard let first = try? broker.firstRetainedOffsets(topic: KafkaSettings.jobsTopic, partitions: partitions,
                                                                   timeoutMilliseconds: 500) else { continue }
                let grown = first.indices.filter { first[$0] > reported[$0] }
                guard !grown.isEmpty else { continue }
                reported = zip(reported, first).map { max($0, $1) }
                let list = grown.map { "\(KafkaSettings.jobsTopic)[\($0)] now starts at offset \(first[$0])" }.joined(separator: ", ")
                FileHandle.standardError.write(Data("""
                    warning: the embedded broker discarded its oldest records (it keeps about \(EmbeddedBroker.retainedBytesPerPartition >> 20) MiB \
                    per partition in memory): \(list). Jobs in records no worker had read yet were never delivered and stay \
                    queued; use more --partitions for large batches, or a real Kafka cluster.

                    """.utf8))
            }
            condition.lock(); finished = true; condition.broadcast(); condition.unlock()
        }
        thread.name = "ternflux-dev-broker-retention"
        thread.start()
    }

    /// Stops the thread and waits (bounded) for a query in flight, so the broker can be closed after it.
    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        let deadline = Date().addingTimeInterval(10)
        while !finished && condition.wait(until: deadline) {}
        condition.unlock()
    }
}
