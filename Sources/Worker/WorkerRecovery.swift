import Foundation
import JobQueue
import JobStore
import Logging

extension WorkerService {
    /// Processes `record` until its outcome is recorded, or until the record is no longer this member's
    /// to process (its partition was revoked, or the worker is shutting down); returns nil then.
    ///
    /// A failure to record (PostgreSQL restarted or unreachable, the broker down) keeps the record in hand:
    /// the database session is re-established when it broke, the worker waits while polling (heartbeats and
    /// rebalances go on, the paused partitions fetch nothing new) and processes the same record again. Its
    /// offset is never stored before its outcome is, and no later record of the partition is taken first, so
    /// nothing is skipped (docs/reliability.md tells why this replaced seeking back).
    func processUntilRecorded(_ record: ConsumedMessage, processor: JobProcessor, runner: PollingJobRunner,
                              repository: JobRepository) throws -> JobOutcome? {
        var delay = 0.5
        while true {
            do {
                return try processor.process(record, runner: runner)
            } catch {
                var metadata = JobMessage.logMetadata(record)
                metadata["error"] = "\(error)"
                logger.error("could not record the outcome; will retry the record", metadata: metadata)
                Self.reconnectIfBroken(repository.db, after: error, logger: logger)
                let shutdown = self.shutdown
                try runner.wait(seconds: delay, until: { shutdown.isRequested })
                delay = min(delay * 2, 5)
                if shutdown.isRequested {
                    logger.notice("shutting down: the record is left unrecorded for the next owner",
                                  metadata: JobMessage.logMetadata(record))
                    return nil
                }
                if !runner.consumer.assignment.contains(TopicPartition(topic: record.topic, partition: record.partition)) {
                    logger.notice("partition revoked while retrying; its new owner processes the record",
                                  metadata: JobMessage.logMetadata(record))
                    return nil
                }
            }
        }
    }

    /// Re-establishes the session after a connection failure (a server restart closes every session; libpq
    /// does not reconnect by itself). A server still down leaves it broken; the next retry tries again.
    static func reconnectIfBroken(_ db: PostgresConnection, after error: Error, logger: Logger) {
        let connectionError = (error as? PostgresError)?.isConnectionError ?? false
        guard connectionError || !db.isConnected else { return }
        do {
            try db.reset()
            logger.notice("reconnected to PostgreSQL")
        } catch {
            logger.warning("PostgreSQL still unreachable", metadata: ["error": "\(error)"])
        }
    }
}
