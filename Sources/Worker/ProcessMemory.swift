import Foundation

/// Memory figures of this process, for the timings table and metrics.
public enum ProcessMemory {
    /// Peak resident set size in bytes (getrusage's ru_maxrss is in KiB on Linux).
    public static func peakResidentBytes() -> Int64 {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Int64(usage.ru_maxrss) * 1024
    }

    /// Current resident set size in bytes, from /proc/self/statm.
    public static func residentBytes() -> Int64 {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int64(fields[1]) else { return 0 }
        return pages * Int64(sysconf(Int32(_SC_PAGESIZE)))
    }
}
