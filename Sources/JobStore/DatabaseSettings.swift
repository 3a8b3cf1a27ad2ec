import Foundation

/// How to reach PostgreSQL: a libpq conninfo string or URL, from (first found) `--database-url`,
/// `--database-url-file`, `TERNFLUX_DATABASE_URL`, `TERNFLUX_DATABASE_URL_FILE`. The conninfo passes
/// through to libpq verbatim, so TLS settings (`sslmode=verify-full sslrootcert=…`, or `?sslmode=…` in a
/// URL) and libpq's own environment (`PGPASSWORD`, `PGPASSFILE`, `PGSSLMODE`…) all apply. Keep passwords
/// out of the flag (argv is visible in `ps`): use the environment, a file, or libpq's password file.
public struct DatabaseSettings: Sendable, Equatable {
    public var conninfo: String

    public init(conninfo: String) {
        self.conninfo = conninfo
    }

    /// Resolves in the documented order; a named file that cannot be read, or is empty, is an error that names it.
    public static func resolve(_ explicit: String?, file: String?,
                               environment: [String: String] = ProcessInfo.processInfo.environment) throws -> DatabaseSettings? {
        if let explicit, !explicit.isEmpty { return DatabaseSettings(conninfo: explicit) }
        if let file, !file.isEmpty { return DatabaseSettings(conninfo: try readConninfo(file: file, source: "--database-url-file")) }
        if let env = environment["TERNFLUX_DATABASE_URL"], !env.isEmpty { return DatabaseSettings(conninfo: env) }
        if let path = environment["TERNFLUX_DATABASE_URL_FILE"], !path.isEmpty {
            return DatabaseSettings(conninfo: try readConninfo(file: path, source: "TERNFLUX_DATABASE_URL_FILE"))
        }
        return nil
    }

    /// A file holding the conninfo (a mounted secret): surrounding whitespace and newlines are dropped.
    static func readConninfo(file path: String, source: String) throws -> String {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw DatabaseSettingsError.unreadableFile(path: path, source: source, reason: (error as NSError).localizedDescription)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw DatabaseSettingsError.unreadableFile(path: path, source: source, reason: "not UTF-8 text")
        }
        let conninfo = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if conninfo.isEmpty { throw DatabaseSettingsError.unreadableFile(path: path, source: source, reason: "the file is empty") }
        return conninfo
    }

    /// Whether the conninfo itself carries a password (as opposed to libpq finding one elsewhere).
    public var carriesPassword: Bool { !PasswordRedaction.passwords(in: conninfo).allSatisfy(\.isEmpty) }

    /// The conninfo with any password replaced by `***`: the only form that may be printed or logged.
    public var redacted: String { PasswordRedaction.redactConninfo(conninfo) }
}

public enum DatabaseSettingsError: Error, CustomStringConvertible, Equatable {
    case unreadableFile(path: String, source: String, reason: String)

    public var description: String {
        switch self {
        case .unreadableFile(let path, let source, let reason):
            return "cannot read the database conninfo from \(path) (\(source)): \(reason)"
        }
    }
}
