import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// The worker's HTTP/1.1 listener: `GET /metrics` (Prometheus text format 0.0.4), `/healthz` and
/// `/readyz`. One event-loop thread; every answer is computed from `WorkerMetrics` on that thread and
/// never waits on the consume loop, so probes answer while a job runs or a connection is retried.
public final class MetricsServer: @unchecked Sendable {
    public let metrics: WorkerMetrics
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel

    /// The bound address (with the real port when 0 was asked for).
    public let host: String
    public let port: Int

    /// Binds `host:port` (port 0: any free port) and starts serving.
    public init(host: String = "0.0.0.0", port: Int, metrics: WorkerMetrics) throws {
        guard (0...65535).contains(port) else { throw MetricsServerError.invalidPort(port) }
        self.metrics = metrics
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 64)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(ProbeHandler(metrics: metrics))
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

    public var description: String {
        switch self {
        case .invalidPort(let port): return "metrics port \(port) is not a TCP port (0-65535; 0 picks a free one)"
        case .bindFailed(let host, let port, let reason): return "cannot listen for metrics on \(host):\(port): \(reason)"
        }
    }
}

/// Answers one request per head/end pair; keep-alive as the client asks.
private final class ProbeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let metrics: WorkerMetrics
    private var request: HTTPRequestHead?

    init(metrics: WorkerMetrics) {
        self.metrics = metrics
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            request = head
        case .body:
            break
        case .end:
            guard let head = request else { return }
            request = nil
            respond(to: head, context: context)
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
