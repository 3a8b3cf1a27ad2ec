import ArgumentParser
import Foundation
import JobStore

/// `ternflux migrate [up|down|status]`: the schema is compiled into the binary, so this works from a
/// fresh clone or a container without the migrations folder.
struct MigrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply, revert or list the job database migrations.",
        discussion: """
            Safe to run from many processes at once: a PostgreSQL advisory lock serialises them and each \
            migration is applied exactly once, in its own transaction.
            """)

    enum Action: String, ExpressibleByArgument, CaseIterable {
        case up, down, status
    }

    @Argument(help: "up (apply all pending), down (revert the newest, or --steps N / --all), status.")
    var action: Action = .up

    @Option(help: "With down: how many migrations to revert.")
    var steps: Int = 1

    @Flag(help: "With down: revert every migration (drops all job data).")
    var all = false

    @Flag(help: "With down: confirm reverting (a reverted migration drops the tables or columns it added, and their data).")
    var yes = false

    @Option(help: ArgumentHelp("Use the migrations in this folder instead of the ones built in.", valueName: "dir"))
    var source: String?

    @OptionGroup var database: DatabaseOptions

    func validate() throws {
        if steps < 1 { throw ValidationError("--steps must be at least 1") }
        if action != .down && (all || steps != 1 || yes) { throw ValidationError("--steps, --all and --yes apply only to `migrate down`") }
        if action == .down && !yes {
            let what = all ? "every migration, dropping all job data" : "the newest \(steps == 1 ? "migration" : "\(steps) migrations")"
                + " and the data in the tables or columns \(steps == 1 && !all ? "it" : "they") added"
            throw ValidationError("`migrate down` reverts \(what); pass --yes to confirm")
        }
    }

    func run() throws {
        let migrations = try source.map { try Migration.load(directory: URL(fileURLWithPath: $0)) } ?? Migration.all
        let db = try database.connect()
        defer { db.close() }
        let runner = MigrationRunner(connection: db, migrations: migrations)
        switch action {
        case .up:
            let applied = try runner.up()
            if applied.isEmpty {
                print("database is up to date at version \(try runner.currentVersion())")
            }
            for migration in applied { print("applied \(Self.label(migration.version, migration.name))") }
        case .down:
            let reverted = try runner.down(steps: all ? nil : steps)
            if reverted.isEmpty { print("nothing to revert") }
            for migration in reverted { print("reverted \(Self.label(migration.version, migration.name))") }
        case .status:
            for entry in try runner.status() {
                var line = "\(Self.label(entry.version, entry.name))  "
                if let at = entry.appliedAt { line += "applied \(ISO8601DateFormatter().string(from: at))" } else { line += "pending" }
                if entry.checksumMismatch { line += "  (applied SQL differs from this binary's copy)" }
                if entry.unknownToBinary { line += "  (unknown to this ternflux)" }
                print(line)
            }
        }
    }

    static func label(_ version: Int64, _ name: String) -> String {
        let digits = String(version)
        return String(repeating: "0", count: max(0, 6 - digits.count)) + digits + "_" + name
    }
}
