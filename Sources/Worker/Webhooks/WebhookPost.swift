import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One HTTP POST of a webhook body, synchronous, with a time limit, without following redirects (a redirect
/// could lead past the address check; a receiver that moved answers 3xx, which counts as a failure), and
/// without reading the answer's body: the status line decides, and the connection is dropped once it has
/// arrived, so a receiver that streams an endless body cannot fill the worker's memory.
enum WebhookPost {
    struct Answer { let status: Int }

    /// POSTs `body` with `headers`; throws when no HTTP answer came (refused, timed out, TLS failure).
    static func send(url: URL, body: [UInt8], headers: [String: String], timeoutSeconds: Double) throws -> Answer {
        var request = URLRequest(url: url, cachePolicy: .reloadIgnoringLocalAndRemoteCacheData, timeoutInterval: timeoutSeconds)
        request.httpMethod = "POST"
        request.httpBody = Data(body)
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        let observer = StatusObserver()
        let session = URLSession(configuration: .ephemeral, delegate: observer, delegateQueue: nil)
        defer { session.invalidateAndCancel() }
        session.dataTask(with: request).resume()
        guard observer.wait(seconds: timeoutSeconds + 5) else {
            throw WebhookPostError(description: "no answer within \(Int(timeoutSeconds)) s")
        }
        let (status, error) = observer.result
        if let status { return Answer(status: status) }
        throw WebhookPostError(description: error.map { ($0 as NSError).localizedDescription } ?? "no HTTP answer")
    }

    /// Takes the status from the response head and cancels the rest; refuses redirects.
    final class StatusObserver: NSObject, URLSessionDataDelegate, @unchecked Sendable {
        private let lock = NSLock()
        private let done = DispatchSemaphore(value: 0)
        private var status: Int?
        private var error: Error?
        private var finished = false

        var result: (Int?, Error?) { lock.lock(); defer { lock.unlock() }; return (status, error) }

        func wait(seconds: Double) -> Bool { done.wait(timeout: .now() + seconds) == .success }

        private func finish(status: Int?, error: Error?) {
            lock.lock()
            defer { lock.unlock() }
            guard !finished else { return }
            finished = true
            (self.status, self.error) = (status, error)
            done.signal()
        }

        func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                        completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
            finish(status: (response as? HTTPURLResponse)?.statusCode, error: nil)
            completionHandler(.cancel)
        }

        func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
            finish(status: (task.response as? HTTPURLResponse)?.statusCode, error: error)
        }

        func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                        newRequest request: URLRequest, completionHandler: @escaping (URLRequest?) -> Void) {
            completionHandler(nil)
        }
    }
}

struct WebhookPostError: Error, CustomStringConvertible { let description: String }
