import Foundation

/// Applies and reverts migrations, recording them in `schema_migrations`. Every run holds a
/// session-level advisory lock, so many workers starting at once apply each migration exactly once:
/// the first takes the lock and migrates; the others wait, then find nothing left to do. Each
/// migration runs in its own transaction together with its bookkeeping row.
public struct MigrationRunner {
    /// The advisory lock key: "ternflux" in ASCII.
    public static let lockKey: Int64 = 0x7465_726E_666C_7578

    public let connection: PostgresConnection
    public let migrations: [Migration]

    public init(connection: PostgresConnection, migrations: [Migration] = Migration.all) {
        self.connection = connection
        self.migrations = migrations.sorted { $0.version < $1.version }
    }

    public struct Status: Sendable, Equatable {
        public let version: Int64
        public let name: String
        /// When it was applied; nil while pending.
        public let appliedAt: Date?
        /// True when the applied SQL differs from this binary's copy (someone edited an applied migration).
        public let checksumMismatch: Bool
        /// True when the database has it applied but this binary does not know it.
        public let unknownToBinary: Bool
    }

    /// Applies every pending migration in version order; returns the ones applied.
    @discardableResult
    public func up() throws -> [Migration] {
        try withLock {
            try ensureTable()
            let applied = Set(try appliedVersions().keys)
            var done: [Migration] = []
            for migration in migrations where !applied.contains(migration.version) {
                try run(migration, direction: "up") { db in
                    try db.executeScript(migration.up)
                    try db.execute("INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, md5($3))",
                                   [migration.version, migration.name, migration.up])
                }
                done.append(migration)
            }
            return done
        }
    }

    /// Reverts the newest `steps` applied migrations (all of them when `steps` is nil); returns them.
    @discardableResult
    public func down(steps: Int? = 1) throws -> [Migration] {
        try withLock {
            try ensureTable()
            let applied = try appliedVersions().keys.sorted(by: >)
            let targets = steps.map { Array(applied.prefix(max(0, $0))) } ?? applied
            var done: [Migration] = []
            for version in targets {
                guard let migration = migrations.first(where: { $0.version == version }) else {
                    throw MigrationError.unknownAppliedVersion(version)
                }
                try run(migration, direction: "down") { db in
                    try db.executeScript(migration.down)
                    try db.execute("DELETE FROM schema_migrations WHERE version = $1", [migration.version])
                }
                done.append(migration)
            }
            return done
        }
    }

    /// Every known or applied migration, in version order, with whether and when it was applied.
    public func status() throws -> [Status] {
        guard try tableExists() else {
            return migrations.map { Status(version: $0.version, name: $0.name, appliedAt: nil, checksumMismatch: false, unknownToBinary: false) }
        }
        var applied: [Int64: (name: String, at: Date, checksum: String?)] = [:]
        for row in try connection.query("SELECT version, name, applied_at, checksum FROM schema_migrations") {
            applied[try row.decode("version")] = (try row.decode("name"), try row.decode("applied_at"), try row.decodeIfPresent("checksum"))
        }
        var result: [Status] = []
        for migration in migrations {
            if let entry = applied[migration.version] {
                let expected = try connection.query("SELECT md5($1::text) AS sum", [migration.up]).single().decode("sum", as: String.self)
                result.append(Status(version: migration.version, name: migration.name, appliedAt: entry.at,
                                     checksumMismatch: entry.checksum != expected, unknownToBinary: false))
            } else {
                result.append(Status(version: migration.version, name: migration.name, appliedAt: nil, checksumMismatch: false, unknownToBinary: false))
            }
        }
        for (version, entry) in applied where !migrations.contains(where: { $0.version == version }) {
            result.append(Status(version: version, name: entry.name, appliedAt: entry.at, checksumMismatch: false, unknownToBinary: true))
        }
        return result.sorted { $0.version < $1.version }
    }

    /// The newest applied version, or 0 for an empty database.
    public func currentVersion() throws -> Int64 {
        guard try tableExists() else { return 0 }
        return try connection.query("SELECT coalesce(max(version), 0) AS v FROM schema_migrations").single().decode("v")
    }

    // MARK: internals

    private func withLock<T>(_ body: () throws -> T) throws -> T {
        try connection.execute("SELECT pg_advisory_lock($1)", [Self.lockKey])
        defer { _ = try? connection.execute("SELECT pg_advisory_unlock($1)", [Self.lockKey]) }
        return try body()
    }

    private func tableExists() throws -> Bool {
        try connection.query("SELECT to_regclass('schema_migrations') IS NOT NULL AS present").single().decode("present")
    }

    /// Creates the bookkeeping table when missing. Checked first, so a role without CREATE rights can
    /// still run `migrate up` against an up-to-date database.
    private func ensureTable() throws {
        guard try !tableExists() else { return }
        try connection.execute("""
            CREATE TABLE schema_migrations (
                version    bigint      PRIMARY KEY,
                name       text        NOT NULL,
                checksum   text,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """)
    }

    private func appliedVersions() throws -> [Int64: String] {
        var result: [Int64: String] = [:]
        for row in try connection.query("SELECT version, name FROM schema_migrations") {
            result[try row.decode("version")] = try row.decode("name")
        }
        return result
    }

    private func run(_ migration: Migration, direction: String, _ body: (PostgresConnection) throws -> Void) throws {
        do {
            try connection.transaction(body)
        } catch {
            throw MigrationError.failed(version: migration.version, name: migration.name, direction: direction, underlying: "\(error)")
        }
    }
}
