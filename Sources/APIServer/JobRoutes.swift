import Foundation
import Hummingbird
import JobModel
import JobStore

/// `/v1/jobs/{job_id}…`: one job (its history entry, its error list, its timings) and its image.
struct JobRoutes: Sendable {
    let services: APIServices

    func register(on group: RouterGroup<BasicRequestContext>, table: RouteTable) {
        group.route("jobs/:job_id", prefix: "/v1", table: table, [(.get, { try await job($0, $1) })])
        group.route("jobs/:job_id/image", prefix: "/v1", table: table, [(.get, { try await image($0, $1) })])
    }

    /// `GET /v1/jobs/{job_id}`.
    func job(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        _ = try QueryParameters(request.uri.query, allowed: [])
        let id = try context.parameters.uuid("job_id")
        let detail = try await services.reads.run { repository -> JobDetail? in
            guard let entry = try repository.historyEntry(jobID: id), let record = try repository.job(id) else { return nil }
            return JobDetail(entry: entry, maxAttempts: record.maxAttempts, errors: record.errors,
                             timings: try repository.phaseTimings(jobID: id))
        }
        guard let detail else { throw Self.noJob(id) }
        return try JSONResponse.make(detail)
    }

    /// `GET /v1/jobs/{job_id}/image`: the PNG of a succeeded job, read from its OutputLayout path under the
    /// server's output root (`ImageFiles`), whatever the row's `output_uri` says.
    func image(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        _ = try QueryParameters(request.uri.query, allowed: [])
        let id = try context.parameters.uuid("job_id")
        let images = services.images
        let logger = services.logger
        let (record, bytes) = try await services.reads.run { repository -> (JobRecord?, ByteBuffer?) in
            guard let record = try repository.job(id) else { return (nil, nil) }
            guard record.state == .succeeded, record.outputURI != nil else { return (record, nil) }
            do {
                return (record, try images.read(batchID: record.batchID, jobID: record.id))
            } catch let failure as ImageFiles.Failure {
                logger.notice("image not served", metadata: ["job": "\(id.uuidString.lowercased())", "reason": "\(failure)"])
                return (record, nil)
            }
        }
        guard let record else { throw Self.noJob(id) }
        guard let bytes else {
            let job = id.uuidString.lowercased()
            if record.state != .succeeded {
                throw APIError.notFound("job \(job) has no image: it is \(record.state.rawValue)")
            }
            throw APIError.notFound("the image of job \(job) is not in this server's output folder (BATCH/JOB.png under --output)")
        }
        var headers: HTTPFields = [.contentType: "image/png", .cacheControl: "private, max-age=86400, immutable"]
        if let sha = record.sha256 { headers[.eTag] = "\"\(sha)\"" }
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: bytes))
    }

    static func noJob(_ id: UUID) -> APIError { .notFound("no job \(id.uuidString.lowercased())") }
}

/// `GET /v1/jobs/{job_id}`: the job's `job_history` entry (the fields of `GET /v1/batches/{id}/jobs`), plus
/// its attempts limit, every error of every attempt, oldest first, and the phase timings once it succeeded.
struct JobDetail: Encodable, Sendable {
    var entry: JobHistoryEntry
    var maxAttempts: Int
    var errors: [JobErrorEntry]
    var timings: JobPhaseTimings?

    enum ExtraKeys: String, CodingKey { case maxAttempts = "max_attempts", errors, timings }

    func encode(to encoder: any Encoder) throws {
        try entry.encode(to: encoder)
        var container = encoder.container(keyedBy: ExtraKeys.self)
        try container.encode(maxAttempts, forKey: .maxAttempts)
        try container.encode(errors, forKey: .errors)
        if let timings { try container.encode(timings, forKey: .timings) } else { try container.encodeNil(forKey: .timings) }
    }
}
