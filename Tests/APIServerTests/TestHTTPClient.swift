import Foundation

/// A small blocking HTTP/1.1 client over a TCP socket, for the API tests: it sends exactly what a test asks
/// for (any method, any header, no header at all, bodies larger than the server takes) and reads the answer
/// to the end (`Connection: close`), so every status and byte the server sends can be asserted on.
struct TestHTTPClient {
    let port: Int

    struct Response: CustomStringConvertible {
        var status: Int
        /// Header names lower-cased.
        var headers: [String: String]
        var body: Data

        var text: String { String(decoding: body, as: UTF8.self) }
        var json: Any? { try? JSONSerialization.jsonObject(with: body) }
        var object: [String: Any] { (json as? [String: Any]) ?? [:] }
        /// `error.message` of a JSON error body.
        var errorMessage: String { ((object["error"] as? [String: Any])?["message"] as? String) ?? "" }
        /// `error.errors` of a JSON error body as (line, message).
        var lineErrors: [(line: Int, message: String)] {
            (((object["error"] as? [String: Any])?["errors"] as? [[String: Any]]) ?? []).map {
                (($0["line"] as? Int) ?? -1, ($0["message"] as? String) ?? "")
            }
        }
        var description: String { "\(status) \(text.prefix(600))" }
    }

    struct Failure: Error, CustomStringConvertible { let description: String }

    func get(_ path: String, token: String? = nil, headers: [String: String] = [:]) throws -> Response {
        try request("GET", path, token: token, headers: headers)
    }

    func post(_ path: String, body: Data = Data(), contentType: String? = nil, token: String? = nil,
              headers: [String: String] = [:]) throws -> Response {
        var all = headers
        if let contentType { all["Content-Type"] = contentType }
        return try request("POST", path, body: body, token: token, headers: all)
    }

    func post(_ path: String, text: String, contentType: String, token: String? = nil) throws -> Response {
        try post(path, body: Data(text.utf8), contentType: contentType, token: token)
    }

    func request(_ method: String, _ path: String, body: Data = Data(), token: String? = nil,
                 headers: [String: String] = [:], sendContentLength: Bool = true) throws -> Response {
        var head = "\(method) \(path) HTTP/1.1\r\n"
        if !headers.keys.contains(where: { $0.lowercased() == "host" }) { head += "Host: 127.0.0.1:\(port)\r\n" }
        head += "Connection: close\r\n"
        if let token { head += "Authorization: Bearer \(token)\r\n" }
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if sendContentLength && (!body.isEmpty || method == "POST" || method == "PUT") { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"

        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw Failure(description: "connect to port \(port): \(String(cString: strerror(errno)))") }
        // A server may answer (413) and close before the whole body is sent: a failed write is not an error
        // here, the answer is what counts.
        _ = sendAll(fd, Data(head.utf8) + body)
        var received = Data()
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n > 0 { received.append(buffer, count: n); continue }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && received.isEmpty { throw Failure(description: "recv: \(String(cString: strerror(errno)))") }
            break
        }
        return try Self.parse(received)
    }

    private func sendAll(_ fd: Int32, _ data: Data) -> Bool {
        data.withUnsafeBytes { raw -> Bool in
            var offset = 0
            while offset < raw.count {
                let n = send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return false }
                offset += n
            }
            return true
        }
    }

    static func parse(_ data: Data) throws -> Response {
        guard let end = data.range(of: Data("\r\n\r\n".utf8)) else {
            throw Failure(description: "no complete response head in \(data.count) bytes")
        }
        let lines = String(decoding: data[..<end.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { throw Failure(description: "bad status line \(lines[0])") }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var body = Data(data[end.upperBound...])
        if headers["transfer-encoding"]?.lowercased() == "chunked" { body = try dechunk(body) }
        else if let length = headers["content-length"].flatMap(Int.init), body.count > length { body = body.prefix(length) }
        return Response(status: status, headers: headers, body: body)
    }

    static func dechunk(_ data: Data) throws -> Data {
        var out = Data()
        var rest = data[...]
        while let lineEnd = rest.range(of: Data("\r\n".utf8)) {
            let sizeText = String(decoding: rest[..<lineEnd.lowerBound], as: UTF8.self).split(separator: ";")[0]
            guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else { throw Failure(description: "bad chunk size") }
            if size == 0 { return out }
            let start = lineEnd.upperBound
            guard rest.distance(from: start, to: rest.endIndex) >= size + 2 else { throw Failure(description: "truncated chunk") }
            let stop = rest.index(start, offsetBy: size)
            out.append(rest[start..<stop])
            rest = rest[rest.index(stop, offsetBy: 2)...]
        }
        throw Failure(description: "chunked body without its last chunk")
    }
}
