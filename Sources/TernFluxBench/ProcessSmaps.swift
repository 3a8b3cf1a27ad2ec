import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A process's memory as the kernel accounts it in /proc/PID/smaps_rollup (totals) and /proc/PID/smaps (per
/// mapping), in bytes. PSS (proportional set size) divides every shared page by the number of processes
/// mapping it, so the PSS of all processes on a node adds up to the memory they really use together.
public struct ProcessSmaps: Sendable, Equatable, Codable {
    public var rss = 0
    public var pss = 0
    public var pssAnon = 0
    public var pssFile = 0
    public var pssShmem = 0
    public var privateDirty = 0
    /// PSS of the mappings of files under the given folders (the memory-mapped weights).
    public var pssOfFiles = 0
    /// RSS of those mappings (whole pages resident, not divided among processes).
    public var rssOfFiles = 0

    /// PSS less the mapped weight files: the replica's own working memory plus its share of the binary and libraries.
    public var working: Int { pss - pssOfFiles }

    enum CodingKeys: String, CodingKey {
        case rss, pss, working
        case pssAnon = "pss_anon", pssFile = "pss_file", pssShmem = "pss_shmem", privateDirty = "private_dirty"
        case pssOfFiles = "pss_of_files", rssOfFiles = "rss_of_files"
    }

    public init() {}

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        rss = try c.decode(Int.self, forKey: .rss)
        pss = try c.decode(Int.self, forKey: .pss)
        pssAnon = try c.decode(Int.self, forKey: .pssAnon)
        pssFile = try c.decode(Int.self, forKey: .pssFile)
        pssShmem = try c.decode(Int.self, forKey: .pssShmem)
        privateDirty = try c.decode(Int.self, forKey: .privateDirty)
        pssOfFiles = try c.decode(Int.self, forKey: .pssOfFiles)
        rssOfFiles = try c.decode(Int.self, forKey: .rssOfFiles)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(rss, forKey: .rss)
        try c.encode(pss, forKey: .pss)
        try c.encode(working, forKey: .working)
        try c.encode(pssAnon, forKey: .pssAnon)
        try c.encode(pssFile, forKey: .pssFile)
        try c.encode(pssShmem, forKey: .pssShmem)
        try c.encode(privateDirty, forKey: .privateDirty)
        try c.encode(pssOfFiles, forKey: .pssOfFiles)
        try c.encode(rssOfFiles, forKey: .rssOfFiles)
    }

    /// Reads both files of process `pid`; `filesUnder` are folder (or file) paths whose mappings count as weights.
    public static func read(pid: Int32, filesUnder: [String]) throws -> ProcessSmaps {
        func load(_ name: String) throws -> String {
            let path = "/proc/\(pid)/\(name)"
            guard let text = readWhole(path) else {
                throw ProcessSmapsError("cannot read \(path): \(String(cString: strerror(errno)))")
            }
            return text
        }
        var result = try parseRollup(load("smaps_rollup"), source: "/proc/\(pid)/smaps_rollup")
        let files = parseMappings(try load("smaps"), filesUnder: filesUnder)
        result.pssOfFiles = files.pss
        result.rssOfFiles = files.rss
        return result
    }

    /// /proc files report size 0, so they are read until end of file rather than by their stat size.
    static func readWhole(_ path: String) -> String? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; return nil }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The totals of a smaps_rollup text ("Key:   123 kB" lines); Rss and Pss must be present.
    public static func parseRollup(_ text: String, source: String = "smaps_rollup") throws -> ProcessSmaps {
        var s = ProcessSmaps()
        var seen = Set<String>()
        for line in text.split(separator: "\n") {
            guard let (key, bytes) = field(line) else { continue }
            seen.insert(key)
            switch key {
            case "Rss": s.rss = bytes
            case "Pss": s.pss = bytes
            case "Pss_Anon": s.pssAnon = bytes
            case "Pss_File": s.pssFile = bytes
            case "Pss_Shmem": s.pssShmem = bytes
            case "Private_Dirty": s.privateDirty = bytes
            default: break
            }
        }
        for key in ["Rss", "Pss"] where !seen.contains(key) {
            throw ProcessSmapsError("\(source) has no '\(key):' line")
        }
        return s
    }

    /// Sums Pss and Rss over the mappings (in a full smaps text) whose path lies under one of `filesUnder`.
    public static func parseMappings(_ text: String, filesUnder: [String]) -> (pss: Int, rss: Int) {
        let prefixes = filesUnder.map { $0.hasSuffix("/") ? $0 : $0 + "/" }
        let exact = Set(filesUnder)
        var counting = false
        var pss = 0, rss = 0
        for line in text.split(separator: "\n") {
            if let path = mappingPath(line) {
                counting = exact.contains(path) || prefixes.contains { path.hasPrefix($0) }
                continue
            }
            guard counting, let (key, bytes) = field(line) else { continue }
            if key == "Pss" { pss += bytes } else if key == "Rss" { rss += bytes }
        }
        return (pss, rss)
    }

    /// "Key:   123 kB" → (Key, bytes); nil for other lines.
    static func field(_ line: Substring) -> (String, Int)? {
        guard let colon = line.firstIndex(of: ":") else { return nil }
        let parts = line[line.index(after: colon)...].split(separator: " ")
        guard parts.count == 2, parts[1] == "kB", let kb = Int(parts[0]) else { return nil }
        return (String(line[..<colon]), kb * 1024)
    }

    /// The path of a mapping header line ("7f..-7f.. r--s 00000000 fd:01 1234   /path"), "" for anonymous
    /// mappings, nil when the line is not a header.
    static func mappingPath(_ line: Substring) -> String? {
        let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
        guard fields.count >= 5, let dash = fields[0].firstIndex(of: "-"),
              UInt64(fields[0][..<dash], radix: 16) != nil, fields[1].count == 4 else { return nil }
        return fields.count == 6 ? fields[5].trimmingCharacters(in: .whitespaces) : ""
    }
}

public struct ProcessSmapsError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
