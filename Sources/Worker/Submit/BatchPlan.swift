import Foundation
import JobQueue

/// Batch-level defaults from `ternflux submit` flags, applied to fields a line leaves out.
public struct BatchDefaults: Sendable, Equatable {
    public var width = 128
    public var height = 128
    public var steps = 8
    public var guidance = 3.5
    public var model = "default"
    /// When nil, each job's seed is derived from the batch id and its line number.
    public var seed: Int64?

    public init() {}
}

/// A validated batch ready to be written: every job fully specified, ids assigned.
public struct BatchPlan: Sendable {
    public let batchID: UUID
    public let jobs: [JobMessage]
    /// Line numbers parallel to `jobs`, for messages that refer back to the file.
    public let lineNumbers: [Int]
}

public enum BatchPlanner {
    /// Validates every line against `limits` and the defaults; returns the plan or every error found.
    public static func plan(lines: [BatchLine], defaults: BatchDefaults, limits: JobLimits = .standard,
                            batchID: UUID = UUID()) -> Result<BatchPlan, BatchErrors> {
        var errors: [BatchLineError] = []
        var jobs: [JobMessage] = []
        var numbers: [Int] = []
        jobs.reserveCapacity(lines.count)
        for line in lines {
            let job = JobMessage(
                jobID: UUID(), batchID: batchID, prompt: line.prompt,
                seed: line.seed ?? defaults.seed ?? derivedSeed(batchID: batchID, lineNumber: line.lineNumber),
                width: line.width ?? defaults.width, height: line.height ?? defaults.height,
                steps: line.steps ?? defaults.steps, guidance: line.guidance ?? defaults.guidance,
                model: line.model ?? defaults.model)
            let problems = job.validate(limits: limits)
            if problems.isEmpty {
                jobs.append(job)
                numbers.append(line.lineNumber)
            } else {
                errors.append(BatchLineError(lineNumber: line.lineNumber,
                                             message: problems.map(\.description).joined(separator: "; ")))
            }
        }
        if !errors.isEmpty { return .failure(BatchErrors(errors: errors)) }
        return .success(BatchPlan(batchID: batchID, jobs: jobs, lineNumbers: numbers))
    }

    /// A seed that depends only on the batch id and the line: re-running a batch file under the same
    /// batch id reproduces every image. 53 bits, so the value is exact in any JSON reader.
    public static func derivedSeed(batchID: UUID, lineNumber: Int) -> Int64 {
        let digest = SHA256.hexDigest(Array("\(batchID.uuidString.lowercased()):\(lineNumber)".utf8))
        let value = UInt64(digest.prefix(16), radix: 16)!
        return Int64(value & ((1 << 53) - 1))
    }
}

/// Every problem found in a batch file; nothing is written while there is one.
public struct BatchErrors: Error, Sendable, CustomStringConvertible {
    public let errors: [BatchLineError]

    public init(errors: [BatchLineError]) { self.errors = errors }

    public var description: String {
        "\(errors.count) invalid line\(errors.count == 1 ? "" : "s"); nothing was submitted:\n"
            + errors.map { "  \($0)" }.joined(separator: "\n")
    }
}
