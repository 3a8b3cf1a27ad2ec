import Foundation

/// One schema change: `migrations/NNNNNN_name.up.sql` and its `.down.sql` (golang-migrate naming).
public struct Migration: Sendable, Equatable {
    public let version: Int64
    public let name: String
    public let up: String
    public let down: String

    public init(version: Int64, name: String, up: String, down: String) {
        self.version = version
        self.name = name
        self.up = up
        self.down = down
    }

    /// The migrations compiled into this binary (Sources/JobStore/EmbeddedMigrations.swift, generated
    /// from migrations/ by ops/embed-migrations.sh), so `ternflux migrate` needs no files at run time.
    public static var all: [Migration] { embedded }

    /// Reads and checks a migrations folder: every file named `NNNNNN_name.up.sql` or `.down.sql`, each
    /// version with both halves and one name, no duplicates. Other files are ignored.
    public static func load(directory: URL) throws -> [Migration] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw MigrationError.unreadable(path: directory.path, reason: "\(error.localizedDescription)")
        }
        var halves: [Int64: (name: String, up: String?, down: String?)] = [:]
        for file in names.sorted() where file.hasSuffix(".sql") {
            guard let parsed = parseFileName(file) else {
                throw MigrationError.badFileName(file)
            }
            let path = directory.appendingPathComponent(file)
            guard let data = FileManager.default.contents(atPath: path.path), let text = String(data: data, encoding: .utf8) else {
                throw MigrationError.unreadable(path: path.path, reason: "not readable as UTF-8")
            }
            var entry = halves[parsed.version] ?? (parsed.name, nil, nil)
            guard entry.name == parsed.name else {
                throw MigrationError.conflictingNames(version: parsed.version, entry.name, parsed.name)
            }
            if parsed.isUp { entry.up = text } else { entry.down = text }
            halves[parsed.version] = entry
        }
        return try halves.keys.sorted().map { version in
            let entry = halves[version]!
            guard let up = entry.up else { throw MigrationError.missingHalf(version: version, name: entry.name, missing: "up") }
            guard let down = entry.down else { throw MigrationError.missingHalf(version: version, name: entry.name, missing: "down") }
            return Migration(version: version, name: entry.name, up: up, down: down)
        }
    }

    /// `000012_add_index.up.sql` → (12, "add_index", up). Versions are six or more digits; names are
    /// lower-case letters, digits and underscores.
    static func parseFileName(_ file: String) -> (version: Int64, name: String, isUp: Bool)? {
        let isUp: Bool
        let stem: Substring
        if file.hasSuffix(".up.sql") { isUp = true; stem = file.dropLast(7) }
        else if file.hasSuffix(".down.sql") { isUp = false; stem = file.dropLast(9) }
        else { return nil }
        guard let underscore = stem.firstIndex(of: "_") else { return nil }
        let digits = stem[..<underscore]
        let name = stem[stem.index(after: underscore)...]
        guard digits.count >= 6, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let version = Int64(digits), version > 0,
              !name.isEmpty, name.allSatisfy({ ($0.isASCII && ($0.isLowercase || $0.isNumber)) || $0 == "_" }) else { return nil }
        return (version, String(name), isUp)
    }
}

public enum MigrationError: Error, CustomStringConvertible, Equatable {
    case badFileName(String)
    case unreadable(path: String, reason: String)
    case conflictingNames(version: Int64, String, String)
    case missingHalf(version: Int64, name: String, missing: String)
    case unknownAppliedVersion(Int64)
    case failed(version: Int64, name: String, direction: String, underlying: String)

    public var description: String {
        switch self {
        case .badFileName(let file):
            return "migration file \"\(file)\" is not named NNNNNN_name.up.sql or NNNNNN_name.down.sql"
        case .unreadable(let path, let reason):
            return "cannot read migration \(path): \(reason)"
        case .conflictingNames(let version, let a, let b):
            return "migration version \(version) has two names: \(a) and \(b)"
        case .missingHalf(let version, let name, let missing):
            return "migration \(version)_\(name) has no .\(missing).sql file"
        case .unknownAppliedVersion(let version):
            return "the database has migration \(version) applied, which this ternflux does not know; use a newer ternflux to migrate down"
        case .failed(let version, let name, let direction, let underlying):
            return "migration \(version)_\(name) (\(direction)) failed and was rolled back: \(underlying)"
        }
    }
}
