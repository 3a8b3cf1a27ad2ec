import Foundation

/// How many threads one process spreads one image's work over: the cores it may run on, capped by the
/// `TERNFLUX_THREADS` environment variable. The kernels' pool (pool.c) reads the same variable. On a small model
/// one thread per process is as fast as two and uses less CPU (docs/benchmarks.md, "Threads per process"), so a
/// node runs one worker per core with `TERNFLUX_THREADS=1`.
public enum ComputeThreads {
    public static let environmentVariable = "TERNFLUX_THREADS"

    public struct InvalidValue: Error, CustomStringConvertible {
        public let value: String
        public var description: String {
            "\(ComputeThreads.environmentVariable)='\(value)' is not a positive whole number of threads (1…4096)"
        }
    }

    /// The cap a value of the variable sets: nil when unset or empty; a bad value throws.
    public static func cap(from value: String?) throws -> Int? {
        guard let value, !value.isEmpty else { return nil }
        guard let n = Int(value), (1...4096).contains(n) else { throw InvalidValue(value: value) }
        return n
    }

    /// Throws if the variable is set to something that is not a thread count (the pool would ignore it).
    public static func validateEnvironment() throws {
        _ = try cap(from: ProcessInfo.processInfo.environment[environmentVariable])
    }

    /// Threads for one image: the usable cores, capped by the variable (a bad value caps nothing here; the
    /// command line refuses it first).
    public static let count: Int = {
        let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)
        let limit = (try? cap(from: ProcessInfo.processInfo.environment[environmentVariable])) ?? nil
        return min(cores, limit ?? cores)
    }()
}
