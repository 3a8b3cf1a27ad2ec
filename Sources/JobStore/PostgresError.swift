import Foundation

/// Everything that can go wrong talking to PostgreSQL. Messages carry libpq's or the server's own
/// words, never a password, and never a bound parameter's value (prompts can be large or private).
public enum PostgresError: Error, CustomStringConvertible, Equatable {
    /// The connection could not be opened; `message` is libpq's, with any password redacted.
    case connectionFailed(message: String)
    /// The connection broke while in use (server restart, network); reconnect and retry.
    case connectionLost(message: String)
    /// The server rejected a statement.
    case server(sqlState: String, message: String, detail: String?, hint: String?, statement: String)
    /// A result column that the caller asked for is not in the result.
    case missingColumn(name: String, available: [String], statement: String)
    /// A column holds NULL where the caller needs a value.
    case unexpectedNull(column: String, statement: String)
    /// A column's text could not be read as the requested Swift type.
    case typeMismatch(column: String, expected: String, value: String, statement: String)
    /// A parameter or COPY field cannot be sent (for example, it contains a NUL byte).
    case invalidParameter(index: Int, reason: String, statement: String)
    /// The API was used in a way libpq cannot honour (for example a COPY that did not start).
    case protocolViolation(String)

    public var description: String {
        switch self {
        case .connectionFailed(let message):
            return "cannot connect to PostgreSQL: \(message)"
        case .connectionLost(let message):
            return "lost the PostgreSQL connection: \(message)"
        case .server(let sqlState, let message, let detail, let hint, let statement):
            var text = "PostgreSQL error \(sqlState): \(message)"
            if let detail { text += " (detail: \(detail))" }
            if let hint { text += " (hint: \(hint))" }
            return text + " in statement: \(statement)"
        case .missingColumn(let name, let available, let statement):
            return "result has no column \"\(name)\" (columns: \(available.joined(separator: ", "))) in statement: \(statement)"
        case .unexpectedNull(let column, let statement):
            return "column \"\(column)\" is NULL but a value is required, in statement: \(statement)"
        case .typeMismatch(let column, let expected, let value, let statement):
            return "column \"\(column)\" holds \"\(value)\", which is not a valid \(expected), in statement: \(statement)"
        case .invalidParameter(let index, let reason, let statement):
            return "parameter $\(index) cannot be sent: \(reason), in statement: \(statement)"
        case .protocolViolation(let message):
            return "PostgreSQL protocol error: \(message)"
        }
    }

    /// The SQLSTATE of a server error (for example "23505" for a unique violation), else nil.
    public var sqlState: String? {
        if case .server(let state, _, _, _, _) = self { return state }
        return nil
    }

    /// True when the failure was the connection itself, so the operation may succeed after a reconnect.
    public var isConnectionError: Bool {
        switch self {
        case .connectionFailed, .connectionLost: return true
        case .server(let state, _, _, _, _): return state.hasPrefix("08") || state == "57P01" || state == "57P02" || state == "57P03"
        default: return false
        }
    }

    /// A short, single-line form of a statement for error messages: its first line, at most 120 characters.
    static func summarize(_ sql: String) -> String {
        let collapsed = sql.split(whereSeparator: { $0.isNewline }).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("--") }.joined(separator: " ")
        return collapsed.count > 120 ? String(collapsed.prefix(117)) + "..." : collapsed
    }
}

/// Removes passwords from libpq messages: the one in the conninfo or URL we were given (libpq's own
/// messages do not echo it, but a malformed string could be quoted back), `password=...` pairs and
/// `scheme://user:secret@` URL credentials.
enum PasswordRedaction {
    static func redact(_ message: String, conninfo: String) -> String {
        var text = message
        for secret in passwords(in: conninfo) where !secret.isEmpty {
            text = text.replacingOccurrences(of: secret, with: "***")
        }
        text = text.replacingOccurrences(of: #"(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)"#, with: "$1***", options: .regularExpression)
        text = text.replacingOccurrences(of: #"(://[^:/@\s]*:)[^@\s]*@"#, with: "$1***@", options: .regularExpression)
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A conninfo string or URL fit to print: the password of a URL's user info or `password` query
    /// parameter, or of a `password=` keyword, becomes `***`; everything else (host, sslmode…) stays.
    static func redactConninfo(_ conninfo: String) -> String {
        var text = conninfo
        if text.range(of: #"^[A-Za-z][A-Za-z0-9+.-]*://"#, options: .regularExpression) != nil {
            text = text.replacingOccurrences(of: #"^([^:/@\s]*://[^:/@\s]*:)[^@\s]*@"#, with: "$1***@", options: .regularExpression)
            text = text.replacingOccurrences(of: #"(?i)([?&]password=)[^&\s]*"#, with: "$1***", options: .regularExpression)
        } else {
            text = text.replacingOccurrences(of: #"(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)"#, with: "$1***", options: .regularExpression)
        }
        return text
    }

    /// The password values a conninfo string or URL carries, as raw and percent-decoded text.
    static func passwords(in conninfo: String) -> [String] {
        var found: [String] = []
        if let range = conninfo.range(of: #"://[^:/@\s]*:([^@\s]*)@"#, options: .regularExpression) {
            let match = String(conninfo[range])
            if let colon = match.dropFirst(3).firstIndex(of: ":") {
                let raw = String(match[match.index(after: colon)..<match.index(before: match.endIndex)])
                found.append(raw)
                if let decoded = raw.removingPercentEncoding { found.append(decoded) }
            }
        }
        if let range = conninfo.range(of: #"(?i)password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)"#, options: .regularExpression) {
            let pair = String(conninfo[range])
            if let eq = pair.firstIndex(of: "=") {
                var value = pair[pair.index(after: eq)...].trimmingCharacters(in: .whitespaces)
                if value.hasPrefix("'") && value.hasSuffix("'") && value.count >= 2 { value = String(value.dropFirst().dropLast()) }
                found.append(value)
            }
        }
        if let range = conninfo.range(of: #"[?&]password=([^&]*)"#, options: .regularExpression) {
            let pair = String(conninfo[range])
            let raw = String(pair[pair.index(after: pair.firstIndex(of: "=")!)...])
            found.append(raw)
            if let decoded = raw.removingPercentEncoding { found.append(decoded) }
        }
        return found.sorted { $0.count > $1.count }
    }
}
