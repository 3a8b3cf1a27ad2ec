import Foundation

/// The built `ternflux` binary run as a user runs it, for the tests of this target that go through the command
/// line: its exit status and what it wrote on stderr (stdout is discarded).
enum TernfluxCommand {
    /// The package root (models/, ops/, .build/).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let binary = root.appendingPathComponent(".build/debug/ternflux")

    /// Runs `ternflux arguments` with this process's environment, less `removing`, plus `environment`.
    static func run(_ arguments: [String], environment: [String: String] = [:], removing: [String] = []) throws -> (status: Int32, stderr: String) {
        let p = Process()
        p.executableURL = binary
        p.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for name in removing { env.removeValue(forKey: name) }
        env.merge(environment) { $1 }
        p.environment = env
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let data = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
