import Foundation
import Hummingbird
import HummingbirdCore
import JobQueue
import Logging
import NIOCore
import ServiceLifecycle

/// `ternflux serve`: the HTTP API under /v1, `/openapi.json`, `/healthz` and the web gallery at `/`, as a
/// swift-service-lifecycle `Service` (run it in a `ServiceGroup`; graceful shutdown stops it).
///
/// Requests are served by Hummingbird on NIO's event loops; everything blocking (libpq, Kafka delivery
/// waits, file reads, planning large batches) runs on the thread pools of `DatabasePool`.
public final class APIServer: Service, @unchecked Sendable {
    public let configuration: APIServerConfiguration
    let services: APIServices
    let logger: Logger
    private let started = StartSignal()

    /// Checks the configuration (no tokens: loopback only) and creates the Kafka producer and the pools;
    /// connects to nothing yet (PostgreSQL on the first request; librdkafka in the background).
    public init(configuration: APIServerConfiguration, logger: Logger) throws {
        if let problem = configuration.problem() { throw problem }
        self.configuration = configuration
        self.logger = logger
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(settings: configuration.kafka, clientID: "ternflux-serve"))
        services = APIServices(
            reads: DatabasePool(settings: configuration.database, size: configuration.readConnections),
            submits: DatabasePool(settings: configuration.database, size: configuration.submitConnections),
            producer: producer, images: ImageFiles(root: configuration.outputRoot.standardizedFileURL),
            maxBodyBytes: configuration.maxBodyBytes, logger: logger)
    }

    /// The routes: the JSON error middleware around everything (404 and 405 included), then the origin guard,
    /// then the bearer check around /v1.
    /// `table` collects every route's path and methods (tests compare it with the OpenAPI document).
    static func makeRouter(services: APIServices, tokens: APITokens, logger: Logger,
                           table: RouteTable = RouteTable()) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self, options: .autoGenerateHeadEndpoints)
        router.add(middleware: JSONErrorMiddleware(logger: logger, routes: table))
        router.add(middleware: OriginGuardMiddleware(requireLoopbackHost: tokens.isEmpty))
        SystemRoutes(services: services).register(on: router, table: table)
        let v1 = router.group("v1").add(middleware: BearerAuthMiddleware(tokens: tokens))
        BatchRoutes(services: services).register(on: v1, table: table)
        JobRoutes(services: services).register(on: v1, table: table)
        return router
    }

    public func run() async throws {
        let router = Self.makeRouter(services: services, tokens: configuration.tokens, logger: logger)
        let signal = started
        let app = Application(
            router: router,
            server: .http1(configuration: HTTP1Channel.Configuration(idleTimeout: .nanoseconds(Int64(configuration.idleTimeoutSeconds * 1e9)))),
            configuration: ApplicationConfiguration(address: .hostname(configuration.host, port: configuration.port), serverName: "ternflux",
                                                    availableConnectionsDelegate: .maximum(configuration.maxClientConnections, logger: logger)),
            onServerRunning: { channel in signal.succeed(port: channel.localAddress?.port ?? 0) },
            logger: logger)
        do {
            try await app.run()
        } catch {
            signal.fail(error)
            await release()
            throw error
        }
        signal.fail(APIServerStopped())
        await release()
    }

    /// The port the server listens on, once it does (the bound one when started with port 0); throws when it
    /// could not start (the port is taken, the host is not this machine's).
    public func listeningPort() async throws -> Int {
        try await started.wait()
    }

    private func release() async {
        await services.reads.shutdown()
        await services.submits.shutdown()
        services.producer.close()
    }
}

/// The server stopped before it listened.
struct APIServerStopped: Error, CustomStringConvertible {
    var description: String { "the server stopped before it listened" }
}

/// Tells waiters the bound port once the server listens, or why it never will.
final class StartSignal: @unchecked Sendable {
    private let lock = NSLock()
    private var result: Result<Int, any Error>?
    private var waiters: [CheckedContinuation<Int, any Error>] = []

    func succeed(port: Int) { finish(.success(port)) }
    func fail(_ error: any Error) { finish(.failure(error)) }

    private func finish(_ outcome: Result<Int, any Error>) {
        let toResume: [CheckedContinuation<Int, any Error>] = lock.withLock {
            guard result == nil else { return [] }
            result = outcome
            defer { waiters = [] }
            return waiters
        }
        for waiter in toResume { waiter.resume(with: outcome) }
    }

    func wait() async throws -> Int {
        try await withCheckedThrowingContinuation { continuation in
            let known: Result<Int, any Error>? = lock.withLock {
                if let result { return result }
                waiters.append(continuation)
                return nil
            }
            if let known { continuation.resume(with: known) }
        }
    }
}
