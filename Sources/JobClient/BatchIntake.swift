import Foundation
import JobModel

/// A batch as a client hands it in (`ternflux submit`, `POST /v1/batches`): the file's bytes and the
/// batch-wide settings. `BatchIntake.plan` turns it into a validated `BatchPlan` or every error with its line,
/// the same way for every client.
public struct BatchRequest: Sendable {
    public var data: Data
    /// nil: guessed (`BatchFileFormat.sniff`) unless `fileName` has a known extension.
    public var format: BatchFileFormat?
    public var fileName: String?
    /// Settings of lines that leave them out (the submit flags).
    public var defaults: JobSettings
    /// Images of each line that does not say (`--images`).
    public var images: Int
    public var allowUnknownFields: Bool
    public var maxAttempts: Int
    /// The batch's name and completion webhook as the client gives them (flags, API fields); nil: the JSONL
    /// header line's, if any.
    public var name: String?
    public var webhookURL: String?

    public init(data: Data, format: BatchFileFormat? = nil, fileName: String? = nil, defaults: JobSettings = JobSettings(),
                images: Int = 1, allowUnknownFields: Bool = false, maxAttempts: Int = 3, name: String? = nil,
                webhookURL: String? = nil) {
        self.name = name
        self.webhookURL = webhookURL
        self.data = data
        self.format = format
        self.fileName = fileName
        self.defaults = defaults
        self.images = images
        self.allowUnknownFields = allowUnknownFields
        self.maxAttempts = maxAttempts
    }

    /// The format read: the one named, else the file name's, else guessed from the first lines.
    public var resolvedFormat: BatchFileFormat {
        format ?? fileName.flatMap(BatchFileFormat.fromFileName) ?? BatchFileFormat.sniff(String(decoding: data.prefix(4096), as: UTF8.self))
    }

    /// What identifies a submit under a batch key: the bytes and every setting that shapes its jobs.
    public var digest: String {
        let d = defaults
        func text<T>(_ value: T?) -> String { value.map { "\($0)" } ?? "-" }
        let settings = [resolvedFormat.rawValue, text(d.seed), text(d.width), text(d.height), text(d.steps), text(d.guidance),
                        text(d.model), String(maxAttempts), text(d.negativePrompt), text(d.trueCFGScale), String(images),
                        text(webhookURL)]
        return SHA256.hexDigest(Array(settings.joined(separator: "\u{1F}").utf8) + [0x1E] + Array(data))
    }
}

/// A request planned: the jobs, and the batch's name and webhook (the request's, else the file header's).
public struct IntakenBatch: Sendable {
    public var plan: BatchPlan
    public var name: String?
    public var webhookURL: String?
}

public enum BatchIntake {
    /// The one error of a batch file without a single prompt (callers may word it with the file's name).
    public static let noPrompts = BatchLineError(lineNumber: 0, message: "no prompts found")

    /// `intake`, for callers that need only the jobs.
    public static func plan(_ request: BatchRequest, limits: JobLimits = .standard,
                            batchID: UUID = UUID()) -> Result<BatchPlan, BatchErrors> {
        intake(request, limits: limits, batchID: batchID).map(\.plan)
    }

    /// Parses and plans `request`: every problem of every line (and of the batch settings, line 0) at once,
    /// sorted by line, or the planned batch. A batch without a single prompt is an error too.
    public static func intake(_ request: BatchRequest, limits: JobLimits = .standard,
                              batchID: UUID = UUID()) -> Result<IntakenBatch, BatchErrors> {
        var errors: [BatchLineError] = []
        if let m = limits.checkImages(request.images) { errors.append(BatchLineError(lineNumber: 0, message: "images: \(m)")) }
        if let m = limits.checkMaxAttempts(request.maxAttempts) {
            errors.append(BatchLineError(lineNumber: 0, message: "max_attempts: \(m)"))
        }
        for problem in limits.problems(of: JobParameters(prompt: "-", settings: request.defaults.filling(from: JobSettings(seed: 0, model: "-")))) {
            errors.append(BatchLineError(lineNumber: 0, message: "default \(problem)"))
        }
        if !errors.isEmpty { return .failure(BatchErrors(errors: errors)) }
        let parsed = BatchFileParser.parseFile(request.data, format: request.resolvedFormat,
                                               allowUnknownFields: request.allowUnknownFields, limits: limits)
        errors = parsed.errors
        let name = request.name ?? parsed.header?.name
        let webhookURL = request.webhookURL ?? parsed.header?.webhookURL
        if let name, let m = limits.checkBatchName(name) { errors.append(BatchLineError(lineNumber: 0, message: "name: \(m)")) }
        if let webhookURL, let m = limits.checkWebhookURL(webhookURL) {
            errors.append(BatchLineError(lineNumber: 0, message: "webhook_url: \(m)"))
        }
        let planned = BatchPlanner.plan(lines: parsed.lines, defaults: request.defaults, images: request.images, limits: limits,
                                        batchID: batchID)
        if case .failure(let e) = planned { errors += e.errors }
        if !errors.isEmpty { return .failure(BatchErrors(errors: errors.sorted { $0.lineNumber < $1.lineNumber })) }
        let plan = try! planned.get()
        if plan.jobs.isEmpty { return .failure(BatchErrors(errors: [noPrompts])) }
        return .success(IntakenBatch(plan: plan, name: name, webhookURL: webhookURL))
    }
}
