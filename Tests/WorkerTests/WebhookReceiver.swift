import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A real HTTP/1.1 receiver on 127.0.0.1 for the webhook tests: answers each POST with the next status of
/// `statuses` (the last one repeats), records every request it read, and can be started on a port chosen
/// before it listens (so a sender first finds nothing there: the receiver is "down").
final class WebhookReceiver: @unchecked Sendable {
    struct Request {
        let headers: [String: String]
        let body: [UInt8]
        let status: Int
    }

    let port: Int
    private let lock = NSLock()
    private var received: [Request] = []
    private var statuses: [Int]
    private var listener: Int32 = -1
    private var running = false
    /// Answer with a body that never ends (a hostile receiver), written until the client goes away.
    var endlessBody = false

    /// Reserves a free port (bound briefly, then released) without listening yet.
    init(statuses: [Int] = [200]) throws {
        self.statuses = statuses
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = Self.loopback(port: 0)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0 else { close(fd); throw ReceiverError(description: "bind failed") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &address) { _ = $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        port = Int(UInt16(bigEndian: address.sin_port))
        close(fd)
    }

    deinit { stop() }

    var url: String { "http://127.0.0.1:\(port)/hooks/ternflux" }

    var requests: [Request] { lock.lock(); defer { lock.unlock() }; return received }

    /// Starts listening and answering, each connection on its own thread.
    func start() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = Self.loopback(port: port)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(fd, 16) == 0 else { close(fd); throw ReceiverError(description: "cannot listen on \(port)") }
        lock.lock(); listener = fd; running = true; lock.unlock()
        let thread = Thread { [self] in
            while true {
                let client = accept(fd, nil, nil)
                if client < 0 { return }
                Thread { [self] in serve(client) }.start()
            }
        }
        thread.start()
    }

    func stop() {
        lock.lock()
        let fd = listener
        listener = -1
        running = false
        lock.unlock()
        if fd >= 0 { shutdown(fd, Int32(SHUT_RDWR)); close(fd) }
    }

    private func serve(_ client: Int32) {
        defer { close(client) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        var headerEnd: Int?
        var contentLength = 0
        while true {
            let n = read(client, &buffer, buffer.count)
            if n <= 0 { return }
            data += buffer[0..<n]
            if headerEnd == nil, let end = Self.find([13, 10, 13, 10], in: data) {
                headerEnd = end + 4
                let head = String(decoding: data[0..<end], as: UTF8.self)
                for line in head.split(separator: "\r\n").dropFirst() where line.lowercased().hasPrefix("content-length:") {
                    contentLength = Int(line.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) ?? 0
                }
            }
            if let headerEnd, data.count >= headerEnd + contentLength { break }
        }
        let end = headerEnd!
        var headers: [String: String] = [:]
        for line in String(decoding: data[0..<(end - 4)], as: UTF8.self).split(separator: "\r\n").dropFirst() {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2 { headers[parts[0].lowercased()] = parts[1].trimmingCharacters(in: .whitespaces) }
        }
        lock.lock()
        let status = statuses.count > 1 ? statuses.removeFirst() : statuses[0]
        received.append(Request(headers: headers, body: Array(data[end..<(end + contentLength)]), status: status))
        lock.unlock()
        if endlessBody {
            let head = "HTTP/1.1 \(status) X\r\nContent-Length: 100000000000\r\n\r\n"
            _ = head.withCString { write(client, $0, strlen($0)) }
            let chunk = [UInt8](repeating: 0x41, count: 1 << 20)
            var sent = 0
            while sent < 4_000 && chunk.withUnsafeBytes({ send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) > 0 { sent += 1 }
            return
        }
        let response = "HTTP/1.1 \(status) X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        _ = response.withCString { write(client, $0, strlen($0)) }
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for i in 0...(haystack.count - needle.count) where Array(haystack[i..<(i + needle.count)]) == needle { return i }
        return nil
    }

    static func loopback(port: Int) -> sockaddr_in {
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = UInt16(port).bigEndian
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        return a
    }

    struct ReceiverError: Error, CustomStringConvertible { let description: String }
}
