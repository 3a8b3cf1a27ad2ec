import ArgumentParser
import Foundation
import JobModel
import JobStore

/// `ternflux cancel BATCH`: every queued or running job of the batch becomes canceled. Workers skip
/// canceled jobs when their records arrive; a job already running finishes, but its result is not recorded.
struct CancelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel",
        abstract: "Cancel a batch's queued and running jobs.")

    @Argument(help: "The batch id.")
    var batch: String

    @OptionGroup var database: DatabaseOptions

    func validate() throws {
        if UUID(uuidString: batch) == nil { throw ValidationError("batch \"\(batch)\" is not a batch id (a UUID)") }
    }

    func run() throws {
        let id = UUID(uuidString: batch)!
        let db = try database.connect()
        defer { db.close() }
        let repo = JobRepository(connection: db)
        let canceled = try repo.cancelBatch(id)
        print("canceled \(canceled) job\(canceled == 1 ? "" : "s") of batch \(id.uuidString.lowercased())")
        if let progress = try repo.batchProgress(id) {
            print("now: \(progress.succeeded) succeeded, \(progress.failed) failed, \(progress.canceled) canceled of \(progress.total)")
        }
    }
}
