import DevServices
import Foundation
import JobModel
import XCTest
@testable import JobStore

/// The command-line cases of the hostile-input review (docs/security.md): each bad flag or input gets a
/// message naming it and a non-zero exit, never a trap; a submit that cannot reach Kafka says how to finish.
final class HostileCommandLineTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: TernfluxRun.binary.path),
                          "build the package first: \(TernfluxRun.binary.path) is missing")
    }

    func testSinceIsParsedStrictlyAndNeverTraps() throws {
        let env = ["TERNFLUX_DATABASE_URL": try TemporaryPostgres.shared().createMigratedDatabase()]
        let refused: [(String, String)] = [
            ("99999999999999h", "--since"), ("1e3h", "--since"), ("infh", "--since"), ("-5h", "--since"),
            ("2026-02-30", "2026-02-30"), ("2026-13-01", "2026-13-01"), ("2026-01-01T00:00:00+25:00", "+25:00"),
            ("0001-01-01T00:00:00Z", "1970"), ("2026-01-01T24:61:00Z", "2026-01-01T24:61:00Z"), ("yesterday", "yesterday"),
        ]
        for (since, named) in refused {
            let r = try TernfluxRun(["history", "--since", since], environment: env)
            XCTAssertEqual(r.status, 64, "--since \(since): \(r.stderr)") // ArgumentParser's validation exit, not a signal
            XCTAssertTrue(r.stderr.contains(named), "--since \(since): the error does not name \(named): \(r.stderr)")
            XCTAssertFalse(r.stderr.contains("22008"), r.stderr)
        }
        for since in ["90m", "2d", "2026-02-28", "2026-12-01T10:00:00Z", "2026-12-01T10:00:00+05:30", "2024-02-29"] {
            let r = try TernfluxRun(["history", "--since", since], environment: env)
            XCTAssertEqual(r.status, 0, "--since \(since): \(r.stderr)")
        }
    }

    func testGenerateRefusesOutOfRangeFlagsBeforeLoadingAnything() throws {
        let cases: [([String], String)] = [
            (["--steps", "100000"], "--steps"), (["--guidance", "1e308"], "--guidance"), (["--guidance", "nan"], "--guidance"),
            (["--seed", "18446744073709551615"], "--seed"), (["--width", "100000"], "--width"), (["--height", "17"], "--height"),
        ]
        for (flags, named) in cases {
            // A model folder that does not exist: the flags must be refused before it is even looked at.
            let r = try TernfluxRun(["generate", "a red circle", "--out", "/nonexistent/x.png", "--model", "/nonexistent-model"] + flags)
            XCTAssertNotEqual(r.status, 0, "\(flags)")
            XCTAssertTrue(r.stderr.contains(named), "\(flags): \(r.stderr)")
            XCTAssertFalse(r.stderr.contains("nonexistent-model"), "\(flags) reached the model: \(r.stderr)")
            XCTAssertFalse(r.stderr.contains("got inf"), r.stderr)
        }
    }

    func testWorkerRefusesDurationsThatAreNotFiniteSeconds() throws {
        for (flag, value) in [("--job-timeout", "nan"), ("--job-timeout", "0"), ("--job-timeout", "1e300"), ("--shutdown-grace", "-1"),
                              ("--exit-when-idle", "inf"), ("--max-attempts", "0"), ("--max-jobs", "0")] {
            let r = try TernfluxRun(["worker", flag, value, "--database-url", "host=/nonexistent", "--brokers", "127.0.0.1:1"])
            XCTAssertEqual(r.status, 64, "\(flag) \(value): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(flag), "\(flag) \(value): \(r.stderr)")
        }
    }

    func testSubmitOfADirectoryOrAMissingFileIsNamed() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ternflux-submit-dir-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var r = try TernfluxRun(["submit", dir.path, "--database-url", "host=/nonexistent", "--brokers", "127.0.0.1:1"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("\(dir.path): it is a directory"), r.stderr)
        XCTAssertFalse(r.stderr.contains("NSCocoaErrorDomain"), r.stderr)
        r = try TernfluxRun(["submit", dir.appendingPathComponent("none.jsonl").path, "--database-url", "host=/nonexistent"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("none.jsonl: no such file"), r.stderr)
    }

    /// Kafka unreachable: the batch is in PostgreSQL but not enqueued; submit prints its id on stdout, says
    /// how to finish it, exits non-zero; `--batch-key` then makes the retry finish that batch, not a second one.
    func testSubmitThatCannotReachKafkaPrintsTheBatchAndABatchKeyRetryFinishesIt() throws {
        let info = try TemporaryPostgres.shared().createMigratedDatabase()
        let env = ["TERNFLUX_DATABASE_URL": info]
        let batch = Data(#"{"prompt":"a red circle"}\#n{"prompt":"a blue square"}\#n"#.utf8)
        let down = ["--brokers", "127.0.0.1:1", "--kafka-property", "message.timeout.ms=2000"]
        var r = try TernfluxRun(["submit", "-", "--format", "jsonl", "--batch-key", "nightly-1"] + down, environment: env, stdin: batch)
        XCTAssertNotEqual(r.status, 0)
        let firstID = try XCTUnwrap(UUID(uuidString: r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "stdout: \(r.stdout)")
        XCTAssertTrue(r.stderr.contains("ternflux requeue"), r.stderr)
        let db = try PostgresConnection(conninfo: info)
        defer { db.close() }
        let repository = JobRepository(connection: db)
        XCTAssertEqual(try repository.batchProgress(firstID)?.queued, 2)

        let broker = try EmbeddedBroker.forJobs(partitions: 1)
        defer { broker.close() }
        r = try TernfluxRun(["submit", "-", "--format", "jsonl", "--batch-key", "nightly-1", "--brokers", broker.bootstrapServers],
                            environment: env, stdin: batch)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(UUID(uuidString: r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), firstID)
        XCTAssertTrue(r.stderr.contains("2 jobs that had not reached Kafka were produced now"), r.stderr)
        let count = try db.query("SELECT count(*)::int AS n FROM batches").first?.decode("n") as Int?
        XCTAssertEqual(count, 1, "the retry wrote a second batch")
        let unenqueued = try db.query("SELECT count(*)::int AS n FROM jobs WHERE enqueued_at IS NULL").first?.decode("n") as Int?
        XCTAssertEqual(unenqueued, 0)

        // Again: a no-op. The same key on other input: refused, nothing written.
        r = try TernfluxRun(["submit", "-", "--format", "jsonl", "--batch-key", "nightly-1", "--brokers", broker.bootstrapServers],
                            environment: env, stdin: batch)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("nothing new was written"), r.stderr)
        r = try TernfluxRun(["submit", "-", "--format", "jsonl", "--batch-key", "nightly-1", "--brokers", broker.bootstrapServers],
                            environment: env, stdin: Data(#"{"prompt":"something else"}\#n"#.utf8))
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("nightly-1"), r.stderr)
        XCTAssertEqual(try db.query("SELECT count(*)::int AS n FROM jobs").first?.decode("n") as Int?, 2)
    }

    func testJSONDocumentsSpellIdsInLowerCase() throws {
        let info = try TemporaryPostgres.shared().createMigratedDatabase()
        let db = try PostgresConnection(conninfo: info)
        defer { db.close() }
        try SampleData.load(into: JobRepository(connection: db), fixedTimes: true)
        let env = ["TERNFLUX_DATABASE_URL": info]
        for arguments in [["status", "--json"], ["status", SampleData.batchID.uuidString, "--json"], ["history", "--json"]] {
            let r = try TernfluxRun(arguments, environment: env)
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertTrue(r.stdout.contains(SampleData.batchID.uuidString.lowercased()), "\(arguments): \(r.stdout.prefix(300))")
            XCTAssertFalse(r.stdout.contains(SampleData.batchID.uuidString.uppercased()), "\(arguments): \(r.stdout.prefix(300))")
        }
    }
}
