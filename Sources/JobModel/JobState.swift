/// Where a job is in its life: queued (waiting for a worker), running, or one of the terminal states.
public enum JobState: String, Sendable, Codable, CaseIterable {
    case queued, running, succeeded, failed, canceled

    public var isTerminal: Bool { self == .succeeded || self == .failed || self == .canceled }
}
