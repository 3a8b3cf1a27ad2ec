import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// The worker's HTTP/1.1 listener: `GET /metrics` (Prometheus text format 0.0.4), `/healthz` and
/// `/readyz`. One event-loop thread; every answer is computed from `WorkerMetrics` on that thread and
/// never waits on the consume loop, so probes answer while a job runs or a connection is retried.
///
/// The listener is reachable by anyone who can reach the port (it binds 0.0.0.0 by default), so it
/// bounds what a client can hold (`Limits`): silent connections time out, a request must be complete
/// soon after it starts, at most `maxConnections` are open (a new one closes the least recently active),
/// and a connection is closed after `Connection: close` or any parse error. Whatever clients do, it
/// holds at most `maxConnections` connection descriptors (besides its listening socket and its loop's own).
public final class MetricsServer: @unchecked Sendable {
    /// What one client may hold of the listener.
    public struct Limits: Sendable, Equatable {
        /// A connection with nothing read from it (and no response written to it) for this long is
        /// closed: between requests, and also inside a request or while a response waits to be read.
        public var idleTimeoutSeconds: Double
        /// A request (its head, and its body if it has one; the paths served take none) must be
        /// complete this long after its first byte (the first request: after the connection was
        /// accepted); otherwise the listener answers `408` and closes the connection.
        public var headerTimeoutSeconds: Double
        /// Open connections at most; a connection accepted at the cap closes the least recently active
        /// one, so a fresh probe is answered however many idle sockets a client holds.
        public var maxConnections: Int

        public init(idleTimeoutSeconds: Double = 30, headerTimeoutSeconds: Double = 10, maxConnections: Int = 256) {
            self.idleTimeoutSeconds = idleTimeoutSeconds
            self.headerTimeoutSeconds = headerTimeoutSeconds
            self.maxConnections = maxConnections
        }

        func validate() throws {
            for (name, value) in [("idleTimeoutSeconds", idleTimeoutSeconds), ("headerTimeoutSeconds", headerTimeoutSeconds)]
            where !(value.isFinite && value > 0) {
                throw MetricsServerError.invalidLimit("\(name) must be a positive number of seconds (got \(value))")
            }
            guard maxConnections > 0 else {
                throw MetricsServerError.invalidLimit("maxConnections must be at least 1 (got \(maxConnections))")
            }
        }
    }

    public let metrics: WorkerMetrics
    public let limits: Limits
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel
    private let connections: ConnectionTable

    /// The bound address (with the real port when 0 was asked for).
    public let host: String
    public let port: Int

    /// Binds `host:port` (port 0: any free port) and starts serving.
    public init(host: String = "0.0.0.0", port: Int, metrics: WorkerMetrics, limits: Limits = Limits()) throws {
        guard (0...65535).contains(port) else { throw MetricsServerError.invalidPort(port) }
        try limits.validate()
        self.metrics = metrics
        self.limits = limits
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        // One thread: the server channel and every connection share this loop, and so does the table.
        let connections = ConnectionTable(eventLoop: group.next(), limits: limits)
        self.connections = connections
        let bootstrap = ServerBootstrap(group: group)
            // Room for a burst of connects while the loop accepts (and evicts): with 64, a flood of a few
            // hundred dropped SYNs, and a probe's connect waited out the 1 s SYN retransmission.
            .serverChannelOption(ChannelOptions.backlog, value: 1024)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // First in the pipeline: it sees every byte read, before the HTTP decoder.
                    let watch = ConnectionWatch(table: connections, limits: limits)
                    try channel.pipeline.syncOperations.addHandler(watch)
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(ProbeHandler(metrics: metrics, watch: watch))
                }
            }
            .childChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
        do {
            channel = try bootstrap.bind(host: host, port: port).wait()
        } catch {
            try? group.syncShutdownGracefully()
            throw MetricsServerError.bindFailed(host: host, port: port, reason: "\(error)")
        }
        self.host = host
        self.port = channel.localAddress?.port ?? port
    }

    /// Connections open now (accepted and not yet closed); never more than `limits.maxConnections`.
    /// Blocks until the listener's thread answers; do not call it from that thread.
    public func openConnectionCount() -> Int {
        let connections = self.connections
        return (try? connections.eventLoop.submit { connections.count }.wait()) ?? 0
    }

    public func close() {
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }

    /// `close()` for async callers (a blocking wait may not run on a cooperative thread).
    public func close() async {
        try? await channel.close().get()
        try? await group.shutdownGracefully()
    }
}

public enum MetricsServerError: Error, CustomStringConvertible {
    case invalidPort(Int)
    case bindFailed(host: String, port: Int, reason: String)
    case invalidLimit(String)

    public var description: String {
        switch self {
        case .invalidPort(let port): return "metrics port \(port) is not a TCP port (0-65535; 0 picks a free one)"
        case .bindFailed(let host, let port, let reason): return "cannot listen for metrics on \(host):\(port): \(reason)"
        case .invalidLimit(let reason): return "metrics listener limit: \(reason)"
        }
    }
}

/// Answers one request per head/end pair; keep-alive as the client asks. Closes the connection after
/// a response to `Connection: close` (or HTTP/1.0 without keep-alive) and on any error, in particular
/// after the `400` that `HTTPServerProtocolErrorHandler` sends for a request that does not parse.
private final class ProbeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let metrics: WorkerMetrics
    private let watch: ConnectionWatch
    private var request: HTTPRequestHead?

    init(metrics: WorkerMetrics, watch: ConnectionWatch) {
        self.metrics = metrics
        self.watch = watch
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // The 400 (for an HTTPParserError) is already written and flushed by the error handler before it
        // passes the error on; the decoder accepts nothing after an error, so the connection is done.
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            request = head
        case .body:
            break
        case .end:
            watch.requestCompleted()
            guard let head = request else { return }
            request = nil
            respond(to: head, context: context)
            watch.responseWritten()
        }
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        let status: HTTPResponseStatus
        let contentType: String
        let body: [UInt8]
        switch (head.method, path) {
        case (.GET, "/metrics"), (.HEAD, "/metrics"):
            (status, contentType, body) = (.ok, "text/plain; version=0.0.4; charset=utf-8", metrics.exposition())
        case (.GET, "/healthz"), (.HEAD, "/healthz"):
            if let reason = metrics.health.wedgedReason {
                (status, contentType, body) = (.serviceUnavailable, "text/plain; charset=utf-8", Array("\(reason)\n".utf8))
            } else {
                (status, contentType, body) = (.ok, "text/plain; charset=utf-8", Array("ok\n".utf8))
            }
        case (.GET, "/readyz"), (.HEAD, "/readyz"):
            if let reason = metrics.health.notReadyReason {
                (status, contentType, body) = (.serviceUnavailable, "text/plain; charset=utf-8", Array("\(reason)\n".utf8))
            } else {
                (status, contentType, body) = (.ok, "text/plain; charset=utf-8", Array("ready\n".utf8))
            }
        case (_, "/metrics"), (_, "/healthz"), (_, "/readyz"):
            (status, contentType, body) = (.methodNotAllowed, "text/plain; charset=utf-8", Array("use GET\n".utf8))
        default:
            (status, contentType, body) = (.notFound, "text/plain; charset=utf-8",
                                           Array("not found: \(path) (serving /metrics, /healthz, /readyz)\n".utf8))
        }
        let keepAlive = head.isKeepAlive
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(body.count))
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
