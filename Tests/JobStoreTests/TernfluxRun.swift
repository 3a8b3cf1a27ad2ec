import Foundation

/// One run of the built `ternflux` binary: exit status and both outputs. The database URL variables of the
/// test's own environment are removed, so a run only sees the database the test names.
struct TernfluxRun {
    static let binary = MigrationTests.repositoryRoot.appendingPathComponent(".build/debug/ternflux")

    var status: Int32
    var stdout: String
    var stderr: String

    init(_ arguments: [String], environment: [String: String] = [:], stdin: Data? = nil) throws {
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "TERNFLUX_DATABASE_URL")
        env.removeValue(forKey: "TERNFLUX_DATABASE_URL_FILE")
        env.merge(environment) { $1 }
        process.environment = env
        // stderr goes to a file, so a child that fills it never blocks while stdout is read.
        let errFile = FileManager.default.temporaryDirectory.appendingPathComponent("ternflux-stderr-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: errFile.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: errFile) }
        let out = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = try FileHandle(forWritingTo: errFile)
        process.standardInput = stdin == nil ? FileHandle.nullDevice : input
        try process.run()
        if let stdin {
            input.fileHandleForWriting.write(stdin)
            try input.fileHandleForWriting.close()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let errData = (try? Data(contentsOf: errFile)) ?? Data()
        status = process.terminationStatus
        stdout = String(decoding: outData, as: UTF8.self)
        stderr = String(decoding: errData, as: UTF8.self)
    }
}
