import NIOCore

/// Every open connection of one `MetricsServer`, for the connection cap. Only touched on `eventLoop`,
/// the listener's one thread (the server channel and all its connections run there), so it needs no lock.
final class ConnectionTable: @unchecked Sendable {
    let eventLoop: any EventLoop
    private let capacity: Int
    private var open: [ObjectIdentifier: ConnectionWatch] = [:]

    init(eventLoop: any EventLoop, limits: MetricsServer.Limits) {
        self.eventLoop = eventLoop
        capacity = limits.maxConnections
    }

    var count: Int {
        eventLoop.preconditionInEventLoop()
        return open.count
    }

    /// Registers a connection just accepted; at the cap, first closes the least recently active ones.
    /// The newcomer is never the one closed, so a fresh probe gets its answer during a flood.
    func admit(_ connection: ConnectionWatch) {
        eventLoop.preconditionInEventLoop()
        while open.count >= capacity, let oldest = open.values.min(by: { $0.lastActivity < $1.lastActivity }) {
            open[ObjectIdentifier(oldest)] = nil
            oldest.close()
        }
        open[ObjectIdentifier(connection)] = connection
    }

    func remove(_ connection: ConnectionWatch) {
        eventLoop.preconditionInEventLoop()
        open[ObjectIdentifier(connection)] = nil
    }
}

/// First handler of each connection (before the HTTP decoder, so it sees every byte read): records
/// when the connection was last active and closes it when it stays silent for the idle timeout, or when
/// a request is not complete within the header timeout of its first byte (of the accept, for the first
/// request). One scheduled check per connection, moved only when a deadline comes earlier; a check that
/// finds the deadline moved later (the connection was active) schedules itself again.
final class ConnectionWatch: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let table: ConnectionTable
    private let idle: TimeAmount
    private let header: TimeAmount
    private var context: ChannelHandlerContext?
    /// Last byte read or last response written.
    private(set) var lastActivity = NIODeadline.now()
    /// Set while a request is under way (or expected: from the accept); nil between requests.
    private var requestStart: NIODeadline?
    /// Whether bytes of the current request arrived (a request that timed out is answered `408`).
    private var requestBytes = false
    private var check: Scheduled<Void>?
    private var checkAt: NIODeadline?
    private var closed = false

    static let requestTimeout = "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"

    init(table: ConnectionTable, limits: MetricsServer.Limits) {
        self.table = table
        idle = Self.amount(limits.idleTimeoutSeconds)
        header = Self.amount(limits.headerTimeoutSeconds)
    }

    /// Seconds as a `TimeAmount`; more than 10⁹ s (32 years) is taken as 10⁹ s, which cannot overflow.
    static func amount(_ seconds: Double) -> TimeAmount {
        .nanoseconds(Int64(min(seconds, 1e9) * 1e9))
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stop()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        let now = NIODeadline.now()
        lastActivity = now
        requestStart = now
        table.admit(self)
        arm()
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        stop()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastActivity = .now()
        requestBytes = true
        if requestStart == nil {
            requestStart = lastActivity
            arm()
        }
        context.fireChannelRead(data)
    }

    /// The HTTP handler received a request's end: the header timeout stops until the next byte.
    func requestCompleted() {
        requestStart = nil
        requestBytes = false
    }

    /// A response was written (it may still wait in the send buffer; the idle timeout bounds that).
    func responseWritten() {
        lastActivity = .now()
    }

    /// Closes the connection now (evicted at the cap).
    func close() {
        guard !closed, let context else { return }
        stop()
        context.close(promise: nil)
    }

    private var deadline: NIODeadline {
        let silent = lastActivity + idle
        guard let requestStart else { return silent }
        return min(silent, requestStart + header)
    }

    private func arm() {
        guard !closed, let context else { return }
        let due = deadline
        if let checkAt, checkAt <= due { return }
        check?.cancel()
        checkAt = due
        check = context.eventLoop.assumeIsolated().scheduleTask(deadline: due) { [weak self] in self?.fire() }
    }

    private func fire() {
        check = nil
        checkAt = nil
        guard !closed, let context else { return }
        guard NIODeadline.now() >= deadline else { return arm() }
        let partial = requestStart != nil && requestBytes
        stop()
        if partial {
            // Straight to the socket (this handler is first): the HTTP handlers have no response under way,
            // since every response is written whole as soon as its request ends.
            context.writeAndFlush(Self.wrapOutboundOut(context.channel.allocator.buffer(string: Self.requestTimeout)), promise: nil)
        }
        context.close(promise: nil)
    }

    private func stop() {
        closed = true
        check?.cancel()
        check = nil
        checkAt = nil
        table.remove(self)
    }
}
