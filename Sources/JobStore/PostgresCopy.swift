import CLibPQ
import Foundation

extension PostgresConnection {
    /// Bulk-loads rows with `COPY … FROM STDIN` (text format). `body` appends rows to the writer;
    /// if it throws, the COPY is aborted and nothing it wrote is kept. Returns the number of rows copied.
    ///
    ///     try db.copyIn("COPY jobs (id, prompt) FROM STDIN") { writer in
    ///         for job in jobs { try writer.append([job.id, job.prompt]) }
    ///     }
    @discardableResult
    public func copyIn(_ sql: String, _ body: (inout PostgresCopyWriter) throws -> Void) throws -> Int {
        let conn = try liveHandle()
        guard let start = PQexec(conn, sql) else {
            throw PostgresError.connectionLost(message: errorMessage(conn))
        }
        guard PQresultStatus(start) == PGRES_COPY_IN else {
            // Not a COPY FROM STDIN (or the server rejected it): report the server's error.
            _ = try consume(start, sql: sql)
            throw PostgresError.protocolViolation("statement did not start COPY FROM STDIN: \(PostgresError.summarize(sql))")
        }
        PQclear(start)
        var writer = PostgresCopyWriter(connection: conn, statement: PostgresError.summarize(sql))
        do {
            try body(&writer)
            try writer.flush()
        } catch {
            _ = PQputCopyEnd(conn, "aborted by the client: \(error)")
            drainResults(conn)
            throw error
        }
        guard PQputCopyEnd(conn, nil) == 1 else {
            let message = errorMessage(conn)
            drainResults(conn)
            throw PostgresError.connectionLost(message: message)
        }
        var copied = 0
        var failure: Error?
        while let result = PQgetResult(conn) {
            if PQresultStatus(result) == PGRES_COMMAND_OK {
                copied = Self.affectedRows(result)
                PQclear(result)
            } else if failure == nil {
                failure = Self.error(from: result, connection: conn, sql: sql)
                PQclear(result)
            } else {
                PQclear(result)
            }
        }
        if let failure { throw failure }
        return copied
    }

    private func drainResults(_ conn: OpaquePointer) {
        while let result = PQgetResult(conn) { PQclear(result) }
    }
}

/// Encodes rows in COPY's text format and streams them to the server in large chunks.
public struct PostgresCopyWriter {
    private let connection: OpaquePointer
    private let statement: String
    private var buffer: [UInt8] = []
    private static let chunkSize = 1 << 18
    public private(set) var rowsWritten = 0

    init(connection: OpaquePointer, statement: String) {
        self.connection = connection
        self.statement = statement
        buffer.reserveCapacity(Self.chunkSize + 4096)
    }

    /// Appends one row; nil fields are NULL.
    public mutating func append(_ fields: [PostgresEncodable?]) throws {
        for (i, field) in fields.enumerated() {
            if i > 0 { buffer.append(0x09) }
            guard let field else {
                buffer.append(0x5C); buffer.append(0x4E) // \N
                continue
            }
            var text = field.postgresText
            let failed = text.withUTF8 { bytes -> Bool in
                // Most fields need no escaping: copy them whole.
                var special = false
                for byte in bytes where byte == 0x5C || byte == 0x0A || byte == 0x0D || byte == 0x09 || byte == 0x00 {
                    special = true
                    break
                }
                guard special else {
                    buffer.append(contentsOf: bytes)
                    return false
                }
                for byte in bytes {
                    switch byte {
                    case 0x5C: buffer.append(0x5C); buffer.append(0x5C)
                    case 0x0A: buffer.append(0x5C); buffer.append(0x6E)
                    case 0x0D: buffer.append(0x5C); buffer.append(0x72)
                    case 0x09: buffer.append(0x5C); buffer.append(0x74)
                    case 0x00: return true
                    default: buffer.append(byte)
                    }
                }
                return false
            }
            if failed {
                throw PostgresError.invalidParameter(index: i + 1, reason: "COPY field of row \(rowsWritten + 1) contains a NUL byte", statement: statement)
            }
        }
        buffer.append(0x0A)
        rowsWritten += 1
        if buffer.count >= Self.chunkSize { try flush() }
    }

    mutating func flush() throws {
        guard !buffer.isEmpty else { return }
        let status = buffer.withUnsafeBufferPointer { bytes in
            bytes.baseAddress!.withMemoryRebound(to: CChar.self, capacity: bytes.count) {
                PQputCopyData(connection, $0, Int32(bytes.count))
            }
        }
        guard status == 1 else {
            throw PostgresError.connectionLost(message: String(cString: PQerrorMessage(connection)).trimmingCharacters(in: .whitespacesAndNewlines))
        }
        buffer.removeAll(keepingCapacity: true)
    }
}
