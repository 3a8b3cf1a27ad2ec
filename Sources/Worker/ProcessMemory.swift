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

extension ProcessMemory {
    /// Bytes of this process's memory mappings of files under `folder` (from /proc/self/maps): the
    /// model weights a worker maps instead of reading.
    public static func mappedBytes(under folder: URL) -> Int64 {
        guard let text = readProcFile("/proc/self/maps") else { return 0 }
        let prefix = folder.standardizedFileURL.path.hasSuffix("/") ? folder.standardizedFileURL.path : folder.standardizedFileURL.path + "/"
        var total: Int64 = 0
        for line in text.split(separator: "\n") {
            // start-end perms offset dev inode path
            let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            guard fields.count == 6, fields[5].trimmingCharacters(in: .whitespaces).hasPrefix(prefix) else { continue }
            let range = fields[0].split(separator: "-")
            guard range.count == 2, let start = UInt64(range[0], radix: 16), let end = UInt64(range[1], radix: 16), end > start else { continue }
            total += Int64(end - start)
        }
        return total
    }
}

extension ProcessMemory {
    /// Reads a /proc file to its end. procfs reports size 0, and Foundation's
    /// `String(contentsOfFile:)` then returns only the first page (seen with /proc/self/maps).
    static func readProcFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 { return nil }
            if n == 0 { break }
            bytes += chunk[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
