import Foundation
import Hummingbird
import JobStore

/// An error the API answers with. Every error response has the same JSON body:
/// `{"error": {"status": 422, "message": "...", "errors": [{"line": 3, "message": "..."}]}}`, where `errors`
/// lists the problems of each line of a refused batch (line 0 is the batch itself: its settings, its body)
/// and is empty otherwise; `batch_id` and `hint` appear when a stored batch did not reach Kafka.
public struct APIError: Error, Sendable, CustomStringConvertible {
    public struct LineError: Sendable, Equatable, Codable {
        public var line: Int
        public var message: String
    }

    public var status: HTTPResponse.Status
    public var message: String
    public var errors: [LineError] = []
    public var batchID: UUID?
    public var hint: String?
    /// Extra response headers (`Allow` on 405, `WWW-Authenticate` on 401).
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, _ message: String, errors: [LineError] = [], headers: HTTPFields = [:]) {
        self.status = status
        self.message = message
        self.errors = errors
        self.headers = headers
    }

    public var description: String { "\(status.code) \(message)" }

    static func badRequest(_ message: String) -> APIError { APIError(.badRequest, message) }
    static func notFound(_ message: String) -> APIError { APIError(.notFound, message) }

    /// PostgreSQL cannot be reached (or the connection broke): the request may succeed once it is back.
    static func databaseUnavailable(_ error: any Error) -> APIError {
        APIError(.serviceUnavailable, "the job database is unavailable: \(error)")
    }

    /// The JSON response for this error.
    func response() -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        fields[.cacheControl] = "no-store"
        let body = Body(error: Body.Inner(status: Int(status.code), message: message, errors: errors,
                                          batchID: batchID?.uuidString.lowercased(), hint: hint))
        // Encoding these plain fields cannot fail; the fallback keeps the answer JSON all the same.
        let data = (try? ReportJSON.encoder().encode(body)) ?? Data(#"{"error":{"status":500,"message":"unencodable error","errors":[]}}"#.utf8)
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    struct Body: Encodable {
        struct Inner: Encodable {
            var status: Int
            var message: String
            var errors: [LineError]
            var batchID: String?
            var hint: String?
            enum CodingKeys: String, CodingKey { case status, message, errors, batchID = "batch_id", hint }
        }
        var error: Inner
    }
}
