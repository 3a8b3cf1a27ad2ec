import Foundation
import JobStore

/// Draws a batch's progress (bar, rate, ETA) on stderr until every job has finished.
public struct ProgressWatcher {
    let repository: JobRepository
    public var interval: Double = 0.5

    public init(repository: JobRepository) { self.repository = repository }

    public func watch(batchID: UUID) throws {
        let tty = isatty(STDERR_FILENO) != 0
        let started = Date()
        var lastPrinted = Date.distantPast
        var firstDone: (Date, Int)?
        while true {
            guard let p = try repository.batchProgress(batchID) else { throw JobStoreError.batchNotFound(batchID) }
            let done = p.succeeded + p.failed + p.canceled
            if firstDone == nil { firstDone = (Date(), done) }
            let elapsed = Date().timeIntervalSince(firstDone!.0)
            let rate = elapsed > 0 ? Double(done - firstDone!.1) / elapsed : 0
            let eta = rate > 0 ? Double(p.total - done) / rate : nil
            let line = Self.render(total: p.total, succeeded: p.succeeded, failed: p.failed, canceled: p.canceled,
                                   running: p.running, rate: rate, eta: eta)
            if tty {
                FileHandle.standardError.write(Data("\r\u{1B}[K\(line)".utf8))
            } else if Date().timeIntervalSince(lastPrinted) >= 5 || p.finished {
                FileHandle.standardError.write(Data("\(line)\n".utf8))
                lastPrinted = Date()
            }
            if p.finished {
                if tty { FileHandle.standardError.write(Data("\n".utf8)) }
                FileHandle.standardError.write(Data(String(format: "batch finished in %.1f s\n", Date().timeIntervalSince(started)).utf8))
                return
            }
            Thread.sleep(forTimeInterval: interval)
        }
    }

    static func render(total: Int, succeeded: Int, failed: Int, canceled: Int, running: Int, rate: Double, eta: Double?) -> String {
        let done = succeeded + failed + canceled
        let width = 30
        let filled = total > 0 ? Int(Double(width) * Double(done) / Double(total)) : width
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        var text = "[\(bar)] \(done)/\(total) (\(succeeded) ok, \(failed) failed"
        if canceled > 0 { text += ", \(canceled) canceled" }
        text += ", \(running) running) " + String(format: "%.2f img/s", rate)
        if let eta { text += String(format: " ETA %.0f s", eta) }
        return text
    }
}
