import Foundation
import JobModel
import DevServices
import XCTest
@testable import JobStore

final class PostgresConnectionTests: XCTestCase {
    var db: PostgresConnection!

    override func setUpWithError() throws {
        db = try PostgresConnection(conninfo: try TemporaryPostgres.shared().createDatabase())
    }

    override func tearDown() {
        db?.close()
    }

    func testTypedRowsRoundTripEveryType() throws {
        let id = UUID()
        let when = Date(timeIntervalSince1970: 1_795_000_000.123456)
        let row = try db.query("""
            SELECT $1::text AS s, $2::integer AS i, $3::bigint AS b, $4::double precision AS d, $5::boolean AS t,
                   $6::uuid AS u, $7::timestamptz AS ts, $8::double precision[] AS arr, $9::text AS n, $10::jsonb AS j,
                   'Infinity'::double precision AS inf, ARRAY['a"b', 'c\\d', 'e,f']::text[] AS strs
            """, ["héllo ✓", 42, Int64.max, 0.1, true, id, when, [1.5, -2.25, 1e-7], nil, PostgresJSON(#"{"k": [1, 2]}"#)]).single()
        XCTAssertEqual(try row.decode("s", as: String.self), "héllo ✓")
        XCTAssertEqual(try row.decode("i", as: Int.self), 42)
        XCTAssertEqual(try row.decode("b", as: Int64.self), Int64.max)
        XCTAssertEqual(try row.decode("d", as: Double.self), 0.1)
        XCTAssertEqual(try row.decode("t", as: Bool.self), true)
        XCTAssertEqual(try row.decode("u", as: UUID.self), id)
        XCTAssertEqual(id.postgresText, id.uuidString.lowercased())
        XCTAssertEqual(UUID(uuidString: "00112233-4455-6677-8899-AABBCCDDEEFF")!.postgresText, "00112233-4455-6677-8899-aabbccddeeff")
        XCTAssertEqual(try row.decode("ts", as: Date.self).timeIntervalSince1970, when.timeIntervalSince1970, accuracy: 1e-6)
        XCTAssertEqual(try row.decode("arr", as: [Double].self), [1.5, -2.25, 1e-7])
        XCTAssertNil(try row.decodeIfPresent("n", as: String.self))
        XCTAssertEqual(try row.decode("j", as: PostgresJSON.self).text, #"{"k": [1, 2]}"#)
        XCTAssertEqual(try row.decode("inf", as: Double.self), .infinity)
        XCTAssertEqual(try row.decode("strs", as: [String].self), ["a\"b", "c\\d", "e,f"])
    }

    func testTimestampsParseServerOutputAndOffsets() throws {
        let row = try db.query("SELECT '2026-11-24 22:54:07.5+00'::timestamptz AS a, '1969-12-31 23:59:59+00'::timestamptz AS b").single()
        XCTAssertEqual(try row.decode("a", as: Date.self).timeIntervalSince1970, 1_795_560_847.5, accuracy: 1e-6)
        XCTAssertEqual(try row.decode("b", as: Date.self).timeIntervalSince1970, -1, accuracy: 1e-6)
        XCTAssertEqual(PostgresTimestamp.parse("2000-01-01 02:00:00+02:00")?.timeIntervalSince1970, 946_684_800)
        XCTAssertNil(PostgresTimestamp.parse("2000-13-01 00:00:00+00"))
    }

    func testDecodeErrorsNameTheColumn() throws {
        let row = try db.query("SELECT 'abc'::text AS word, NULL::integer AS nothing").single()
        XCTAssertThrowsError(try row.decode("word", as: Int.self)) { error in
            XCTAssertTrue("\(error)".contains("column \"word\" holds \"abc\", which is not a valid integer"), "\(error)")
        }
        XCTAssertThrowsError(try row.decode("nothing", as: Int.self)) { error in
            XCTAssertTrue("\(error)".contains("column \"nothing\" is NULL"), "\(error)")
        }
        XCTAssertThrowsError(try row.decode("missing", as: Int.self)) { error in
            XCTAssertTrue("\(error)".contains("no column \"missing\" (columns: word, nothing)"), "\(error)")
        }
    }

    func testServerErrorsCarrySQLStateAndMessage() throws {
        XCTAssertThrowsError(try db.query("SELECT * FROM no_such_table")) { error in
            XCTAssertEqual((error as? PostgresError)?.sqlState, "42P01")
            XCTAssertTrue("\(error)".contains("relation \"no_such_table\" does not exist"), "\(error)")
        }
        // The connection stays usable after an error.
        XCTAssertEqual(try db.query("SELECT 1 AS one").single().decode("one", as: Int.self), 1)
    }

    func testParametersAreNeverSplicedIntoSQL() throws {
        try db.execute("CREATE TABLE notes (body text)")
        let hostile = "'); DROP TABLE notes; -- \\ \" $1 \n\t ✓"
        try db.execute("INSERT INTO notes (body) VALUES ($1)", [hostile])
        XCTAssertEqual(try db.query("SELECT body FROM notes").single().decode("body", as: String.self), hostile)
        XCTAssertThrowsError(try db.execute("INSERT INTO notes (body) VALUES ($1)", ["a\u{0}b"])) { error in
            XCTAssertTrue("\(error)".contains("parameter $1 cannot be sent: text contains a NUL byte"), "\(error)")
        }
    }

    func testTransactionsCommitAndRollBack() throws {
        try db.execute("CREATE TABLE t (v integer)")
        try db.transaction { try $0.execute("INSERT INTO t VALUES (1)") }
        struct Boom: Error {}
        XCTAssertThrowsError(try db.transaction { db in
            try db.execute("INSERT INTO t VALUES (2)")
            throw Boom()
        })
        try db.transaction { db in
            try db.execute("INSERT INTO t VALUES (3)")
            // A failing inner transaction rolls back only its own part (savepoint).
            XCTAssertThrowsError(try db.transaction { inner in
                try inner.execute("INSERT INTO t VALUES (4)")
                try inner.execute("INSERT INTO t VALUES ('not a number')")
            })
            try db.execute("INSERT INTO t VALUES (5)")
        }
        XCTAssertEqual(try db.query("SELECT v FROM t ORDER BY v").map { try $0.decode("v", as: Int.self) }, [1, 3, 5])
        XCTAssertEqual(db.transactionDepth, 0)
    }

    func testCopyInEscapesEveryFieldAndAbortsOnError() throws {
        try db.execute("CREATE TABLE c (id integer, body text, score double precision)")
        let tricky = "tab\there\nnew line\\backslash\r\\N ✓"
        let copied = try db.copyIn("COPY c (id, body, score) FROM STDIN") { writer in
            try writer.append([1, tricky, 0.5])
            try writer.append([2, nil, nil])
            for i in 3...5000 { try writer.append([i, "row \(i)", Double(i)]) }
        }
        XCTAssertEqual(copied, 5000)
        XCTAssertEqual(try db.query("SELECT body FROM c WHERE id = 1").single().decode("body", as: String.self), tricky)
        XCTAssertNil(try db.query("SELECT body FROM c WHERE id = 2").single().decodeIfPresent("body", as: String.self))

        struct Stop: Error {}
        XCTAssertThrowsError(try db.copyIn("COPY c (id, body, score) FROM STDIN") { writer in
            try writer.append([9001, "kept?", 1.0])
            throw Stop()
        })
        XCTAssertThrowsError(try db.copyIn("COPY c (id, body, score) FROM STDIN") { writer in
            try writer.append(["not a number", "x", 1.0])
        }) { error in
            XCTAssertEqual((error as? PostgresError)?.sqlState, "22P02", "\(error)")
        }
        XCTAssertEqual(try db.query("SELECT count(*) AS n FROM c").single().decode("n", as: Int.self), 5000)
        XCTAssertEqual(try db.query("SELECT 1 AS ok").single().decode("ok", as: Int.self), 1)
    }

    func testConnectionErrorsUseLibpqsMessageWithoutThePassword() throws {
        let server = try TemporaryPostgres.shared()
        XCTAssertThrowsError(try PostgresConnection(conninfo: "host=\(server.socketDirectory.path) dbname=no_such_db user=postgres password=s3cret-pw")) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("database \"no_such_db\" does not exist"), text)
            XCTAssertFalse(text.contains("s3cret-pw"), text)
        }
        XCTAssertThrowsError(try PostgresConnection(conninfo: "postgresql://bob:hunter2@/db?host=/nonexistent-dir")) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("cannot connect to PostgreSQL"), text)
            XCTAssertFalse(text.contains("hunter2"), text)
        }
        XCTAssertEqual(PasswordRedaction.redact("bad: password=abc123 x", conninfo: "password='abc123'"), "bad: password=*** x")
        XCTAssertEqual(PasswordRedaction.redact("url postgres://u:p%40ss@h/db", conninfo: "postgres://u:p%40ss@h/db"), "url postgres://u:***@h/db")
    }

    func testURLConninfoConnects() throws {
        let server = try TemporaryPostgres.shared()
        let encodedSocket = server.socketDirectory.path.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        let db = try PostgresConnection(conninfo: "postgresql://postgres@/postgres?host=\(encodedSocket)")
        XCTAssertEqual(try db.query("SELECT current_user AS u").single().decode("u", as: String.self), "postgres")
        XCTAssertGreaterThanOrEqual(db.serverVersion, 150000)
    }
}

final class PostgresRestartTests: XCTestCase {
    /// After a server restart (fast shutdown) the next statement reports a connection error that
    /// callers can recognise, and `reset()` reconnects with the same settings.
    func testConnectionErrorAfterServerRestartThenReset() throws {
        let server = try TemporaryPostgres.shared()
        let db = try PostgresConnection(conninfo: try server.createDatabase())
        defer { db.close() }
        try db.execute("CREATE TABLE kept (v integer)")
        try db.execute("INSERT INTO kept VALUES (7)")
        try server.restart()
        XCTAssertThrowsError(try db.query("SELECT v FROM kept")) { error in
            XCTAssertEqual((error as? PostgresError)?.isConnectionError, true, "\(error)")
        }
        try db.reset()
        XCTAssertEqual(try db.query("SELECT v FROM kept").single().decode("v", as: Int.self), 7)
        XCTAssertEqual(try db.query("SHOW TimeZone").single().decode("TimeZone", as: String.self), "UTC")
    }
}
