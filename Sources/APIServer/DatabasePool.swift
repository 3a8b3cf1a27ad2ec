import Foundation
import JobStore
import NIOPosix

/// Runs the API's PostgreSQL work, which is blocking libpq calls, on a pool of threads of its own, never on
/// an event loop. Each thread takes one connection from the pool for one unit of work (so a connection is
/// used by one request at a time; there are never more connections than threads), opening one when none is
/// idle. A connection that fails as a connection is closed, not returned: the next request opens a new one,
/// and while PostgreSQL cannot be reached every request is answered 503. The submit routes have a pool of
/// their own, so a submit waiting on Kafka delivery reports never holds up the reads or /healthz.
final class DatabasePool: @unchecked Sendable {
    let settings: DatabaseSettings
    let size: Int
    private let threads: NIOThreadPool
    private let lock = NSLock()
    private var idle: [PostgresConnection] = []

    init(settings: DatabaseSettings, size: Int) {
        self.settings = settings
        self.size = size
        threads = NIOThreadPool(numberOfThreads: size)
        threads.start()
    }

    /// Runs `body` on a pool thread with a repository over a pooled connection.
    func run<T: Sendable>(_ body: @escaping @Sendable (JobRepository) throws -> T) async throws -> T {
        try await threads.runIfActive { try self.use(try self.checkout(), body) }
    }

    /// Runs CPU-heavy work that needs no connection (parsing and planning a large batch) on a pool thread, off
    /// the threads that serve the other requests.
    func compute<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await threads.runIfActive(body)
    }

    /// Runs `body` on `connection` and puts the connection back, unless it failed as a connection.
    private func use<T>(_ connection: PostgresConnection, _ body: (JobRepository) throws -> T) throws -> T {
        do {
            let value = try body(JobRepository(connection: connection))
            checkin(connection)
            return value
        } catch let error as PostgresError where error.isConnectionError {
            connection.close()
            throw error
        } catch {
            // A statement that failed leaves the session usable (JobRepository rolls its transaction back).
            if connection.isConnected && connection.transactionDepth == 0 { checkin(connection) } else { connection.close() }
            throw error
        }
    }

    /// An idle connection that still answers, else a new one. The probe costs one round trip, and spares the
    /// request a failure on a connection that died with a PostgreSQL restart while it was idle; a connection
    /// that fails after the probe fails its request (503), and is replaced on the next one.
    private func checkout() throws -> PostgresConnection {
        while let connection = lock.withLock({ idle.popLast() }) {
            if (try? connection.execute("SELECT 1")) != nil { return connection }
            connection.close()
        }
        return try connect()
    }

    private func connect() throws -> PostgresConnection {
        try PostgresConnection(settings: settings)
    }

    private func checkin(_ connection: PostgresConnection) {
        lock.withLock { idle.append(connection) }
    }

    /// Stops the threads once the work in hand is done and closes the idle connections.
    func shutdown() async {
        try? await threads.shutdownGracefully()
        let connections = lock.withLock { () -> [PostgresConnection] in
            defer { idle = [] }
            return idle
        }
        for connection in connections { connection.close() }
    }
}
