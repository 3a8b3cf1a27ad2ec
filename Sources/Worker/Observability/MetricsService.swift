import ServiceLifecycle

/// The metrics listener as a service of the worker's group: it serves until the group shuts down (after
/// the worker, which comes later in the group and is stopped first), then closes.
public struct MetricsService: Service {
    let server: MetricsServer

    public init(server: MetricsServer) { self.server = server }

    public func run() async throws {
        // Waits for the group's graceful shutdown; cancellation (the group failing) ends the wait too.
        try? await gracefulShutdown()
        await server.close()
    }
}
