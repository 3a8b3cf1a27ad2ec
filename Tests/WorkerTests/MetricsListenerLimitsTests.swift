import Foundation
import Worker
import XCTest

/// The metrics listener's limits (`MetricsServer.Limits`) against real loopback sockets: a flood of
/// idle connections cannot keep a fresh probe from being answered nor hold more than `maxConnections`
/// descriptors, silent connections and unfinished requests are closed, and so is every connection after
/// `Connection: close` or a request that does not parse. The whole class takes a few seconds.
final class MetricsListenerLimitsTests: XCTestCase {
    private var servers: [MetricsServer] = []

    override func tearDown() {
        servers.forEach { $0.close() }
        servers = []
        super.tearDown()
    }

    private func server(_ limits: MetricsServer.Limits = .init()) throws -> MetricsServer {
        let server = try MetricsServer(host: "127.0.0.1", port: 0, metrics: WorkerMetrics(), limits: limits)
        servers.append(server)
        return server
    }

    /// 300 idle sockets against a cap of 32 (the attack that used up the worker's descriptors): a new
    /// probe still gets `200 ok` at once, the listener holds at most 32 connections, and the ones it
    /// closed are the oldest.
    func testIdleFloodEvictsTheOldestAndAFreshProbeIsAnswered() throws {
        let server = try server(.init(maxConnections: 32))
        var idle: [LoopbackConnection] = []
        for i in 0..<300 {
            idle.append(try XCTUnwrap(LoopbackConnection(port: server.port, timeoutSeconds: 2), "connection \(i)"))
        }
        waitFor("the listener to accept all 300", timeout: 5) { idle.prefix(300 - 32).allSatisfy(\.closedByServer) }
        XCTAssertLessThanOrEqual(server.openConnectionCount(), 32)

        let started = Date()
        let answer = try XCTUnwrap(Probe.get(port: server.port, path: "/healthz", timeoutSeconds: 2))
        XCTAssertEqual(answer.status, 200)
        XCTAssertEqual(answer.body, "ok\n")
        XCTAssertLessThan(Date().timeIntervalSince(started), 2)
        XCTAssertLessThanOrEqual(server.openConnectionCount(), 32)

        // The probe pushed out one more of the idle ones, the oldest left: 300 - 31 are closed.
        waitFor("the probe's eviction", timeout: 2) { idle[300 - 32].closedByServer }
        let closed = idle.map(\.closedByServer)
        XCTAssertEqual(closed.filter { $0 }.count, 300 - 31)
        XCTAssertFalse(closed.suffix(31).contains(true), "the newest connections stay open")
        // Those that stay open are still served.
        let newest = try XCTUnwrap(idle.last)
        XCTAssertTrue(newest.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"))
        XCTAssertEqual(newest.readResponse()?.status, 200)
    }

    /// With a 1 s idle timeout: a connection that never sends, and one that sent a request and then
    /// went quiet, read EOF within about a second; one that keeps sending requests stays open.
    func testSilentConnectionsAreClosedAfterTheIdleTimeoutBusyOnesStay() throws {
        let server = try server(.init(idleTimeoutSeconds: 1))
        let started = Date()
        let silent = try XCTUnwrap(LoopbackConnection(port: server.port, timeoutSeconds: 4))
        let quiet = try XCTUnwrap(LoopbackConnection(port: server.port, timeoutSeconds: 4))
        let busy = try XCTUnwrap(LoopbackConnection(port: server.port, timeoutSeconds: 4))
        XCTAssertTrue(quiet.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"))
        XCTAssertEqual(quiet.readResponse()?.status, 200)

        // 2.5 s of a request every 0.3 s: longer than the idle timeout, never silent for that long.
        while Date().timeIntervalSince(started) < 2.5 {
            XCTAssertTrue(busy.send("GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n"))
            XCTAssertEqual(busy.readResponse()?.status, 503, "not ready: no model, no Kafka") // an answer, not EOF
            Thread.sleep(forTimeInterval: 0.3)
        }
        for (name, connection) in [("silent", silent), ("quiet", quiet)] {
            let (bytes, end) = connection.readToEnd()
            XCTAssertEqual(end, .eof, name)
            XCTAssertTrue(bytes.isEmpty, name)
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 3.5)
        XCTAssertFalse(busy.closedByServer)
        XCTAssertTrue(busy.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"))
        XCTAssertEqual(busy.readResponse()?.status, 200)
    }

    /// With a 1 s header timeout: `GET /metr` followed by a byte every 0.2 s (a slowloris: never
    /// silent, never done) is answered `408` and closed about 1 s after its first byte; a connection that
    /// sends nothing at all is closed 1 s after the accept.
    func testUnfinishedRequestHeadIsClosedAfterTheHeaderTimeout() throws {
        let server = try server(.init(idleTimeoutSeconds: 30, headerTimeoutSeconds: 1))
        let nothing = try XCTUnwrap(LoopbackConnection(port: server.port, timeoutSeconds: 4))
        let slow = try XCTUnwrap(LoopbackConnection(port: server.port, timeoutSeconds: 0.2))
        let started = Date()
        XCTAssertTrue(slow.send("GET /metr"))
        var received: [UInt8] = []
        var end = LoopbackConnection.End.timedOut
        for byte in "ics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".utf8 {
            let (bytes, how) = slow.readToEnd() // waits 0.2 s for the server
            received += bytes
            end = how
            if how != .timedOut || Date().timeIntervalSince(started) > 4 { break }
            slow.send([byte])
        }
        let elapsed = Date().timeIntervalSince(started)
        XCTAssertEqual(end, .eof)
        XCTAssertEqual(Probe.parse(received)?.status, 408)
        XCTAssertGreaterThan(elapsed, 0.8)
        XCTAssertLessThan(elapsed, 2.5)

        XCTAssertEqual(nothing.readToEnd().end, .eof)
        XCTAssertLessThan(Date().timeIntervalSince(started), 2.5)
    }

    /// `Connection: close` gets its answer, then EOF; so does HTTP/1.0 without keep-alive.
    func testConnectionCloseRequestIsAnsweredThenClosed() throws {
        let server = try server()
        for request in ["GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "GET /healthz HTTP/1.0\r\n\r\n"] {
            let connection = try XCTUnwrap(LoopbackConnection(port: server.port, timeoutSeconds: 3))
            XCTAssertTrue(connection.send(request))
            let (bytes, end) = connection.readToEnd()
            XCTAssertEqual(end, .eof, request) // not .timedOut: the server shut the connection
            let answer = try XCTUnwrap(Probe.parse(bytes), request)
            XCTAssertEqual(answer.status, 200)
            XCTAssertEqual(answer.body, "ok\n")
        }
    }

    /// Bytes that are not HTTP (here the start of a TLS ClientHello, and a request line with a bad
    /// method) get NIO's `400` and then EOF, instead of an open socket nobody reads.
    func testGarbageGetsA400ThenTheConnectionIsClosed() throws {
        let server = try server()
        let garbage: [[UInt8]] = [[0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03] + Array("\r\n\r\n".utf8),
                                  Array("G@RBAGE / HTTP/1.1\r\nHost: x\r\n\r\n".utf8)]
        for bytes in garbage {
            let connection = try XCTUnwrap(LoopbackConnection(port: server.port, timeoutSeconds: 3))
            XCTAssertTrue(connection.send(bytes))
            let (answer, end) = connection.readToEnd()
            XCTAssertEqual(Probe.parse(answer)?.status, 400, String(decoding: answer, as: UTF8.self))
            XCTAssertEqual(end, .eof)
        }
        XCTAssertEqual(Probe.get(port: server.port, path: "/healthz")?.status, 200, "the listener serves on")
        waitFor("the listener to drop every connection", timeout: 2) { server.openConnectionCount() == 0 }
    }

    func testLimitsMustBePositive() {
        for limits in [MetricsServer.Limits(idleTimeoutSeconds: 0), .init(idleTimeoutSeconds: .nan),
                       .init(headerTimeoutSeconds: -1), .init(headerTimeoutSeconds: .infinity), .init(maxConnections: 0)] {
            XCTAssertThrowsError(try MetricsServer(host: "127.0.0.1", port: 0, metrics: WorkerMetrics(), limits: limits)) { error in
                XCTAssertTrue("\(error)".hasPrefix("metrics listener limit: "), "\(error)")
            }
        }
        // Very long timeouts are accepted (taken as 10⁹ s), not an overflow.
        XCTAssertNoThrow(try server(.init(idleTimeoutSeconds: 1e300, headerTimeoutSeconds: .greatestFiniteMagnitude)))
    }

    /// `ternflux worker` refuses bad values of the two flags, naming the flag, before it connects anywhere.
    func testWorkerFlagsAreValidated() throws {
        let timeout = "--metrics-idle-timeout must be a number of seconds from more than 0 to 604800 (a week), got"
        let cases = [("--metrics-max-connections=0", "--metrics-max-connections must be at least 1, got 0"),
                     ("--metrics-max-connections=-5", "--metrics-max-connections must be at least 1, got -5"),
                     ("--metrics-idle-timeout=0", "\(timeout) 0.0"),
                     ("--metrics-idle-timeout=-1", "\(timeout) -1.0"),
                     ("--metrics-idle-timeout=nan", "\(timeout) nan"),
                     ("--metrics-idle-timeout=inf", "\(timeout) inf"),
                     ("--metrics-idle-timeout=1e9", "\(timeout) 1000000000.0")]
        for (flag, message) in cases {
            let p = Process()
            p.executableURL = PipelineHarness.binary
            p.arguments = ["worker", "--fixed-image", "--brokers", "127.0.0.1:9", "--database-url", "host=/nonexistent",
                           "--metrics-port", "0", flag]
            let errors = Pipe()
            p.standardError = errors
            p.standardOutput = FileHandle.nullDevice
            try p.run()
            let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, 64, flag) // ArgumentParser's validation exit code (EX_USAGE)
            XCTAssertTrue(text.contains(message), "\(flag): \(text)")
        }
    }

    /// The worker's start-up call: the soft open-file limit ends at the hard limit.
    func testDescriptorLimitIsRaisedToTheHardLimit() throws {
        let limit = try DescriptorLimit.raiseSoftToHard()
        XCTAssertEqual(limit.soft, limit.hard)
        XCTAssertEqual(try DescriptorLimit.current().soft, limit.hard)
        XCTAssertLessThanOrEqual(limit.previousSoft, limit.soft)
    }

    private func waitFor(_ what: String, timeout: Double, file: StaticString = #filePath, line: UInt = #line,
                         _ condition: () -> Bool) {
        let deadline = Date().addingTimeInterval(timeout)
        while !condition() {
            guard Date() < deadline else { return XCTFail("timed out waiting for \(what)", file: file, line: line) }
            Thread.sleep(forTimeInterval: 0.02)
        }
    }
}
