#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The process's open-file budget (RLIMIT_NOFILE). The worker raises the soft limit to the hard limit at
/// start, so image files, Kafka and PostgreSQL sockets have the most room the system grants; the metrics
/// listener, capped at `MetricsServer.Limits.maxConnections`, can take only a fixed share of it.
public struct DescriptorLimit: Sendable, Equatable, CustomStringConvertible {
    /// The soft limit before the call, the soft limit now, and the hard limit.
    public var previousSoft: UInt64
    public var soft: UInt64
    public var hard: UInt64

    public var description: String {
        previousSoft == soft ? "\(Self.text(soft)) (the hard limit)"
            : "\(Self.text(soft)) (raised from \(Self.text(previousSoft)) to the hard limit)"
    }

    /// Reads the limits without changing them.
    public static func current() throws -> DescriptorLimit {
        let limit = try read()
        return DescriptorLimit(previousSoft: UInt64(limit.rlim_cur), soft: UInt64(limit.rlim_cur), hard: UInt64(limit.rlim_max))
    }

    /// Sets the soft limit to the hard limit (where the hard limit is unlimited, as macOS may report, to
    /// `OPEN_MAX`, the most that `setrlimit` accepts there). Throws when the limits cannot be read or set;
    /// callers treat that as a warning, the process keeps the limit it had.
    public static func raiseSoftToHard() throws -> DescriptorLimit {
        var limit = try read()
        let previous = UInt64(limit.rlim_cur)
        var target = limit.rlim_max
        #if canImport(Darwin)
        if target == infinity { target = rlim_t(OPEN_MAX) }
        #endif
        if limit.rlim_cur < target {
            limit.rlim_cur = target
            guard setrlimit(resource, &limit) == 0 else {
                throw DescriptorLimitError.cannotSet(from: previous, to: UInt64(target), reason: String(cString: strerror(errno)))
            }
        }
        let now = try read()
        return DescriptorLimit(previousSoft: previous, soft: UInt64(now.rlim_cur), hard: UInt64(now.rlim_max))
    }

    private static func read() throws -> rlimit {
        var limit = rlimit()
        guard getrlimit(resource, &limit) == 0 else { throw DescriptorLimitError.cannotRead(String(cString: strerror(errno))) }
        return limit
    }

    #if canImport(Glibc)
    private static let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    private static let infinity = rlim_t.max  // glibc's RLIM_INFINITY, ~0 (Swift cannot import the macro)
    #else
    private static let resource = RLIMIT_NOFILE
    private static let infinity = RLIM_INFINITY
    #endif

    static func text(_ value: UInt64) -> String {
        value == UInt64(infinity) ? "unlimited" : String(value)
    }
}

public enum DescriptorLimitError: Error, CustomStringConvertible {
    case cannotRead(String)
    case cannotSet(from: UInt64, to: UInt64, reason: String)

    public var description: String {
        switch self {
        case .cannotRead(let reason): return "cannot read the open-file limit (RLIMIT_NOFILE): \(reason)"
        case .cannotSet(let from, let to, let reason):
            return "cannot raise the open-file limit (RLIMIT_NOFILE) from \(from) to \(to): \(reason)"
        }
    }
}
