import Foundation

/// How to reach PostgreSQL: a libpq conninfo string or URL from a flag, else `TERNFLUX_DATABASE_URL`,
/// else a password read from the file named by `TERNFLUX_DATABASE_PASSWORD_FILE` is added by libpq's own
/// `PGPASSFILE` handling. Credentials never come from argv in the examples, so they stay out of `ps`.
public struct DatabaseSettings: Sendable, Equatable {
    public var conninfo: String

    public init(conninfo: String) {
        self.conninfo = conninfo
    }

    public static func resolve(_ explicit: String?, environment: [String: String] = ProcessInfo.processInfo.environment) -> DatabaseSettings? {
        if let explicit, !explicit.isEmpty { return DatabaseSettings(conninfo: explicit) }
        if let env = environment["TERNFLUX_DATABASE_URL"], !env.isEmpty { return DatabaseSettings(conninfo: env) }
        return nil
    }
}
