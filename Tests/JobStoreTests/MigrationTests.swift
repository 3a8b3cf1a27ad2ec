import Foundation
import JobModel
import DevServices
import XCTest
@testable import JobStore

final class MigrationTests: XCTestCase {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func tables(_ db: PostgresConnection) throws -> [String] {
        try db.query("""
            SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY table_name
            """).map { try $0.decode("table_name") }
    }

    func testEmbeddedMigrationsMatchTheFilesInMigrationsFolder() throws {
        let onDisk = try Migration.load(directory: Self.repositoryRoot.appendingPathComponent("migrations"))
        XCTAssertFalse(onDisk.isEmpty)
        XCTAssertEqual(onDisk.map(\.version), Migration.all.map(\.version))
        for (file, embedded) in zip(onDisk, Migration.all) {
            XCTAssertEqual(file, embedded, "migration \(file.version)_\(file.name) differs from the embedded copy: run ops/embed-migrations.sh")
        }
    }

    func testLoadingRejectsBadlyNamedOrHalfMigrations() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mig-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try "SELECT 1;".write(to: dir.appendingPathComponent("000001_first.up.sql"), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try Migration.load(directory: dir)) { XCTAssertEqual($0 as? MigrationError, .missingHalf(version: 1, name: "first", missing: "down")) }
        try "SELECT 1;".write(to: dir.appendingPathComponent("000001_first.down.sql"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try Migration.load(directory: dir).map(\.name), ["first"])
        try "SELECT 1;".write(to: dir.appendingPathComponent("2_Second.up.sql"), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try Migration.load(directory: dir)) { XCTAssertEqual($0 as? MigrationError, .badFileName("2_Second.up.sql")) }
    }

    func testUpDownUpAndStatus() throws {
        let db = try PostgresConnection(conninfo: try TemporaryPostgres.shared().createDatabase())
        let runner = MigrationRunner(connection: db)
        XCTAssertEqual(try runner.status().map(\.appliedAt), Migration.all.map { _ in nil })
        XCTAssertEqual(try runner.up().count, Migration.all.count)
        XCTAssertEqual(try runner.up().count, 0, "a second up has nothing to do")
        XCTAssertEqual(try tables(db), ["batch_progress", "batches", "job_history", "job_timings", "jobs", "schema_migrations", "webhook_attempts", "webhook_deliveries", "worker_activity", "workers"])
        let status = try runner.status()
        XCTAssertTrue(status.allSatisfy { $0.appliedAt != nil && !$0.checksumMismatch && !$0.unknownToBinary })
        XCTAssertEqual(try runner.currentVersion(), Migration.all.last!.version)

        XCTAssertEqual(try runner.down(steps: 1).map(\.version), [Migration.all.last!.version])
        XCTAssertEqual(try runner.down(steps: nil).count, Migration.all.count - 1)
        XCTAssertEqual(try tables(db), ["schema_migrations"])
        XCTAssertEqual(try db.query("SELECT count(*) AS n FROM pg_type WHERE typname = 'job_state'").single().decode("n", as: Int.self), 0)
        XCTAssertEqual(try runner.currentVersion(), 0)

        XCTAssertEqual(try runner.up().count, Migration.all.count)
        XCTAssertEqual(try tables(db).count, 10)
    }

    func testStatusFlagsEditedAndUnknownMigrations() throws {
        let db = try PostgresConnection(conninfo: try TemporaryPostgres.shared().createMigratedDatabase())
        try db.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")
        try db.execute("INSERT INTO schema_migrations (version, name, checksum) VALUES (999999, 'from_the_future', NULL)")
        let status = try MigrationRunner(connection: db).status()
        XCTAssertEqual(status.first { $0.version == 1 }?.checksumMismatch, true)
        XCTAssertEqual(status.last?.unknownToBinary, true)
        XCTAssertThrowsError(try MigrationRunner(connection: db).down(steps: 1)) { error in
            XCTAssertEqual(error as? MigrationError, .unknownAppliedVersion(999999))
        }
    }

    func testAFailingMigrationRollsBackEntirely() throws {
        let db = try PostgresConnection(conninfo: try TemporaryPostgres.shared().createDatabase())
        let broken = Migration(version: 7, name: "broken", up: "CREATE TABLE half (id int); SELECT no_such_function();", down: "DROP TABLE half;")
        XCTAssertThrowsError(try MigrationRunner(connection: db, migrations: [broken]).up()) { error in
            XCTAssertTrue("\(error)".contains("migration 7_broken (up) failed and was rolled back"), "\(error)")
            XCTAssertTrue("\(error)".contains("no_such_function"), "\(error)")
        }
        XCTAssertEqual(try tables(db), ["schema_migrations"])
        XCTAssertEqual(try MigrationRunner(connection: db, migrations: [broken]).currentVersion(), 0)
    }

    /// Several workers starting at once each run `migrate up`: the advisory lock makes exactly one apply
    /// every migration and the others find nothing to do.
    func testConcurrentMigrateUpFromSeveralConnections() throws {
        let info = try TemporaryPostgres.shared().createDatabase()
        let count = 6
        let applied = UnsafeMutableBufferPointer<Int>.allocate(capacity: count)
        let failures = UnsafeMutableBufferPointer<String?>.allocate(capacity: count)
        defer { applied.deallocate(); failures.deallocate() }
        failures.initialize(repeating: nil)
        applied.initialize(repeating: 0)
        DispatchQueue.concurrentPerform(iterations: count) { i in
            do {
                let db = try PostgresConnection(conninfo: info)
                applied[i] = try MigrationRunner(connection: db).up().count
                db.close()
            } catch {
                failures[i] = "\(error)"
            }
        }
        XCTAssertEqual(failures.compactMap { $0 }, [])
        XCTAssertEqual(applied.reduce(0, +), Migration.all.count)
        let db = try PostgresConnection(conninfo: info)
        XCTAssertEqual(try db.query("SELECT count(*) AS n FROM schema_migrations").single().decode("n", as: Int.self), Migration.all.count)
    }

    /// Roles belong to the cluster: migrating a second database (roles already there), and migrating
    /// one database down and up again while another still uses the roles, both work.
    func testRolesMigrationIsRerunnableWhenRolesExist() throws {
        let server = try TemporaryPostgres.shared()
        let first = try PostgresConnection(conninfo: try server.createMigratedDatabase())
        let second = try PostgresConnection(conninfo: try server.createMigratedDatabase())
        let runner = MigrationRunner(connection: second)
        try runner.down(steps: nil)
        try runner.up()
        let roles = try first.query("SELECT rolname FROM pg_roles WHERE rolname LIKE 'ternflux_%' ORDER BY rolname").map { try $0.decode("rolname", as: String.self) }
        XCTAssertEqual(roles, ["ternflux_reader", "ternflux_worker"])
        XCTAssertEqual(try second.query("SELECT has_table_privilege('ternflux_reader', 'batch_progress', 'SELECT') AS ok").single().decode("ok", as: Bool.self), true)
    }
}
