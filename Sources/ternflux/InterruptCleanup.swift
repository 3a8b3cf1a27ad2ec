import Dispatch
import Foundation

/// Removes the temporary folders of a conversion when the process is interrupted (SIGINT, SIGTERM), then
/// exits 130 / 143 as a shell expects. Errors already remove them; this covers Ctrl-C and `kill`, so an
/// interrupted `convert` or `quantize` leaves neither a partial DST nor its temporary folder (SIGKILL still can).
enum InterruptCleanup {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var paths: [String] = []
    /// Folder + name prefix of temporaries whose full name is not known in advance (the quantizer's).
    nonisolated(unsafe) private static var prefixes: [(folder: String, prefix: String)] = []
    nonisolated(unsafe) private static var sources: [DispatchSourceSignal] = []

    /// Starts handling SIGINT and SIGTERM (once per process).
    static func install() {
        lock.lock()
        defer { lock.unlock() }
        guard sources.isEmpty else { return }
        for (signo, status) in [(SIGINT, Int32(130)), (SIGTERM, Int32(143))] {
            signal(signo, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signo, queue: .global())
            source.setEventHandler {
                removeAll()
                FileHandle.standardError.write(Data("ternflux: interrupted; removed the temporary folders\n".utf8))
                exit(status)
            }
            source.resume()
            sources.append(source)
        }
    }

    static func register(_ url: URL) {
        lock.lock()
        paths.append(url.path)
        lock.unlock()
    }

    /// Every entry of `folder` whose name starts with `prefix`.
    static func register(folder: URL, prefix: String) {
        lock.lock()
        prefixes.append((folder.path, prefix))
        lock.unlock()
    }

    private static func removeAll() {
        lock.lock()
        var targets = paths
        for (folder, prefix) in prefixes {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
            targets += names.filter { $0.hasPrefix(prefix) }.map { folder + "/" + $0 }
        }
        lock.unlock()
        // The conversion thread may still be creating files inside; a second pass catches those.
        for _ in 0..<3 {
            for path in targets { try? FileManager.default.removeItem(atPath: path) }
            if !targets.contains(where: { FileManager.default.fileExists(atPath: $0) }) { break }
        }
    }
}
