import ArgumentParser
import Foundation
import JobModel
import JobStore

/// `ternflux history [--batch --state --since --limit] [--json]`: jobs from the job_history view.
struct HistoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "List jobs, newest first, with their state, timings and last error.")

    @Option(help: "Only this batch (its id).")
    var batch: String?

    @Option(help: "Only jobs in this state: \(JobState.allCases.map(\.rawValue).joined(separator: ", ")).")
    var state: String?

    @Option(help: ArgumentHelp("Only jobs created since this time: an ISO 8601 time (2026-11-24T22:00:00Z) or an age such as 30m, 2h, 7d.", valueName: "time"))
    var since: String?

    @Option(help: "Only jobs last run by this worker id.")
    var worker: String?

    @Option(help: "At most this many jobs.")
    var limit: Int = 50

    @Flag(help: "Print a JSON array.")
    var json = false

    @OptionGroup var database: DatabaseOptions

    func validate() throws {
        _ = try filter(now: Date())
    }

    func filter(now: Date) throws -> HistoryFilter {
        var filter = HistoryFilter(limit: limit)
        if limit < 1 { throw ValidationError("--limit must be at least 1") }
        if let batch {
            guard let id = UUID(uuidString: batch) else { throw ValidationError("--batch \"\(batch)\" is not a batch id (a UUID)") }
            filter.batchID = id
        }
        if let state {
            guard let value = JobState(rawValue: state) else {
                throw ValidationError("--state \"\(state)\" is not one of \(JobState.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            filter.state = value
        }
        if let since {
            do { filter.since = try SinceParser.parse(since, now: now) } catch let error as SinceParser.Failure {
                throw ValidationError("--since \"\(since)\": \(error.description)")
            }
        }
        filter.workerID = worker
        return filter
    }

    func run() throws {
        let db = try database.connect()
        defer { db.close() }
        let entries = try JobRepository(connection: db).history(try filter(now: Date()))
        if json { try ReportFormatting.printJSON(entries); return }
        if entries.isEmpty { print("no jobs match"); return }
        print(ReportFormatting.table(
            header: ["job", "batch", "state", "try", "created", "total ms", "latency ms", "worker", "prompt / last error"],
            rows: entries.map { e in
                let text = e.lastError.map { "error: \($0)" } ?? e.prompt
                let oneLine = text.replacingOccurrences(of: "\n", with: " ")
                return [e.jobID.uuidString.lowercased(), String(e.batchID.uuidString.lowercased().prefix(8)), e.state.rawValue, "\(e.attempt)",
                        ReportFormatting.time(e.createdAt), ReportFormatting.number(e.totalMs, digits: 0),
                        ReportFormatting.number(e.latencyMs, digits: 0), e.workerID ?? "-",
                        oneLine.count > 60 ? String(oneLine.prefix(57)) + "..." : oneLine]
            }))
    }
}
