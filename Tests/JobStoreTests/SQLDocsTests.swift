import Foundation
import JobModel
import DevServices
import XCTest
@testable import JobStore

/// Every ```sql block in docs/sql.md runs against a migrated database holding the sample data:
/// administration blocks (marked with a `-- administration` first line) as the owner, all others as
/// a login in ternflux_reader, and each query must return rows.
final class SQLDocsTests: XCTestCase {
    static let docURL = MigrationTests.repositoryRoot.appendingPathComponent("docs/sql.md")

    static func sqlBlocks(_ markdown: String) -> [String] {
        var blocks: [String] = []
        var current: [Substring]?
        for line in markdown.split(separator: "\n", omittingEmptySubsequences: false) {
            if current == nil, line.trimmingCharacters(in: .whitespaces) == "```sql" {
                current = []
            } else if current != nil, line.trimmingCharacters(in: .whitespaces) == "```" {
                blocks.append(current!.joined(separator: "\n"))
                current = nil
            } else if current != nil {
                current!.append(line)
            }
        }
        return blocks
    }

    func testEverySQLBlockInDocsExecutes() throws {
        let markdown = try String(contentsOf: Self.docURL, encoding: .utf8)
        let blocks = Self.sqlBlocks(markdown)
        XCTAssertGreaterThanOrEqual(blocks.count, 8, "docs/sql.md should hold its example queries")
        let info = try TemporaryPostgres.shared().createMigratedDatabase()
        let admin = try PostgresConnection(conninfo: info)
        defer { admin.close() }
        try SampleData.load(into: JobRepository(connection: admin), fixedTimes: false)
        try admin.execute("DROP ROLE IF EXISTS analyst")
        defer { _ = try? admin.execute("DROP ROLE IF EXISTS analyst") }

        var reader: PostgresConnection?
        for block in blocks {
            if block.hasPrefix("-- administration") {
                XCTAssertNoThrow(try admin.executeScript(block), block)
                continue
            }
            if reader == nil {
                reader = try PostgresConnection(conninfo: info.replacingOccurrences(of: "user=postgres", with: "user=analyst"))
            }
            do {
                let rows = try reader!.query(block)
                XCTAssertGreaterThan(rows.count, 0, "no rows from:\n\(block)")
            } catch {
                XCTFail("\(error)\n\(block)")
            }
        }
        XCTAssertNotNil(reader, "docs/sql.md should connect as the analyst login it creates")
        reader?.close()
    }
}
