import ArgumentParser
import JobStore

/// `--database-url`, falling back to `TERNFLUX_DATABASE_URL`. Prefer the environment (or a libpq
/// password file) for credentials: a flag's value is visible in `ps`.
struct DatabaseOptions: ParsableArguments {
    @Option(name: .customLong("database-url"), help: ArgumentHelp(
        "libpq conninfo or URL of the job database (default: $TERNFLUX_DATABASE_URL).", valueName: "conninfo"))
    var databaseURL: String?

    func settings() throws -> DatabaseSettings {
        guard let settings = DatabaseSettings.resolve(databaseURL) else {
            throw DatabaseOptionsError.noDatabase
        }
        return settings
    }

    func connect() throws -> PostgresConnection {
        try PostgresConnection(settings: try settings())
    }
}

enum DatabaseOptionsError: Error, CustomStringConvertible {
    case noDatabase

    var description: String {
        "no database given: pass --database-url or set TERNFLUX_DATABASE_URL (a libpq conninfo or postgresql:// URL)"
    }
}
