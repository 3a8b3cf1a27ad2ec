import Foundation
import JobModel
import XCTest

/// A child process whose stdout is read line by line with timeouts; killed when the test ends.
final class ChildProcess: @unchecked Sendable {
    let process = Process()
    private let lock = NSCondition()
    private var lines: [String] = []
    private var partial = ""
    private var stdoutClosed = false

    init(executable: URL, arguments: [String], stdin: Data? = nil) throws {
        process.executableURL = executable
        process.arguments = arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        let input = Pipe()
        process.standardInput = input
        out.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            self?.received(data)
        }
        try process.run()
        if let stdin { input.fileHandleForWriting.write(stdin) }
        try input.fileHandleForWriting.close()
    }

    private func received(_ data: Data) {
        lock.lock()
        defer { lock.broadcast(); lock.unlock() }
        if data.isEmpty { stdoutClosed = true; return }
        partial += String(decoding: data, as: UTF8.self)
        while let nl = partial.firstIndex(of: "\n") {
            lines.append(String(partial[..<nl]))
            partial = String(partial[partial.index(after: nl)...])
        }
    }

    /// The next stdout line, or nil after `timeout` seconds or at end of output.
    func nextLine(timeout: TimeInterval) -> String? {
        let deadline = Date(timeIntervalSinceNow: timeout)
        lock.lock()
        defer { lock.unlock() }
        while lines.isEmpty && !stdoutClosed {
            if !lock.wait(until: deadline) { break }
        }
        return lines.isEmpty ? nil : lines.removeFirst()
    }

    /// Waits for exit; returns the status, or nil (after killing it) when `timeout` passed.
    func waitForExit(timeout: TimeInterval) -> Int32? {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return nil
        }
        return process.terminationStatus
    }

    func signal(_ signo: Int32) { kill(process.processIdentifier, signo) }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

enum Executables {
    /// The `ternflux` binary built next to the test bundle.
    static func ternflux(file: StaticString = #filePath, line: UInt = #line) throws -> URL {
        // On Linux the test bundle is an executable in the build folder, next to `ternflux`; on
        // Darwin it is a bundle directory in that folder.
        let bundle = Bundle(for: ChildProcess.self).bundleURL
        let candidates = [bundle, bundle.deletingLastPathComponent(),
                          URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()]
            .map { $0.appendingPathComponent("ternflux") }
        guard let url = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
            XCTFail("ternflux binary not found (looked at \(candidates.map(\.path))); build it with `swift build --build-tests`",
                    file: file, line: line)
            throw CocoaError(.fileNoSuchFile)
        }
        return url
    }

    /// A program on PATH (kcat comes from Debian's kcat package).
    static func onPath(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> URL {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let url = URL(fileURLWithPath: String(dir)).appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        XCTFail("\(name) not found on PATH (apt-get install \(name))", file: file, line: line)
        throw CocoaError(.fileNoSuchFile)
    }
}
