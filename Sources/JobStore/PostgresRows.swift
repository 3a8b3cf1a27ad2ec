import Foundation

/// The rows of a statement's result, copied out of libpq (text format).
public struct PostgresRows: Sequence {
    public let columns: [String]
    public let rows: [PostgresRow]
    /// Rows inserted, updated, deleted or copied, as the server reported them (0 when not applicable).
    public let affectedRows: Int

    init(columns: [String], values: [[String?]], affectedRows: Int, statement: String) {
        self.columns = columns
        let layout = PostgresRow.Layout(columns: columns, statement: statement)
        self.rows = values.map { PostgresRow(layout: layout, values: $0) }
        self.affectedRows = affectedRows
    }

    public var count: Int { rows.count }
    public var isEmpty: Bool { rows.isEmpty }
    public var first: PostgresRow? { rows.first }
    public func makeIterator() -> IndexingIterator<[PostgresRow]> { rows.makeIterator() }
    public subscript(index: Int) -> PostgresRow { rows[index] }

    /// The only row of a result that must have exactly one.
    public func single() throws -> PostgresRow {
        guard rows.count == 1, let row = rows.first else {
            throw PostgresError.protocolViolation("expected exactly one row, got \(rows.count)")
        }
        return row
    }
}

/// One result row; columns are read by name with a typed, checked decode.
public struct PostgresRow {
    final class Layout {
        let columns: [String]
        let index: [String: Int]
        let statement: String
        init(columns: [String], statement: String) {
            self.columns = columns
            var index: [String: Int] = [:]
            for (i, name) in columns.enumerated() where index[name] == nil { index[name] = i }
            self.index = index
            self.statement = statement
        }
    }

    let layout: Layout
    /// The raw text of every column, nil for NULL.
    public let values: [String?]

    public var columns: [String] { layout.columns }

    /// The raw text of a column, nil when NULL.
    public func text(_ column: String) throws -> String? {
        guard let i = layout.index[column] else {
            throw PostgresError.missingColumn(name: column, available: layout.columns, statement: layout.statement)
        }
        return values[i]
    }

    /// Decodes a non-NULL column.
    public func decode<T: PostgresDecodable>(_ column: String, as type: T.Type = T.self) throws -> T {
        guard let value = try decodeIfPresent(column, as: type) else {
            throw PostgresError.unexpectedNull(column: column, statement: layout.statement)
        }
        return value
    }

    /// Decodes a column that may be NULL.
    public func decodeIfPresent<T: PostgresDecodable>(_ column: String, as type: T.Type = T.self) throws -> T? {
        guard let text = try text(column) else { return nil }
        guard let value = T(postgresText: text) else {
            let preview = text.count > 60 ? String(text.prefix(57)) + "..." : text
            throw PostgresError.typeMismatch(column: column, expected: T.postgresTypeName, value: preview, statement: layout.statement)
        }
        return value
    }
}
