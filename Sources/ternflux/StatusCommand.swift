import ArgumentParser
import Foundation
import JobModel
import JobStore

/// `ternflux status [BATCH] [--json]`: progress of one batch, or of the newest batches.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show batch progress: jobs by state, latency percentiles, images per second.")

    @Argument(help: "A batch id; without it, the newest batches are listed.")
    var batch: String?

    @Option(help: "How many batches to list when no batch is given.")
    var limit: Int = 20

    @Flag(help: "Print JSON (one object for a batch, an array otherwise).")
    var json = false

    @OptionGroup var database: DatabaseOptions

    func validate() throws {
        if let batch, UUID(uuidString: batch) == nil { throw ValidationError("batch \"\(batch)\" is not a batch id (a UUID)") }
        if limit < 1 { throw ValidationError("--limit must be at least 1") }
    }

    func run() throws {
        let db = try database.connect()
        defer { db.close() }
        let repo = JobRepository(connection: db)
        if let batch, let id = UUID(uuidString: batch) {
            guard let progress = try repo.batchProgress(id) else { throw JobStoreError.batchNotFound(id) }
            if json { try ReportFormatting.printJSON(progress) } else { print(Self.describe(progress)) }
        } else {
            let batches = try repo.recentBatches(limit: limit)
            if json { try ReportFormatting.printJSON(batches); return }
            if batches.isEmpty { print("no batches"); return }
            print(ReportFormatting.table(
                header: ["batch", "name", "created", "total", "queued", "running", "succeeded", "failed", "canceled", "p95 ms", "img/s"],
                rows: batches.map { b in
                    [b.batchID.uuidString.lowercased(), b.name, ReportFormatting.time(b.createdAt), "\(b.total)", "\(b.queued)",
                     "\(b.running)", "\(b.succeeded)", "\(b.failed)", "\(b.canceled)",
                     ReportFormatting.number(b.p95LatencyMs, digits: 0), ReportFormatting.number(b.imagesPerSecond, digits: 2)]
                }))
        }
    }

    static func describe(_ b: BatchProgress) -> String {
        var lines = [
            "batch      \(b.batchID.uuidString.lowercased())\(b.name.isEmpty ? "" : "  (\(b.name))")",
            "created    \(ReportFormatting.time(b.createdAt))\(b.canceledAt.map { "  canceled \(ReportFormatting.time($0))" } ?? "")",
            "jobs       \(b.total) total: \(b.queued) queued, \(b.running) running, \(b.succeeded) succeeded, \(b.failed) failed, \(b.canceled) canceled",
            "state      \(b.finished ? "finished" : "in progress") (\(b.total == 0 ? 100 : (b.succeeded + b.failed + b.canceled) * 100 / b.total)% done)",
        ]
        if b.succeeded > 0 {
            lines.append("latency    p50 \(ReportFormatting.number(b.p50LatencyMs, digits: 0)) ms, p95 \(ReportFormatting.number(b.p95LatencyMs, digits: 0)) ms (enqueue to finish)")
            lines.append("generation p50 \(ReportFormatting.number(b.p50GenerationMs, digits: 0)) ms, p95 \(ReportFormatting.number(b.p95GenerationMs, digits: 0)) ms (on the worker)")
            lines.append("throughput \(ReportFormatting.number(b.imagesPerSecond, digits: 2)) images/s")
        }
        return lines.joined(separator: "\n")
    }
}

/// Shared text and JSON output of the report and bench commands.
enum ReportFormatting {
    /// `value` as JSON on stdout, keys sorted; `pretty: false` prints one line (what the bench scripts read).
    /// (The encoder is JobStore's `ReportJSON`, which the HTTP API answers with too.)
    static func printJSON<T: Encodable>(_ value: T, pretty: Bool = true) throws {
        print(String(decoding: try ReportJSON.encoder(pretty: pretty).encode(value), as: UTF8.self))
    }

    static func time(_ date: Date, fractional: Bool = false) -> String {
        let formatter = ISO8601DateFormatter()
        if fractional { formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds] }
        return formatter.string(from: date)
    }

    static func number(_ value: Double?, digits: Int) -> String {
        guard let value else { return "-" }
        return String(format: "%.\(digits)f", value)
    }

    /// Left-aligned columns separated by two spaces.
    static func table(header: [String], rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { column, cell in
                column == row.count - 1 ? cell : cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}
