import Foundation
import JobModel
import DevServices
import XCTest
@testable import JobStore

/// `ternflux migrate / status / history / cancel` run as the built binary against a temporary database.
final class CommandLineTests: XCTestCase {
    func ternflux(_ arguments: [String], environment: [String: String] = [:]) throws -> TernfluxRun {
        try TernfluxRun(arguments, environment: environment)
    }

    func testMigrateStatusHistoryAndCancelCommands() throws {
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: TernfluxRun.binary.path), "build the package first: \(TernfluxRun.binary.path) is missing")
        let info = try TemporaryPostgres.shared().createDatabase()
        let env = ["TERNFLUX_DATABASE_URL": info]

        var r = try ternflux(["migrate", "status"], environment: env)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout.split(separator: "\n").filter { $0.hasSuffix("pending") }.count, Migration.all.count, r.stdout)
        r = try ternflux(["migrate", "up", "--database-url", info])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("applied 000001_job_tables"), r.stdout)
        r = try ternflux(["migrate", "down"], environment: env)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("pass --yes to confirm"), r.stderr)
        r = try ternflux(["migrate", "status"], environment: env)
        XCTAssertFalse(r.stdout.contains("pending"), "an unconfirmed down reverted something: \(r.stdout)")
        r = try ternflux(["migrate", "down", "--yes"], environment: env)
        XCTAssertTrue(r.stdout.contains("reverted \(MigrateCommandLabel.last)"), r.stdout)
        r = try ternflux(["migrate"], environment: env)
        XCTAssertEqual(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "applied \(MigrateCommandLabel.last)")

        let db = try PostgresConnection(conninfo: info)
        defer { db.close() }
        try SampleData.load(into: JobRepository(connection: db), fixedTimes: true)

        r = try ternflux(["status"], environment: env)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains(SampleData.batchID.uuidString.lowercased()) && r.stdout.contains("sample"), r.stdout)
        r = try ternflux(["status", SampleData.batchID.uuidString.lowercased(), "--json"], environment: env)
        let progress = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        XCTAssertEqual(progress?["succeeded"] as? Int, 3)
        XCTAssertEqual(progress?["failed"] as? Int, 1)
        XCTAssertEqual(progress?["images_per_second"] as? Double ?? 0, 0.6, accuracy: 1e-9)
        r = try ternflux(["status", SampleData.batchID.uuidString], environment: env)
        XCTAssertTrue(r.stdout.contains("4 total: 0 queued, 0 running, 3 succeeded, 1 failed, 0 canceled"), r.stdout)

        r = try ternflux(["history", "--batch", SampleData.batchID.uuidString, "--state", "failed", "--json"], environment: env)
        let failed = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]]
        XCTAssertEqual(failed?.count, 1)
        XCTAssertEqual(failed?.first?["last_error"] as? String, "unknown model \"tiny\"")
        r = try ternflux(["history", "--since", "2025-12-01", "--limit", "2"], environment: env)
        XCTAssertEqual(r.stdout.split(separator: "\n").count, 3, r.stdout) // header and two jobs
        r = try ternflux(["history", "--state", "finished"], environment: env)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("--state \"finished\" is not one of queued, running, succeeded, failed, canceled"), r.stderr)

        r = try ternflux(["cancel", SampleData.stuckBatchID.uuidString], environment: env)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix("canceled 1 job of batch"), r.stdout)
        r = try ternflux(["cancel", UUID().uuidString], environment: env)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("no batch"), r.stderr)

        r = try ternflux(["status"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("TERNFLUX_DATABASE_URL"), r.stderr)
        r = try ternflux(["status", "--database-url", "postgresql://someone:pa55word@/nodb?host=/nonexistent"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("cannot connect to PostgreSQL"), r.stderr)
        XCTAssertFalse(r.stderr.contains("pa55word"), r.stderr)
    }

    /// The conninfo can come from a file (flag or environment); a password on the command line is warned
    /// about without being echoed; a bad file is named.
    func testCredentialsFromAFileAndThePasswordWarning() throws {
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: TernfluxRun.binary.path), "build the package first: \(TernfluxRun.binary.path) is missing")
        let info = try TemporaryPostgres.shared().createMigratedDatabase()
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("conninfo-\(UUID())")
        try Data((info + "\n").utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }

        var r = try ternflux(["migrate", "status", "--database-url-file", file.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stderr, "")
        r = try ternflux(["migrate", "status"], environment: ["TERNFLUX_DATABASE_URL_FILE": file.path])
        XCTAssertEqual(r.status, 0, r.stderr)

        // The unix-socket server trusts local users, so the password is ignored and the command works.
        r = try ternflux(["migrate", "status", "--database-url", info + " password=hunter2-on-argv"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("--database-url carries a password"), r.stderr)
        XCTAssertFalse(r.stderr.contains("hunter2") || r.stdout.contains("hunter2"), r.stderr)

        r = try ternflux(["migrate", "status", "--database-url-file", "/nonexistent/conninfo"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("/nonexistent/conninfo"), r.stderr)
        r = try ternflux(["migrate", "status", "--database-url", info, "--database-url-file", file.path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("not both"), r.stderr)
    }

    /// Kafka secrets on the command line are warned about by name only; a properties file is read and a bad one named.
    func testKafkaSecretsOnTheCommandLineAreWarnedAboutNotEchoed() throws {
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: TernfluxRun.binary.path), "build the package first: \(TernfluxRun.binary.path) is missing")
        let prompts = FileManager.default.temporaryDirectory.appendingPathComponent("prompts-\(UUID()).txt")
        try Data("a red fox\n".utf8).write(to: prompts)
        defer { try? FileManager.default.removeItem(at: prompts) }
        // No database is given, so submit stops right after reading the Kafka settings.
        var r = try ternflux(["submit", prompts.path, "--brokers", "127.0.0.1:1", "--kafka-property", "sasl.password=hunter2-on-argv"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("--kafka-property sasl.password is a secret"), r.stderr)
        XCTAssertFalse(r.stderr.contains("hunter2"), r.stderr)
        XCTAssertTrue(r.stderr.contains("no database given"), r.stderr)

        r = try ternflux(["submit", prompts.path, "--brokers", "127.0.0.1:1", "--kafka-properties-file", "/nonexistent/kafka.properties"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("/nonexistent/kafka.properties"), r.stderr)
    }

    /// A typo'd field in a batch file stops `submit` before it connects anywhere, naming the line; the escape
    /// hatch lets the same file through to the next step (here: no database given).
    func testSubmitRefusesUnknownFieldsWithTheLineNumber() throws {
        let prompts = FileManager.default.temporaryDirectory.appendingPathComponent("prompts-\(UUID()).jsonl")
        try Data("{\"prompt\": \"a red fox\", \"width\": 128}\n{\"prompt\": \"a blue fox\", \"widht\": 128}\n{\"prompt\": \"p\", \"seed\": 1, \"seed\": 2}\n".utf8)
            .write(to: prompts)
        defer { try? FileManager.default.removeItem(at: prompts) }
        var r = try ternflux(["submit", prompts.path, "--brokers", "127.0.0.1:1"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("line 2: unknown field 'widht' (known: \(JobParameters.fieldNames.joined(separator: ", ")))"), r.stderr)
        XCTAssertTrue(r.stderr.contains("line 3: 'seed' appears twice"), r.stderr)
        XCTAssertTrue(r.stderr.contains("nothing was submitted"), r.stderr)

        try Data("{\"prompt\": \"a blue fox\", \"widht\": 128}\n".utf8).write(to: prompts)
        r = try ternflux(["submit", prompts.path, "--allow-unknown-fields", "--brokers", "127.0.0.1:1"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertFalse(r.stderr.contains("widht"), r.stderr)
        XCTAssertTrue(r.stderr.contains("no database given"), r.stderr)
    }
}

enum MigrateCommandLabel {
    static var last: String {
        let m = Migration.all.last!
        let digits = String(m.version)
        return String(repeating: "0", count: 6 - digits.count) + digits + "_" + m.name
    }
}
