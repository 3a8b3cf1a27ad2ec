import ArgumentParser
import JobModel
import Logging

/// The worker's flags checked before anything starts: a duration that is not a finite number in its range
/// (`--job-timeout nan`, `--shutdown-grace -1`, `--job-timeout 1e300`) would otherwise reach the time
/// arithmetic and either never fire or fire at once.
extension WorkerCommand {
    /// The longest `--job-timeout`, `--shutdown-grace` and `--exit-when-idle` a worker takes: one week.
    static let maxDurationSeconds = 7 * 24 * 3600.0
    /// Generation slots one worker process runs (each a consumer-group member and a database connection).
    static let slotsRange = 1...64

    func validate() throws {
        try Self.checkDuration(jobTimeout, flag: "--job-timeout", allowZero: false)
        try Self.checkDuration(shutdownGrace, flag: "--shutdown-grace", allowZero: true)
        if let exitWhenIdle { try Self.checkDuration(exitWhenIdle, flag: "--exit-when-idle", allowZero: true) }
        try Self.checkDuration(fixedImageDelay, flag: "--fixed-image-delay", allowZero: true)
        if let maxJobs, maxJobs < 1 { throw ValidationError("--max-jobs must be at least 1, got \(maxJobs)") }
        if !Self.slotsRange.contains(slots) {
            throw ValidationError("--slots must be within \(Self.slotsRange.lowerBound)...\(Self.slotsRange.upperBound), got \(slots)")
        }
        let attempts = JobLimits.standard.maxAttemptsRange
        if !attempts.contains(maxAttempts) {
            throw ValidationError("--max-attempts must be within \(attempts.lowerBound)...\(attempts.upperBound), got \(maxAttempts)")
        }
        if group.isEmpty { throw ValidationError("--group must not be empty") }
        if !(1...100).contains(webhookMaxAttempts) {
            throw ValidationError("--webhook-max-attempts must be within 1...100, got \(webhookMaxAttempts)")
        }
        try Self.checkDuration(metricsIdleTimeout, flag: "--metrics-idle-timeout", allowZero: false)
        if metricsMaxConnections < 1 {
            throw ValidationError("--metrics-max-connections must be at least 1, got \(metricsMaxConnections)")
        }
        if Logger.Level(rawValue: logLevel) == nil {
            throw ValidationError("--log-level '\(logLevel)' is not one of trace, debug, info, notice, warning, error, critical")
        }
    }

    static func checkDuration(_ seconds: Double, flag: String, allowZero: Bool) throws {
        let lower = allowZero ? "0" : "more than 0"
        guard seconds.isFinite, allowZero ? seconds >= 0 : seconds > 0, seconds <= maxDurationSeconds else {
            throw ValidationError("\(flag) must be a number of seconds from \(lower) to \(Int(maxDurationSeconds)) (a week), got \(seconds)")
        }
    }
}
