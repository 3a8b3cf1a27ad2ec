import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One HTTP POST of a webhook body, synchronous, with a time limit and without following redirects (a
/// redirect could lead past the address check; a receiver that moved answers 3xx, which counts as a failure).
enum WebhookPost {
    struct Answer { let status: Int }

    /// POSTs `body` with `headers`; throws when no HTTP answer came (refused, timed out, TLS failure).
    static func send(url: URL, body: [UInt8], headers: [String: String], timeoutSeconds: Double) throws -> Answer {
        var request = URLRequest(url: url, cachePolicy: .reloadIgnoringLocalAndRemoteCacheData, timeoutInterval: timeoutSeconds)
        request.httpMethod = "POST"
        request.httpBody = Data(body)
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        let session = URLSession(configuration: .ephemeral, delegate: NoRedirects(), delegateQueue: nil)
        defer { session.finishTasksAndInvalidate() }
        let done = DispatchSemaphore(value: 0)
        let box = AnswerBox()
        session.dataTask(with: request) { _, response, error in
            box.set((response as? HTTPURLResponse)?.statusCode, error)
            done.signal()
        }.resume()
        if done.wait(timeout: .now() + timeoutSeconds + 5) == .timedOut {
            throw WebhookPostError(description: "no answer within \(Int(timeoutSeconds)) s")
        }
        let (status, error) = box.get()
        if let status { return Answer(status: status) }
        throw WebhookPostError(description: error.map { ($0 as NSError).localizedDescription } ?? "no HTTP answer")
    }

    final class NoRedirects: NSObject, URLSessionTaskDelegate, @unchecked Sendable {
        func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                        newRequest request: URLRequest, completionHandler: @escaping (URLRequest?) -> Void) {
            completionHandler(nil)
        }
    }

    final class AnswerBox: @unchecked Sendable {
        private let lock = NSLock()
        private var status: Int?
        private var error: Error?
        func set(_ s: Int?, _ e: Error?) { lock.lock(); (status, error) = (s, e); lock.unlock() }
        func get() -> (Int?, Error?) { lock.lock(); defer { lock.unlock() }; return (status, error) }
    }
}

struct WebhookPostError: Error, CustomStringConvertible { let description: String }
