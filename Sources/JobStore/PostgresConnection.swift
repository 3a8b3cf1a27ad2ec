import CLibPQ
import Foundation

/// One PostgreSQL session over libpq. Statements run with bound text parameters only (PQexecParams);
/// results come back as typed rows. A connection is not thread-safe: use one per thread (or per task
/// that owns it exclusively).
///
/// Every session uses DateStyle ISO and TimeZone UTC, so timestamps read back unambiguously.
public final class PostgresConnection {
    private var handle: OpaquePointer?
    /// How deeply `transaction` calls are nested: 0 outside, 1 in a transaction, more in savepoints.
    public private(set) var transactionDepth = 0

    /// Connects with a libpq conninfo string (`host=/tmp dbname=x`) or URL (`postgresql://u@h/db`).
    public init(conninfo: String) throws {
        let keywords = ["dbname", "fallback_application_name", "client_encoding"]
        let values = [conninfo, "ternflux", "UTF8"]
        let conn = CStringArray(keywords).withPointers { k in
            CStringArray(values).withPointers { v in PQconnectdbParams(k, v, 1) }
        }
        guard let conn else { throw PostgresError.connectionFailed(message: "libpq could not allocate a connection") }
        guard PQstatus(conn) == CONNECTION_OK else {
            let message = PasswordRedaction.redact(String(cString: PQerrorMessage(conn)), conninfo: conninfo)
            PQfinish(conn)
            throw PostgresError.connectionFailed(message: message)
        }
        // Server notices (e.g. "relation already exists, skipping") would go to stderr; they are not errors.
        PQsetNoticeProcessor(conn, { _, _ in }, nil)
        handle = conn
        try execute("SET DateStyle TO ISO, YMD")
        try execute("SET TimeZone TO 'UTC'")
    }

    public convenience init(settings: DatabaseSettings) throws {
        try self.init(conninfo: settings.conninfo)
    }

    deinit {
        if let handle { PQfinish(handle) }
    }

    /// Closes the session; later calls fail with `connectionLost`.
    public func close() {
        if let handle { PQfinish(handle) }
        handle = nil
    }

    public var isConnected: Bool {
        guard let handle else { return false }
        return PQstatus(handle) == CONNECTION_OK
    }

    /// The value libpq uses for a connection option (`sslmode`, `sslrootcert`, `host`…): what the
    /// conninfo, libpq's environment variables and its defaults came to. Nil when unset or not connected.
    public func connectionOption(_ keyword: String) -> String? {
        guard let handle, let options = PQconninfo(handle) else { return nil }
        defer { PQconninfoFree(options) }
        var option = options
        while let name = option.pointee.keyword {
            if String(cString: name) == keyword { return option.pointee.val.map { String(cString: $0) } }
            option += 1
        }
        return nil
    }

    /// Re-establishes a broken session with the same parameters (for example after a server restart).
    public func reset() throws {
        guard let handle else { throw PostgresError.connectionLost(message: "the connection was closed") }
        PQreset(handle)
        transactionDepth = 0
        guard PQstatus(handle) == CONNECTION_OK else {
            throw PostgresError.connectionFailed(message: errorMessage(handle))
        }
        try execute("SET DateStyle TO ISO, YMD")
        try execute("SET TimeZone TO 'UTC'")
    }

    /// The server's version number, e.g. 150004.
    public var serverVersion: Int {
        guard let handle else { return 0 }
        return Int(PQserverVersion(handle))
    }

    // MARK: statements

    /// Runs one statement with `$1, $2, …` bound to `parameters` (nil is SQL NULL) and returns its rows.
    @discardableResult
    public func query(_ sql: String, _ parameters: [PostgresEncodable?] = []) throws -> PostgresRows {
        let conn = try liveHandle()
        var texts: [String?] = []
        texts.reserveCapacity(parameters.count)
        for (i, parameter) in parameters.enumerated() {
            guard let parameter else { texts.append(nil); continue }
            let text = parameter.postgresText
            if text.utf8.contains(0) {
                throw PostgresError.invalidParameter(index: i + 1, reason: "text contains a NUL byte, which PostgreSQL cannot store", statement: PostgresError.summarize(sql))
            }
            texts.append(text)
        }
        let result = CStringArray(texts).withPointers { values in
            PQexecParams(conn, sql, Int32(texts.count), nil, values, nil, nil, 0)
        }
        return try consume(result, sql: sql)
    }

    /// Runs one statement and returns how many rows it affected.
    @discardableResult
    public func execute(_ sql: String, _ parameters: [PostgresEncodable?] = []) throws -> Int {
        try query(sql, parameters).affectedRows
    }

    /// Runs a script of several statements without parameters (simple query protocol). Only for SQL
    /// that ships with the program — migrations and documentation — never for anything built from input.
    public func executeScript(_ sql: String) throws {
        let conn = try liveHandle()
        var result = PQexec(conn, sql)
        // PQexec returns the last statement's result; an error stops the script there.
        _ = try consume(result, sql: sql)
        result = nil
    }

    // MARK: transactions

    /// Runs `body` in a transaction: committed when it returns, rolled back when it throws. Nested calls
    /// use savepoints, so an inner failure rolls back only the inner part.
    @discardableResult
    public func transaction<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        let savepoint = transactionDepth > 0 ? "ternflux_sp_\(transactionDepth)" : nil
        try execute(savepoint.map { "SAVEPOINT \($0)" } ?? "BEGIN")
        transactionDepth += 1
        let value: T
        do {
            value = try body(self)
        } catch {
            transactionDepth -= 1
            if isConnected {
                _ = try? execute(savepoint.map { "ROLLBACK TO SAVEPOINT \($0)" } ?? "ROLLBACK")
            }
            throw error
        }
        transactionDepth -= 1
        do {
            try execute(savepoint.map { "RELEASE SAVEPOINT \($0)" } ?? "COMMIT")
        } catch {
            if savepoint == nil, isConnected { _ = try? execute("ROLLBACK") }
            throw error
        }
        return value
    }

    // MARK: internals

    func liveHandle() throws -> OpaquePointer {
        guard let handle else { throw PostgresError.connectionLost(message: "the connection was closed") }
        return handle
    }

    func errorMessage(_ conn: OpaquePointer) -> String {
        String(cString: PQerrorMessage(conn)).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Turns a PGresult into rows or a thrown error, and frees it.
    func consume(_ result: OpaquePointer?, sql: String) throws -> PostgresRows {
        let conn = try liveHandle()
        guard let result else {
            if PQstatus(conn) != CONNECTION_OK { throw PostgresError.connectionLost(message: errorMessage(conn)) }
            throw PostgresError.protocolViolation(errorMessage(conn))
        }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
            return PostgresRows(columns: [], values: [], affectedRows: Self.affectedRows(result), statement: PostgresError.summarize(sql))
        case PGRES_TUPLES_OK:
            let nColumns = Int(PQnfields(result))
            let nRows = Int(PQntuples(result))
            let columns = (0..<nColumns).map { String(cString: PQfname(result, Int32($0))) }
            var values: [[String?]] = []
            values.reserveCapacity(nRows)
            for r in 0..<nRows {
                var row: [String?] = []
                row.reserveCapacity(nColumns)
                for c in 0..<nColumns {
                    if PQgetisnull(result, Int32(r), Int32(c)) != 0 {
                        row.append(nil)
                    } else {
                        row.append(String(cString: PQgetvalue(result, Int32(r), Int32(c))))
                    }
                }
                values.append(row)
            }
            return PostgresRows(columns: columns, values: values, affectedRows: nRows, statement: PostgresError.summarize(sql))
        default:
            throw Self.error(from: result, connection: conn, sql: sql)
        }
    }

    static func affectedRows(_ result: OpaquePointer) -> Int {
        Int(String(cString: PQcmdTuples(result))) ?? 0
    }

    static func error(from result: OpaquePointer, connection: OpaquePointer, sql: String) -> PostgresError {
        func field(_ code: Character) -> String? {
            guard let pointer = PQresultErrorField(result, Int32(code.asciiValue!)) else { return nil }
            return String(cString: pointer)
        }
        guard let sqlState = field("C") else {
            let message = String(cString: PQresultErrorMessage(result)).trimmingCharacters(in: .whitespacesAndNewlines)
            if PQstatus(connection) != CONNECTION_OK {
                return .connectionLost(message: message.isEmpty ? String(cString: PQerrorMessage(connection)) : message)
            }
            return .protocolViolation(message)
        }
        return .server(sqlState: sqlState, message: field("M") ?? "", detail: field("D"), hint: field("H"), statement: PostgresError.summarize(sql))
    }
}

/// NUL-terminated C strings kept alive for the duration of one libpq call.
struct CStringArray {
    private var storage: [UnsafeMutablePointer<CChar>?]

    init(_ strings: [String?]) {
        storage = strings.map { $0.map { strdup($0) } ?? nil }
    }

    init(_ strings: [String]) {
        storage = strings.map { strdup($0) }
    }

    /// Calls `body` with a NULL-terminated array of the strings, then frees them.
    func withPointers<R>(_ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
        var pointers: [UnsafePointer<CChar>?] = storage.map { $0.map { UnsafePointer($0) } }
        pointers.append(nil)
        defer { storage.forEach { free($0) } }
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}
