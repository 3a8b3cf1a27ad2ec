import Foundation
import JobQueue
import JobClient

/// Runs one batch-file format on arbitrary bytes and checks what `ternflux submit` relies on:
/// line numbers point into the file, and every job the planner accepts is one the worker's parser
/// accepts unchanged (the two sides share JobLimits and must never disagree).
public func checkBatchParse(_ input: Data, format: BatchFileFormat) {
    let (lines, errors) = BatchFileParser.parse(input, format: format)
    let lineCount = input.reduce(1) { $0 + ($1 == 0x0A ? 1 : 0) }
    for line in lines {
        invariant((1...lineCount).contains(line.lineNumber), "line number \(line.lineNumber) outside 1...\(lineCount)")
    }
    for error in errors {
        invariant((1...lineCount).contains(error.lineNumber), "error line \(error.lineNumber) outside 1...\(lineCount): \(error)")
        invariant(!error.message.isEmpty, "error without a message at line \(error.lineNumber)")
    }
    guard case .success(let plan) = BatchPlanner.plan(lines: lines) else { return }
    invariant(plan.jobs.count == lines.count, "plan has \(plan.jobs.count) jobs for \(lines.count) lines")
    for job in plan.jobs {
        let record: [UInt8]
        do { record = Array(try JSONEncoder().encode(job)) } catch {
            invariant(false, "cannot encode planned job: \(error)")
            return
        }
        do {
            let parsed = try JobMessage.parse(value: record, key: Array(job.jobID.uuidString.lowercased().utf8))
            invariant(parsed == job, "worker reads a different job than submit planned: \(job) vs \(parsed)")
        } catch {
            invariant(false, "submit accepted a job the worker rejects: \(error)")
        }
    }
}
