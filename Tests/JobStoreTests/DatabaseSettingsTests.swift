import Foundation
import JobModel
import DevServices
import XCTest
@testable import JobStore

final class DatabaseSettingsTests: XCTestCase {
    func testResolutionPrefersFlagThenEnvironment() throws {
        XCTAssertEqual(try DatabaseSettings.resolve("host=/tmp", file: nil, environment: ["TERNFLUX_DATABASE_URL": "x"])?.conninfo, "host=/tmp")
        XCTAssertEqual(try DatabaseSettings.resolve(nil, file: nil, environment: ["TERNFLUX_DATABASE_URL": "postgres://u@h/db"])?.conninfo, "postgres://u@h/db")
        XCTAssertNil(try DatabaseSettings.resolve(nil, file: nil, environment: [:]))
    }

    private func temporaryFile(_ contents: String) throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ternflux-conninfo-\(UUID().uuidString)")
        try Data(contents.utf8).write(to: url)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url.path
    }

    /// Order: flag, flag file, TERNFLUX_DATABASE_URL, TERNFLUX_DATABASE_URL_FILE; a secret file's trailing newline is dropped.
    func testConninfoFromAFileOrTheFileNamedInTheEnvironment() throws {
        let file = try temporaryFile("postgresql://worker:s3cret@db/ternflux?sslmode=verify-full\n")
        XCTAssertEqual(try DatabaseSettings.resolve(nil, file: file, environment: ["TERNFLUX_DATABASE_URL": "env"])?.conninfo,
                       "postgresql://worker:s3cret@db/ternflux?sslmode=verify-full")
        XCTAssertEqual(try DatabaseSettings.resolve("flag", file: file, environment: [:])?.conninfo, "flag")
        XCTAssertEqual(try DatabaseSettings.resolve(nil, file: nil, environment: ["TERNFLUX_DATABASE_URL_FILE": file])?.conninfo,
                       "postgresql://worker:s3cret@db/ternflux?sslmode=verify-full")
        XCTAssertEqual(try DatabaseSettings.resolve(nil, file: nil, environment: ["TERNFLUX_DATABASE_URL": "env", "TERNFLUX_DATABASE_URL_FILE": file])?.conninfo, "env")
    }

    func testUnreadableOrEmptyFilesAreNamedInTheError() throws {
        XCTAssertThrowsError(try DatabaseSettings.resolve(nil, file: "/nonexistent/conninfo", environment: [:])) { error in
            XCTAssertTrue("\(error)".contains("/nonexistent/conninfo"), "\(error)")
            XCTAssertTrue("\(error)".contains("--database-url-file"), "\(error)")
        }
        let empty = try temporaryFile(" \n")
        XCTAssertThrowsError(try DatabaseSettings.resolve(nil, file: nil, environment: ["TERNFLUX_DATABASE_URL_FILE": empty])) { error in
            XCTAssertEqual("\(error)", "cannot read the database conninfo from \(empty) (TERNFLUX_DATABASE_URL_FILE): the file is empty")
        }
    }

    func testRedactedFormHidesEveryPasswordSpelling() {
        let cases: [(String, String)] = [
            ("postgresql://worker:s3cret@db:5432/ternflux?sslmode=verify-full", "postgresql://worker:***@db:5432/ternflux?sslmode=verify-full"),
            ("postgres://u:p%40ss@h/db", "postgres://u:***@h/db"),
            ("postgresql://db/ternflux?user=w&password=s3cret&sslmode=require", "postgresql://db/ternflux?user=w&password=***&sslmode=require"),
            ("host=db user=w password=s3cret sslmode=verify-full", "host=db user=w password=*** sslmode=verify-full"),
            ("host=db password = 'with space\\' quote' dbname=x", "host=db password = *** dbname=x"),
            ("host=db user=w sslmode=require", "host=db user=w sslmode=require"),
        ]
        for (conninfo, expected) in cases {
            let settings = DatabaseSettings(conninfo: conninfo)
            XCTAssertEqual(settings.redacted, expected, conninfo)
            XCTAssertFalse(settings.redacted.contains("s3cret") || settings.redacted.contains("p%40ss") || settings.redacted.contains("quote"), conninfo)
        }
        XCTAssertTrue(DatabaseSettings(conninfo: "postgresql://w:pw@db/x").carriesPassword)
        XCTAssertTrue(DatabaseSettings(conninfo: "host=db password=pw").carriesPassword)
        XCTAssertFalse(DatabaseSettings(conninfo: "postgresql://w@db/x?sslmode=verify-full").carriesPassword)
        XCTAssertFalse(DatabaseSettings(conninfo: "host=db user=w").carriesPassword)
    }

    /// TLS settings are not interpreted by us: they reach libpq as given, in both conninfo spellings.
    /// (The throw-away server listens on a unix socket, where libpq does not use TLS, so the connection works.)
    func testSSLSettingsReachLibpq() throws {
        let server = try TemporaryPostgres.shared()
        let rootCert = "/etc/ternflux/db-ca.pem"
        let keyword = try PostgresConnection(settings: DatabaseSettings(
            conninfo: server.conninfo() + " sslmode=verify-full sslrootcert=\(rootCert) sslcert=/etc/ternflux/client.pem"))
        defer { keyword.close() }
        XCTAssertEqual(keyword.connectionOption("sslmode"), "verify-full")
        XCTAssertEqual(keyword.connectionOption("sslrootcert"), rootCert)
        XCTAssertEqual(keyword.connectionOption("sslcert"), "/etc/ternflux/client.pem")

        let socket = server.socketDirectory.path.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        let url = try PostgresConnection(settings: DatabaseSettings(
            conninfo: "postgresql://postgres@/postgres?host=\(socket)&sslmode=require&sslrootcert=\(rootCert)"))
        defer { url.close() }
        XCTAssertEqual(url.connectionOption("sslmode"), "require")
        XCTAssertEqual(url.connectionOption("sslrootcert"), rootCert)
        XCTAssertNil(url.connectionOption("no-such-option"))

        XCTAssertThrowsError(try PostgresConnection(conninfo: server.conninfo() + " sslmode=sometimes")) { error in
            XCTAssertTrue("\(error)".contains("sslmode"), "\(error)")
        }
    }
}
