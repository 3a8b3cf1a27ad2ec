import Foundation
import JobStore

/// A throw-away PostgreSQL server for tests and `ternflux bench pipeline`: `initdb` on a temporary data
/// directory, listening only on a unix socket in a temporary directory (no TCP), fsync off unless
/// `durable`. `shared()` is started once per test process on first use and stopped when the process
/// exits; directories left by earlier processes that died are removed on start. Each test takes a
/// fresh database from `createDatabase()`.
///
/// PostgreSQL refuses to run as root, so when the tests run as root the server runs as the `postgres`
/// OS user (Debian's postgresql package creates it) via runuser, and the temporary directories are
/// given to that user. Binaries come from `TERNFLUX_PG_BIN`, else the newest /usr/lib/postgresql/N/bin.
public final class TemporaryPostgres: @unchecked Sendable {
    public let baseDirectory: URL
    public let dataDirectory: URL
    public let socketDirectory: URL
    public let binDirectory: URL
    private let runAs: String?
    private let lock = NSLock()
    private var stopped = false
    private var databaseCounter = 0

    /// The server shared by every test in this process, started on first use.
    public static func shared() throws -> TemporaryPostgres {
        try sharedResult.get()
    }

    private static let sharedResult: Result<TemporaryPostgres, Error> = Result {
        let server = try TemporaryPostgres()
        atexit { TemporaryPostgres.stopSharedAtExit() }
        return server
    }

    private static func stopSharedAtExit() {
        if case .success(let server) = sharedResult { server.stop() }
    }

    /// libpq conninfo for a database on this server, as the superuser `postgres` (or `user`).
    public func conninfo(database: String = "postgres", user: String = "postgres") -> String {
        "host=\(socketDirectory.path) user=\(user) dbname=\(database)"
    }

    /// A new empty database; returns its conninfo. Names are generated here (letters and digits only).
    public func createDatabase() throws -> String {
        let name: String = lock.withLock {
            databaseCounter += 1
            return "t\(databaseCounter)_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12)
        }
        let admin = try PostgresConnection(conninfo: conninfo())
        defer { admin.close() }
        try admin.execute("CREATE DATABASE \(name)")
        return conninfo(database: name)
    }

    /// A new database with every embedded migration applied; returns its conninfo.
    public func createMigratedDatabase() throws -> String {
        let info = try createDatabase()
        let db = try PostgresConnection(conninfo: info)
        defer { db.close() }
        try MigrationRunner(connection: db).up()
        return info
    }

    /// - Parameter durable: keep PostgreSQL's default durability (fsync, synchronous commit, full page
    ///   writes) instead of turning it off for speed; benchmarks use it to measure real commit costs.
    public init(durable: Bool = false) throws {
        binDirectory = try Self.findBinaries()
        runAs = getuid() == 0 ? "postgres" : nil
        Self.removeStaleDirectories()
        let base = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent(
            "ternflux-pg-\(getpid())-\(UUID().uuidString.prefix(8).lowercased())")
        baseDirectory = base
        dataDirectory = base.appendingPathComponent("data")
        socketDirectory = base.appendingPathComponent("sock")
        try FileManager.default.createDirectory(at: socketDirectory, withIntermediateDirectories: true)
        if let runAs {
            guard let user = getpwnam(runAs) else {
                throw TemporaryPostgresError.setup("running as root, but there is no '\(runAs)' OS user to run PostgreSQL as (install Debian's postgresql package: ops/install-system-deps.sh)")
            }
            for path in [base.path, socketDirectory.path] {
                guard chown(path, user.pointee.pw_uid, user.pointee.pw_gid) == 0 else {
                    throw TemporaryPostgresError.setup("cannot give \(path) to \(runAs): \(String(cString: strerror(errno)))")
                }
            }
        }
        do {
            let noSync: [String] = durable ? [] : ["--no-sync"]
            try run(binDirectory.appendingPathComponent("initdb").path,
                    ["-D", dataDirectory.path, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-locale"] + noSync)
            var settings: [String] = ["-c listen_addresses=''", "-c unix_socket_directories='\(socketDirectory.path)'"]
            if !durable { settings += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"] }
            settings += ["-c max_connections=100", "-c shared_buffers=32MB", "-c max_parallel_workers_per_gather=0",
                         "-c dynamic_shared_memory_type=mmap"]
            let options = settings.joined(separator: " ")
            try run(binDirectory.appendingPathComponent("pg_ctl").path,
                    ["-D", dataDirectory.path, "-l", base.appendingPathComponent("server.log").path, "-w", "-t", "60", "-o", options, "start"])
        } catch {
            let log = (try? String(contentsOf: base.appendingPathComponent("server.log"), encoding: .utf8)) ?? ""
            try? FileManager.default.removeItem(at: base)
            throw TemporaryPostgresError.setup("\(error)\(log.isEmpty ? "" : "\nserver log:\n\(log)")")
        }
    }

    /// Stops the server (fast shutdown) and removes its directories. Safe to call twice.
    public func stop() {
        let shouldStop: Bool = lock.withLock {
            defer { stopped = true }
            return !stopped
        }
        guard shouldStop else { return }
        _ = try? run(binDirectory.appendingPathComponent("pg_ctl").path, ["-D", dataDirectory.path, "-m", "fast", "-w", "stop"])
        try? FileManager.default.removeItem(at: baseDirectory)
    }

    /// Restarts the server with a fast shutdown (every session is terminated), keeping the data: for
    /// tests of what clients do when the database goes away.
    public func restart() throws {
        try run(binDirectory.appendingPathComponent("pg_ctl").path, ["-D", dataDirectory.path, "-m", "fast", "-w", "restart"])
    }

    // MARK: internals

    @discardableResult
    private func run(_ executable: String, _ arguments: [String]) throws -> String {
        try Self.run(executable, arguments, as: runAs, in: baseDirectory)
    }

    /// Runs a command to completion with posix_spawn and waitpid. (Foundation's Process is not used:
    /// it can wait forever for `pg_ctl start`, whose daemonised server inherits the child's descriptors.)
    @discardableResult
    static func run(_ executable: String, _ arguments: [String], as user: String?, in directory: URL? = nil) throws -> String {
        // The postgres user may not be allowed into the caller's working directory, so the command
        // starts in `directory`; its output goes to a file (a pipe would be held open by the server).
        let cwd = (directory ?? URL(fileURLWithPath: NSTemporaryDirectory())).path
        var argv = ["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", cwd]
        if let user { argv += ["/usr/sbin/runuser", "-u", user, "--"] }
        argv += [executable] + arguments
        let outputPath = NSTemporaryDirectory() + "ternflux-pg-cmd-\(getpid())-\(UUID().uuidString.prefix(8)).out"
        defer { unlink(outputPath) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)

        var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, argv[0], &actions, nil, &cArgs, environ)
        guard spawned == 0 else {
            throw TemporaryPostgresError.setup("cannot run \(executable): \(String(cString: strerror(spawned)))")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 {
            guard errno == EINTR else { throw TemporaryPostgresError.setup("waitpid for \(executable) failed: \(String(cString: strerror(errno)))") }
        }
        let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        let exited = (status & 0x7f) == 0
        let code = (status >> 8) & 0xff
        guard exited && code == 0 else {
            let how = exited ? "exited with \(code)" : "was killed by signal \(status & 0x7f)"
            throw TemporaryPostgresError.setup("\(([executable] + arguments).joined(separator: " ")) \(how): \(output)")
        }
        return output
    }

    static func findBinaries() throws -> URL {
        if let explicit = ProcessInfo.processInfo.environment["TERNFLUX_PG_BIN"], !explicit.isEmpty {
            return URL(fileURLWithPath: explicit)
        }
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init).sorted(by: >)
        for version in versions {
            let bin = URL(fileURLWithPath: "\(root)/\(version)/bin")
            if FileManager.default.isExecutableFile(atPath: bin.appendingPathComponent("initdb").path) { return bin }
        }
        throw TemporaryPostgresError.setup("no PostgreSQL server binaries (initdb) under \(root)/N/bin; install postgresql (ops/install-system-deps.sh) or set TERNFLUX_PG_BIN")
    }

    /// Removes `ternflux-pg-PID-*` directories whose process is gone, stopping a server left running in one.
    static func removeStaleDirectories() {
        let tmp = URL(fileURLWithPath: NSTemporaryDirectory())
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: tmp.path) else { return }
        for entry in entries where entry.hasPrefix("ternflux-pg-") {
            let parts = entry.split(separator: "-")
            // Command output files: ternflux-pg-cmd-PID-ID.out.
            if parts.count >= 5, parts[2] == "cmd", let pid = Int32(parts[3]), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH {
                unlink(tmp.appendingPathComponent(entry).path)
                continue
            }
            guard parts.count >= 4, let pid = Int32(parts[2]), pid != getpid() else { continue }
            if kill(pid, 0) == 0 || errno == EPERM { continue } // its owner is still running
            let dir = tmp.appendingPathComponent(entry)
            let data = dir.appendingPathComponent("data")
            if let pidFile = try? String(contentsOf: data.appendingPathComponent("postmaster.pid"), encoding: .utf8),
               let first = pidFile.split(separator: "\n").first, let postmaster = Int32(first), kill(postmaster, 0) == 0 {
                kill(postmaster, SIGQUIT) // immediate shutdown of an orphaned server
                for _ in 0..<50 where kill(postmaster, 0) == 0 { usleep(100_000) }
            }
            try? FileManager.default.removeItem(at: dir)
        }
    }
}

public enum TemporaryPostgresError: Error, CustomStringConvertible {
    case setup(String)
    public var description: String {
        switch self {
        case .setup(let message): return "temporary PostgreSQL: \(message)"
        }
    }
}
