import ArgumentParser
import Foundation
import JobQueue
import JobClient
import JobStore

struct RequeueCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "requeue",
        abstract: "Produce again the jobs that are queued in PostgreSQL but were never enqueued to Kafka.",
        discussion: "A crash between submit's insert and its produce (or between a retry's record and its produce) leaves such jobs; this finds and enqueues them, so nothing submitted is silently dropped."
    )

    @Option(help: "Only this batch.") var batch: String?
    @Option(name: .customLong("older-than"), help: "Only jobs created at least this many seconds ago (leaves a submit in progress alone).")
    var olderThan: Double = 60
    @Option(help: ArgumentHelp("Also produce again queued jobs enqueued at least this many seconds ago that no worker has started: their records may be gone (a broker that discarded them, an expired retention). Choose more than the longest queue wait: a job still waiting in the backlog is then delivered twice, and the second delivery is skipped.", valueName: "seconds"))
    var stale: Double?

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var kafka: KafkaOptions

    func run() throws {
        if let stale, !(stale >= 0) { throw ValidationError("--stale must be a number of seconds ≥ 0 (got \(stale))") }
        var batchID: UUID?
        if let batch {
            guard let id = UUID(uuidString: batch) else { throw ValidationError("--batch '\(batch)' is not a batch id (UUID)") }
            batchID = id
        }
        let repository = try JobRepository(settings: database.settings())
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(settings: try kafka.settings(), clientID: "ternflux-requeue"))
        defer { producer.close() }
        let submitter = BatchSubmitter(repository: repository, producer: producer)
        let total = try submitter.requeueNeverEnqueued(batchID: batchID, olderThan: olderThan)
        print("requeued \(total) job\(total == 1 ? "" : "s")")
        if let stale {
            let again = try submitter.requeueStale(batchID: batchID, olderThan: stale)
            print("produced again \(again) stale job\(again == 1 ? "" : "s") (enqueued ≥ \(Int(stale)) s ago, never started)")
        }
    }
}
