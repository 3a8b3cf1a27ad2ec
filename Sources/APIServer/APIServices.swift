import Foundation
import Hummingbird
import JobQueue
import Logging
import NIOCore

/// What the routes share: the database pools, the Kafka producer, the image reader and the limits.
final class APIServices: Sendable {
    /// Reads, cancels and /healthz.
    let reads: DatabasePool
    /// Submits: parsing and planning a batch, the insert, producing to Kafka and marking jobs enqueued.
    let submits: DatabasePool
    /// Thread-safe (its own poll thread delivers the reports; any thread may send): one for the whole server.
    let producer: KafkaProducer
    let images: ImageFiles
    let maxBodyBytes: Int
    let logger: Logger

    init(reads: DatabasePool, submits: DatabasePool, producer: KafkaProducer, images: ImageFiles, maxBodyBytes: Int, logger: Logger) {
        self.reads = reads
        self.submits = submits
        self.producer = producer
        self.images = images
        self.maxBodyBytes = maxBodyBytes
        self.logger = logger
    }

    /// The request's body, at most `maxBodyBytes` of it (413 beyond: refused from Content-Length before reading
    /// when the client says, else once the limit is passed).
    func body(of request: Request) async throws -> Data {
        let tooLarge = APIError(.contentTooLarge, "the request body is larger than the server's limit of \(maxBodyBytes) bytes")
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > maxBodyBytes { throw tooLarge }
        var request = request
        do {
            let buffer = try await request.collectBody(upTo: maxBodyBytes)
            return Data(buffer.readableBytesView)
        } catch is NIOTooManyBytesError {
            throw tooLarge
        }
    }
}
