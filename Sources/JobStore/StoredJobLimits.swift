/// The outer bounds a stored job's parameters must meet (the database's own invariant). The policy limits
/// that submit and the worker enforce are `JobLimits` in JobQueue, always within these. The `jobs_parameters_within_limits` CHECK constraint in
/// migrations/000001_job_tables.up.sql holds the same numbers (a test keeps them in step), so a job
/// that breaks them can only be stored as failed.
public enum StoredJobLimits {
    public static let sideRange: ClosedRange<Int> = 16...2048
    /// Width and height are multiples of this: the VAE downsamples by 8 and FLUX packs 2×2 patches.
    public static let sideMultiple = 16
    public static let stepsRange: ClosedRange<Int> = 1...200
    public static let guidanceRange: ClosedRange<Double> = 0...50
    /// In Unicode characters (PostgreSQL's length()).
    public static let promptLength: ClosedRange<Int> = 1...10_000
    public static let modelNameLength: ClosedRange<Int> = 1...200
    public static let maxAttemptsRange: ClosedRange<Int> = 1...100

    /// Every way `parameters` break the limits, each naming the field; empty when they are valid.
    public static func violations(of parameters: JobParameters) -> [String] {
        var problems: [String] = []
        let promptLength = parameters.prompt.unicodeScalars.count
        if !self.promptLength.contains(promptLength) {
            problems.append(promptLength == 0 ? "prompt is empty" : "prompt has \(promptLength) characters; the limit is \(self.promptLength.upperBound)")
        }
        for (field, value) in [("width", parameters.width), ("height", parameters.height)] {
            if !sideRange.contains(value) || value % sideMultiple != 0 {
                problems.append("\(field) \(value) must be a multiple of \(sideMultiple) between \(sideRange.lowerBound) and \(sideRange.upperBound)")
            }
        }
        if !stepsRange.contains(parameters.steps) {
            problems.append("steps \(parameters.steps) must be between \(stepsRange.lowerBound) and \(stepsRange.upperBound)")
        }
        if !guidanceRange.contains(parameters.guidance) {
            problems.append("guidance \(parameters.guidance) must be between \(guidanceRange.lowerBound) and \(guidanceRange.upperBound)")
        }
        let modelLength = parameters.model.unicodeScalars.count
        if !modelNameLength.contains(modelLength) {
            problems.append(modelLength == 0 ? "model is empty" : "model name has \(modelLength) characters; the limit is \(modelNameLength.upperBound)")
        }
        return problems
    }
}
