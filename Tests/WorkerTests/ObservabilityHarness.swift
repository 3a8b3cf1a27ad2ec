import Foundation
import JobModel
import XCTest
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Talks to a worker's HTTP listener the way a probe or Prometheus would: one plain HTTP/1.1 GET
/// over a fresh TCP connection to 127.0.0.1 (no URLSession, so no proxy settings or connection pool).
enum Probe {
    struct Answer {
        var status: Int
        var headers: [String: String]
        var body: String
    }

    /// nil when nothing accepts connections on the port (or the answer is not HTTP).
    static func get(port: Int, path: String, timeoutSeconds: Int = 5) -> Answer? {
        guard let connection = LoopbackConnection(port: port, timeoutSeconds: Double(timeoutSeconds)),
              connection.send("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n\r\n")
        else { return nil }
        return parse(connection.readToEnd().bytes)
    }

    /// An HTTP/1.1 response (head and whatever body follows); nil when it is not one.
    static func parse(_ data: [UInt8]) -> Answer? {
        let text = String(decoding: data, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { return nil }
        let lines = text[..<split.lowerBound].components(separatedBy: "\r\n")
        let statusParts = lines.first?.split(separator: " ") ?? []
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { return nil }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return Answer(status: status, headers: headers, body: String(text[split.upperBound...]))
    }
}

/// A client TCP connection to 127.0.0.1:PORT, made with plain POSIX calls (reads time out after
/// `timeoutSeconds`; writes never raise SIGPIPE); closed when released.
final class LoopbackConnection {
    let fd: Int32

    /// How reading ended: the server closed (EOF or reset), or nothing came within the timeout.
    enum End: Equatable { case eof, reset, timedOut, failed(Int32) }

    init?(port: Int, timeoutSeconds: Double = 5) {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var timeout = timeval(tv_sec: Int(timeoutSeconds), tv_usec: Int(timeoutSeconds.truncatingRemainder(dividingBy: 1) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            return nil
        }
    }

    deinit { close(fd) }

    /// Sends all of `text`; false when the connection refused it (e.g. the server closed it).
    @discardableResult
    func send(_ text: String) -> Bool { send(Array(text.utf8)) }

    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool {
        #if canImport(Glibc)
        return bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == bytes.count
        #else
        return bytes.withUnsafeBytes { Darwin.send(fd, $0.baseAddress, $0.count, 0) } == bytes.count
        #endif
    }

    /// Reads until the server closes the connection or a read times out.
    func readToEnd() -> (bytes: [UInt8], end: End) {
        var data = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { data += chunk[0..<n]; continue }
            if n == 0 { return (data, .eof) }
            switch errno {
            case EAGAIN, EWOULDBLOCK: return (data, .timedOut)
            case ECONNRESET: return (data, .reset)
            case let code: return (data, .failed(code))
            }
        }
    }

    /// Reads one response whose length `Content-Length` gives (a keep-alive answer); nil when the
    /// connection ends or times out first.
    func readResponse() -> Probe.Answer? {
        var data = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            if let answer = Probe.parse(data), let length = answer.headers["content-length"].flatMap(Int.init),
               answer.body.utf8.count >= length {
                return answer
            }
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { return nil }
            data += chunk[0..<n]
        }
    }

    /// Whether the server has closed the connection, without waiting: a pending EOF (or reset) is
    /// there; no data and no EOF means it is still open.
    var closedByServer: Bool {
        var byte: UInt8 = 0
        let n = recv(fd, &byte, 1, Int32(MSG_DONTWAIT) | Int32(MSG_PEEK))
        return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
    }
}

/// One sample line of the Prometheus text format, e.g. `ternflux_jobs_total{outcome="succeeded"} 3`.
struct Sample: Equatable {
    var name: String
    var labels: [String: String]
    var value: Double

    /// Parses an exposition; comment lines are skipped. Label values here never contain `,` or `}`.
    static func parse(_ text: String) -> [Sample] {
        text.split(separator: "\n").compactMap { line -> Sample? in
            guard !line.hasPrefix("#"), let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...])
            else { return nil }
            let series = line[..<space]
            guard let brace = series.firstIndex(of: "{") else {
                return Sample(name: String(series), labels: [:], value: value)
            }
            var labels: [String: String] = [:]
            for pair in series[series.index(after: brace)..<series.index(before: series.endIndex)].split(separator: ",") {
                let kv = pair.split(separator: "=", maxSplits: 1)
                guard kv.count == 2 else { continue }
                labels[String(kv[0])] = String(kv[1].dropFirst().dropLast())
            }
            return Sample(name: String(series[..<brace]), labels: labels, value: value)
        }
    }
}

extension Array where Element == Sample {
    /// The value of the one sample named `name` whose labels include `labels`; nil when there is none.
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        first { sample in sample.name == name && labels.allSatisfy { key, value in sample.labels[key] == value } }?.value
    }

    func all(_ name: String) -> [Sample] { filter { $0.name == name } }
}

extension PipelineHarness {
    /// The port a worker started with `--metrics-port 0` logged (`metrics endpoint listening on HOST:PORT`).
    func metricsPort(ofWorker id: String, timeout: Double = 30, file: StaticString = #filePath, line: UInt = #line) -> Int? {
        var port: Int?
        waitUntil("worker \(id) to log its metrics port", timeout: timeout, file: file, line: line) {
            let log = workerLog(id)
            guard let range = log.range(of: #"metrics endpoint listening on [^\s]+:[0-9]+"#, options: .regularExpression) else {
                return false
            }
            port = Int(log[range].split(separator: ":").last ?? "")
            return port != nil
        }
        return port
    }
}

/// Runs `promtool check metrics` (Debian package `prometheus`) on an exposition.
func promtoolCheckMetrics(_ exposition: String) throws -> (status: Int32, output: String) {
    let candidates = ["/usr/bin/promtool", "/usr/local/bin/promtool"]
    guard let promtool = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
        throw XCTSkip("promtool not found (Debian package `prometheus`, installed by ops/install-system-deps.sh)")
    }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: promtool)
    p.arguments = ["check", "metrics"]
    let input = Pipe(), output = Pipe()
    p.standardInput = input
    p.standardOutput = output
    p.standardError = output
    try p.run()
    input.fileHandleForWriting.write(Data(exposition.utf8))
    try input.fileHandleForWriting.close()
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    return (p.terminationStatus, text)
}
