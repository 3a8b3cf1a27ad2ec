import Foundation
import XCTest

/// Client connections are bounded: one that sends nothing is closed after the idle timeout, and past the cap
/// the server accepts no more until one closes, so idle clients cannot use up its descriptors.
final class ConnectionLimitsTests: XCTestCase {
    /// A connected TCP socket to the server, or a failed test.
    func connectSocket(_ port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        XCTAssertEqual(result, 0, String(cString: strerror(errno)))
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    func testIdleConnectionsCloseAndTheCapHoldsTheRestBack() throws {
        let harness = try APIHarness { $0.idleTimeoutSeconds = 1.5; $0.maxClientConnections = 2 }
        // Two silent connections fill the cap.
        let idle = try (0..<2).map { _ in try connectSocket(harness.port) }
        defer { idle.forEach { close($0) } }
        Thread.sleep(forTimeInterval: 0.3)
        let started = Date()
        let response = try harness.client.get("/healthz")   // waits in the backlog until an idle one is closed
        let waited = Date().timeIntervalSince(started)
        XCTAssertEqual(response.status, 200)
        XCTAssertGreaterThan(waited, 0.8, "the third connection was served only once an idle one was closed")
        XCTAssertLessThan(waited, 8)
        var byte: UInt8 = 0
        for fd in idle { XCTAssertEqual(recv(fd, &byte, 1, 0), 0, "an idle connection reads EOF: the server closed it") }
        // With room again, a request is answered at once.
        let quick = Date()
        XCTAssertEqual(try harness.client.get("/healthz").status, 200)
        XCTAssertLessThan(Date().timeIntervalSince(quick), 0.8)
    }
}
