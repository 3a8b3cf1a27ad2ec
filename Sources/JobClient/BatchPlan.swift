import Foundation
import JobModel
import JobQueue

/// A validated batch ready to be written: every job with its seed and model, ids assigned.
public struct BatchPlan: Sendable {
    public let batchID: UUID
    public let jobs: [JobMessage]
    /// Line numbers parallel to `jobs`, for messages that refer back to the file.
    public let lineNumbers: [Int]
}

public enum BatchPlanner {
    /// Fills every line's unset settings from `defaults` (the batch's: `submit` flags), then derives the seeds
    /// still unset and names the `default` model where none is named; a line asking for N images (its own
    /// `images`, else `images`) becomes N jobs with consecutive seeds; validates every job against `limits`.
    /// Width, height, steps and guidance left unset by line and batch stay unset: the worker's model decides.
    /// Returns the plan or every error found.
    public static func plan(lines: [BatchLine], defaults: JobSettings = JobSettings(), images: Int = 1,
                            limits: JobLimits = .standard, batchID: UUID = UUID()) -> Result<BatchPlan, BatchErrors> {
        var errors: [BatchLineError] = []
        var jobs: [JobMessage] = []
        var numbers: [Int] = []
        jobs.reserveCapacity(lines.count)
        for line in lines {
            var parameters = line.parameters.filling(from: defaults)
            if parameters.seed == nil { parameters.seed = JobSettings.derivedSeed(batchID: batchID, lineNumber: line.lineNumber) }
            if parameters.model == nil { parameters.model = JobSettings.defaultModel }
            // `images` N: N jobs of this line, seeds seed … seed+N−1 (all of them within the seed range).
            let count = line.images ?? images
            if let m = limits.checkImages(count) {
                errors.append(BatchLineError(lineNumber: line.lineNumber, message: "images: \(m)"))
                continue
            }
            let first = parameters.seed!
            let (last, overflow) = first.addingReportingOverflow(Int64(count - 1))
            if count > 1, limits.seedRange.contains(first), overflow || !limits.seedRange.contains(last) {
                errors.append(BatchLineError(lineNumber: line.lineNumber, message: "seed: \(first) + \(count) images passes the "
                    + "largest seed \(limits.seedRange.upperBound)"))
                continue
            }
            var lineProblems: [JobFieldProblem] = []
            var lineJobs: [JobMessage] = []
            for index in 0..<count {
                parameters.seed = first + Int64(index)
                let job = JobMessage(jobID: UUID(), batchID: batchID, parameters: parameters)
                lineProblems = job.validate(limits: limits)
                if !lineProblems.isEmpty { break }
                lineJobs.append(job)
            }
            if lineProblems.isEmpty {
                jobs += lineJobs
                numbers += Array(repeating: line.lineNumber, count: lineJobs.count)
            } else {
                errors.append(BatchLineError(lineNumber: line.lineNumber,
                                             message: lineProblems.map(\.description).joined(separator: "; ")))
            }
        }
        if !errors.isEmpty { return .failure(BatchErrors(errors: errors)) }
        return .success(BatchPlan(batchID: batchID, jobs: jobs, lineNumbers: numbers))
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
