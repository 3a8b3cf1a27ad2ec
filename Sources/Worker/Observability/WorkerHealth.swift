import Foundation

/// What `/readyz` and `/healthz` answer: the worker's start-up and connection state, updated from the
/// threads that learn it (model load, connection retries, the heartbeat thread, the consumer's poll
/// callbacks) and read by the HTTP listener's thread.
///
/// Ready = model loaded, consumer group joined (zero partitions is fine), Postgres answered last time,
/// not shutting down. Alive = the poll loop turned (or librdkafka statistics, which are served by the
/// same polling, arrived) within `wedgedAfterSeconds`; before the poll loop starts the process is alive
/// by definition (it is loading its model or retrying its connections).
public final class WorkerHealth: @unchecked Sendable {
    private let lock = NSLock()
    private var modelLoaded = false
    private var postgresProblem: String? = "not connected yet"
    private var kafkaStarted = false
    private var groupJoined = false
    private var lastKafkaError: String?
    private var shuttingDown = false
    private var pollLoopStarted = false
    private var lastSignOfLife: UInt64 = 0
    /// Seconds without a poll-loop turn or statistics after which `/healthz` says the worker is wedged.
    public var wedgedAfterSeconds: Double

    public init(wedgedAfterSeconds: Double = 120) {
        self.wedgedAfterSeconds = wedgedAfterSeconds
    }

    public func setModelLoaded() { locked { modelLoaded = true } }

    public func postgresReachable() { locked { postgresProblem = nil } }

    public func postgresUnreachable(_ error: any Error) {
        let text = Self.oneLine("\(error)")
        locked { postgresProblem = text }
    }

    /// The consumer exists and polls; the group is joined once an assignment or a statistics report says so.
    public func kafkaConsumerStarted() { locked { kafkaStarted = true } }

    /// From librdkafka statistics: the group handler's state (`up` once joined).
    public func kafkaGroupState(_ state: String?) {
        locked {
            groupJoined = state == "up"
            if groupJoined { lastKafkaError = nil }
        }
    }

    /// An assignment arrived: the group is joined (until the next statistics report says otherwise).
    public func kafkaAssigned() { locked { groupJoined = true; lastKafkaError = nil } }

    public func kafkaError(_ message: String) {
        let text = Self.oneLine(message)
        locked { lastKafkaError = text }
    }

    public func setShuttingDown() { locked { shuttingDown = true } }

    /// The consume loop turned (or the consumer's statistics arrived): the worker is not wedged.
    public func pollLoopTurned() {
        let now = DispatchTime.now().uptimeNanoseconds
        locked { pollLoopStarted = true; lastSignOfLife = now }
    }

    /// Why the worker is not ready, one line (problems joined by "; "), or nil when it is ready.
    public var notReadyReason: String? {
        locked {
            var problems: [String] = []
            if shuttingDown { problems.append("shutting down") }
            if !modelLoaded { problems.append("loading model") }
            if !kafkaStarted {
                problems.append("kafka: consumer not started")
            } else if !groupJoined {
                problems.append("kafka: consumer group not joined" + (lastKafkaError.map { " (\($0))" } ?? ""))
            }
            if let postgresProblem { problems.append("postgres: \(postgresProblem)") }
            return problems.isEmpty ? nil : problems.joined(separator: "; ")
        }
    }

    public var isReady: Bool { notReadyReason == nil }

    /// Why the worker looks wedged, or nil while it is alive.
    public var wedgedReason: String? {
        let now = DispatchTime.now().uptimeNanoseconds
        return locked {
            guard pollLoopStarted, !shuttingDown else { return nil }
            let quiet = Double(now &- lastSignOfLife) / 1e9
            return quiet > wedgedAfterSeconds ? "poll loop has not turned for \(Int(quiet)) s" : nil
        }
    }

    private func locked<T>(_ body: () -> T) -> T {
        lock.lock(); defer { lock.unlock() }
        return body()
    }

    /// libpq and librdkafka messages may span lines ("...failed: ...\n\tIs the server running...?");
    /// the first line names the problem.
    static func oneLine(_ text: String) -> String {
        let first = text.split(whereSeparator: \.isNewline).first.map(String.init) ?? text
        return first.trimmingCharacters(in: .whitespaces)
    }
}
