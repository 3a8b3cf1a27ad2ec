import Foundation

/// Every bound on what a job may ask for, in one place: `ternflux submit` checks each line against it
/// before anything is written, the worker checks every record again (anything can be produced to the
/// topic), the job store checks what it inserts, and the database's CHECK constraints hold the same numbers
/// (JobStoreTests/StoredLimitsTests probes them at every edge of these values).
public struct JobLimits: Sendable, Equatable {
    /// Longest prompt, in Unicode scalars (PostgreSQL's length()). The text encoders truncate far earlier
    /// (CLIP 77, T5 512 tokens); the limit keeps rows, records and logs bounded.
    public var maxPromptScalars: Int
    /// Image sides in pixels: multiples of `sideMultiple` (VAE ×8 and 2×2 patch packing) within range.
    public var sideRange: ClosedRange<Int>
    public var sideMultiple: Int
    public var stepsRange: ClosedRange<Int>
    public var guidanceRange: ClosedRange<Double>
    public var seedRange: ClosedRange<Int64>
    public var maxModelNameLength: Int
    /// A record's `attempt`: how often the job was handed out before.
    public var attemptRange: ClosedRange<Int>
    /// Deliveries a job may get (`--max-attempts`).
    public var maxAttemptsRange: ClosedRange<Int>
    /// A batch's name and source (the file it came from), in Unicode scalars.
    public var maxBatchNameLength: Int
    public var maxBatchSourceLength: Int
    /// A batch's idempotency key (`--batch-key`), in Unicode scalars.
    public var maxBatchKeyLength = 200
    /// Classifier-free guidance scale (`true_cfg_scale`; 1 is none): the pipeline's `TrueCFG.scaleRange`.
    public var trueCFGScaleRange: ClosedRange<Double> = 1...50
    /// A batch's completion webhook URL, in Unicode scalars.
    public var maxWebhookURLLength = 2_048
    /// Images one batch line may ask for (`images`: seeds seed … seed+N−1, one job each).
    public var imagesRange: ClosedRange<Int> = 1...64

    public init(maxPromptScalars: Int = 4_096, sideRange: ClosedRange<Int> = 16...2_048, sideMultiple: Int = 16,
                stepsRange: ClosedRange<Int> = 1...100, guidanceRange: ClosedRange<Double> = 0...30,
                seedRange: ClosedRange<Int64> = 0...Int64.max, maxModelNameLength: Int = 128,
                attemptRange: ClosedRange<Int> = 0...1_000, maxAttemptsRange: ClosedRange<Int> = 1...100,
                maxBatchNameLength: Int = 200, maxBatchSourceLength: Int = 4_096) {
        self.maxPromptScalars = maxPromptScalars
        self.sideRange = sideRange
        self.sideMultiple = sideMultiple
        self.stepsRange = stepsRange
        self.guidanceRange = guidanceRange
        self.seedRange = seedRange
        self.maxModelNameLength = maxModelNameLength
        self.attemptRange = attemptRange
        self.maxAttemptsRange = maxAttemptsRange
        self.maxBatchNameLength = maxBatchNameLength
        self.maxBatchSourceLength = maxBatchSourceLength
    }

    public static let standard = JobLimits()

    /// Every problem of `parameters`, each naming its field, in field order; empty when they are valid. A
    /// job to queue or store must have a seed and a model; width, height, steps and guidance may be unset.
    public func problems(of parameters: JobParameters) -> [JobFieldProblem] {
        var problems: [JobFieldProblem] = []
        func check(_ field: String, _ message: String?) {
            if let message { problems.append(JobFieldProblem(field: field, message: message)) }
        }
        let s = parameters.settings
        check("prompt", checkPrompt(parameters.prompt))
        check("seed", s.seed.map(checkSeed) ?? "is missing")
        check("width", s.width.flatMap(checkSide))
        check("height", s.height.flatMap(checkSide))
        check("steps", s.steps.flatMap(checkSteps))
        check("guidance", s.guidance.flatMap(checkGuidance))
        check("model", s.model.map(checkModel) ?? "is missing")
        check("negative_prompt", s.negativePrompt.flatMap(checkNegativePrompt))
        check("true_cfg_scale", s.trueCFGScale.flatMap(checkTrueCFGScale))
        return problems
    }

    // The checks of single fields, shared by every parser of job parameters (JSONL, CSV, text, Kafka records).

    public func checkPrompt(_ prompt: String) -> String? {
        if prompt.unicodeScalars.allSatisfy({ $0.properties.isWhitespace }) { return "must not be empty" }
        let scalars = prompt.unicodeScalars.count
        if scalars > maxPromptScalars {
            return "is \(scalars) characters long; the limit is \(maxPromptScalars)"
        }
        // Postgres text cannot hold U+0000, so such a prompt could never be recorded.
        if prompt.unicodeScalars.contains("\u{0}") { return "contains a NUL character (U+0000)" }
        return nil
    }

    /// A negative prompt may be empty (the empty prompt); otherwise it is bounded as a prompt is.
    public func checkNegativePrompt(_ text: String) -> String? {
        let scalars = text.unicodeScalars.count
        if scalars > maxPromptScalars { return "is \(scalars) characters long; the limit is \(maxPromptScalars)" }
        if text.unicodeScalars.contains("\u{0}") { return "contains a NUL character (U+0000)" }
        return nil
    }

    public func checkTrueCFGScale(_ value: Double) -> String? {
        value.isFinite && trueCFGScaleRange.contains(value) ? nil
            : "must be a number between \(trueCFGScaleRange.lowerBound) and \(trueCFGScaleRange.upperBound) (got \(value))"
    }

    public func checkImages(_ value: Int) -> String? {
        imagesRange.contains(value) ? nil
            : "must be between \(imagesRange.lowerBound) and \(imagesRange.upperBound) (got \(value))"
    }

    public func checkSide(_ value: Int) -> String? {
        if !sideRange.contains(value) || value % sideMultiple != 0 {
            return "must be a multiple of \(sideMultiple) between \(sideRange.lowerBound) and \(sideRange.upperBound) (got \(value))"
        }
        return nil
    }

    public func checkSteps(_ value: Int) -> String? {
        stepsRange.contains(value) ? nil
            : "must be between \(stepsRange.lowerBound) and \(stepsRange.upperBound) (got \(value))"
    }

    public func checkGuidance(_ value: Double) -> String? {
        value.isFinite && guidanceRange.contains(value) ? nil
            : "must be a number between \(guidanceRange.lowerBound) and \(guidanceRange.upperBound) (got \(value))"
    }

    public func checkSeed(_ value: Int64) -> String? {
        seedRange.contains(value) ? nil
            : "must be between \(seedRange.lowerBound) and \(seedRange.upperBound) (got \(value))"
    }

    public func checkModel(_ name: String) -> String? {
        if name.isEmpty { return "must not be empty" }
        if name.unicodeScalars.count > maxModelNameLength { return "is longer than \(maxModelNameLength) characters" }
        if name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            return "contains control characters"
        }
        return nil
    }

    public func checkAttempt(_ value: Int) -> String? {
        attemptRange.contains(value) ? nil
            : "must be between \(attemptRange.lowerBound) and \(attemptRange.upperBound) (got \(value))"
    }

    public func checkMaxAttempts(_ value: Int) -> String? {
        maxAttemptsRange.contains(value) ? nil
            : "must be between \(maxAttemptsRange.lowerBound) and \(maxAttemptsRange.upperBound) (got \(value))"
    }

    public func checkBatchName(_ name: String) -> String? {
        name.unicodeScalars.count > maxBatchNameLength ? "is longer than \(maxBatchNameLength) characters" : nil
    }

    public func checkBatchKey(_ key: String) -> String? {
        if key.isEmpty { return "must not be empty" }
        if key.unicodeScalars.count > maxBatchKeyLength { return "is longer than \(maxBatchKeyLength) characters" }
        if key.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) { return "contains control characters" }
        return nil
    }

    /// A completion webhook: an absolute http or https URL with a host, at most `maxWebhookURLLength` characters.
    public func checkWebhookURL(_ url: String) -> String? {
        if url.unicodeScalars.count > maxWebhookURLLength { return "is longer than \(maxWebhookURLLength) characters" }
        if url.unicodeScalars.contains(where: { $0.properties.generalCategory == .control || $0 == " " }) {
            return "contains spaces or control characters"
        }
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased() else {
            return "'\(url.prefix(80))' is not a URL"
        }
        guard scheme == "http" || scheme == "https" else { return "must be an http or https URL, got scheme '\(scheme)'" }
        guard let host = components.host, !host.isEmpty, url.lowercased().hasPrefix(scheme + "://") else {
            return "'\(url.prefix(80))' has no host"
        }
        return nil
    }

    public func checkBatchSource(_ source: String) -> String? {
        source.unicodeScalars.count > maxBatchSourceLength ? "is longer than \(maxBatchSourceLength) characters" : nil
    }
}
