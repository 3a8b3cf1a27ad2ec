import Foundation

/// The repository root: `TERNFLUX_ROOT` when set, else found from this source file's path (the fuzzers
/// are always built from a checkout).
public func repositoryRoot() -> URL {
    if let root = ProcessInfo.processInfo.environment["TERNFLUX_ROOT"], !root.isEmpty {
        return URL(fileURLWithPath: root, isDirectory: true)
    }
    // Fuzz/Sources/FuzzSupport/FuzzSupport.swift → four levels up.
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<4 { url.deleteLastPathComponent() }
    return url
}

/// A broken invariant: abort so libFuzzer records the input as a crash, with the reason on stderr.
public func invariant(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() {
        FileHandle.standardError.write(Data(("invariant broken: " + message() + "\n").utf8))
        abort()
    }
}

/// Loading the fixed inputs of a harness (tokenizer files) must work; a failure is a setup error, not a finding.
public func loadOrExit<T>(_ what: String, _ body: () throws -> T) -> T {
    do { return try body() } catch {
        FileHandle.standardError.write(Data("fuzz harness setup failed: cannot load \(what): \(error)\n".utf8))
        exit(2)
    }
}
