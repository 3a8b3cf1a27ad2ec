import ArgumentParser
import Foundation
import JobStore

/// `--database-url` or `--database-url-file`, falling back to `TERNFLUX_DATABASE_URL`, then
/// `TERNFLUX_DATABASE_URL_FILE`. Credentials belong in the environment, a file or libpq's own
/// `PGPASSWORD`/`PGPASSFILE`: a flag's value is visible in `ps`, so a password given there is warned about.
struct DatabaseOptions: ParsableArguments {
    @Option(name: .customLong("database-url"), help: ArgumentHelp(
        "libpq conninfo or URL of the job database (default: $TERNFLUX_DATABASE_URL). Visible in `ps`: keep passwords out of it.",
        valueName: "conninfo"))
    var databaseURL: String?

    @Option(name: .customLong("database-url-file"), help: ArgumentHelp(
        "File holding the conninfo or URL, e.g. a mounted secret (default: $TERNFLUX_DATABASE_URL_FILE).", valueName: "path"))
    var databaseURLFile: String?

    func validate() throws {
        if databaseURL != nil && databaseURLFile != nil {
            throw ValidationError("give either --database-url or --database-url-file, not both")
        }
    }

    func settings() throws -> DatabaseSettings {
        let resolved: DatabaseSettings?
        do { resolved = try DatabaseSettings.resolve(databaseURL, file: databaseURLFile) } catch {
            throw ValidationError("\(error)")
        }
        guard let settings = resolved else { throw DatabaseOptionsError.noDatabase }
        if let databaseURL, DatabaseSettings(conninfo: databaseURL).carriesPassword {
            warnOnStandardError("--database-url carries a password, which `ps` shows to every user of this machine; "
                + "use TERNFLUX_DATABASE_URL, --database-url-file or PGPASSWORD instead")
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
        "no database given: pass --database-url or --database-url-file, or set TERNFLUX_DATABASE_URL or TERNFLUX_DATABASE_URL_FILE "
            + "(a libpq conninfo or postgresql:// URL)"
    }
}

/// A one-line warning on stderr, outside the structured logs (it concerns how the process was started).
func warnOnStandardError(_ message: String) {
    FileHandle.standardError.write(Data("ternflux: warning: \(message)\n".utf8))
}
