import Foundation
import Hummingbird
import JobClient
import JobModel
import JobStore

/// `/v1/batches…`: submit (validated and written exactly as `ternflux submit` does), list, progress (the
/// `ternflux status BATCH --json` document), a batch's jobs, cancel.
struct BatchRoutes: Sendable {
    let services: APIServices

    static let listLimit = 1...200
    static let jobsLimit = 1...500
    static let jobsOffset = 0...10_000_000

    func register(on group: RouterGroup<BasicRequestContext>, table: RouteTable) {
        group.route("batches", prefix: "/v1", table: table, [(.get, { try await list($0, $1) }), (.post, { try await submit($0, $1) })])
        group.route("batches/:batch_id", prefix: "/v1", table: table, [(.get, { try await progress($0, $1) })])
        group.route("batches/:batch_id/jobs", prefix: "/v1", table: table, [(.get, { try await jobs($0, $1) })])
        group.route("batches/:batch_id/cancel", prefix: "/v1", table: table, [(.post, { try await cancel($0, $1) })])
    }

    /// `GET /v1/batches?limit=N`: the newest batches' progress documents.
    func list(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let query = try QueryParameters(request.uri.query, allowed: ["limit"])
        let limit = try query.integer("limit", in: Self.listLimit) ?? 20
        let batches = try await services.reads.run { try $0.recentBatches(limit: limit) }
        return try JSONResponse.make(BatchList(batches: batches))
    }

    /// `GET /v1/batches/{batch_id}`.
    func progress(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        _ = try QueryParameters(request.uri.query, allowed: [])
        let id = try context.parameters.uuid("batch_id")
        guard let progress = try await services.reads.run({ try $0.batchProgress(id) }) else { throw Self.noBatch(id) }
        return try JSONResponse.make(progress)
    }

    /// `GET /v1/batches/{batch_id}/jobs?state=&limit=&offset=`: the batch's jobs in line order.
    func jobs(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let query = try QueryParameters(request.uri.query, allowed: ["state", "limit", "offset"])
        let id = try context.parameters.uuid("batch_id")
        let state = try query.state("state")
        let limit = try query.integer("limit", in: Self.jobsLimit) ?? 100
        let offset = try query.integer("offset", in: Self.jobsOffset) ?? 0
        let jobs = try await services.reads.run { repository -> [JobHistoryEntry]? in
            guard try repository.batchProgress(id) != nil else { return nil }
            return try repository.batchJobs(id, state: state, limit: limit, offset: offset)
        }
        guard let jobs else { throw Self.noBatch(id) }
        return try JSONResponse.make(BatchJobs(batchID: id, state: state, limit: limit, offset: offset, jobs: jobs))
    }

    /// `POST /v1/batches/{batch_id}/cancel`: cancels the queued and running jobs; answers the new progress.
    func cancel(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        _ = try QueryParameters(request.uri.query, allowed: [])
        let id = try context.parameters.uuid("batch_id")
        let progress = try await services.reads.run { repository -> BatchProgress? in
            do { try repository.cancelBatch(id) } catch JobStoreError.batchNotFound { return nil }
            return try repository.batchProgress(id)
        }
        guard let progress else { throw Self.noBatch(id) }
        return try JSONResponse.make(progress)
    }

    /// `POST /v1/batches`: 201 with the new batch's id; 200 with the earlier batch's id when `batch_key` names
    /// a batch already submitted from the same input; 422 with every line's problems; 503 naming the batch when
    /// it was stored but Kafka could not take all of its jobs.
    func submit(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let body = try await services.body(of: request)
        let contentType = request.headers[.contentType]
        let query = request.uri.query
        // Parsing and planning a large batch is CPU work: on the submit threads, not the server's.
        let (submission, planned) = try await services.submits.compute { () -> (BatchSubmission, Result<(IntakenBatch, BatchRequest), BatchErrors>) in
            let submission = try BatchSubmission.read(body: body, contentType: contentType, query: query)
            var problems = submission.problems
            var plan: IntakenBatch?
            if let batch = submission.request {
                switch BatchIntake.intake(batch) {
                case .success(let p): plan = p
                case .failure(let e): problems += e.errors
                }
            }
            guard let plan, let batch = submission.request, problems.isEmpty else {
                // Stable: the batch's own problems (line 0) first, in the order found, then the lines'.
                let sorted = problems.enumerated().sorted { ($0.element.lineNumber, $0.offset) < ($1.element.lineNumber, $1.offset) }
                return (submission, .failure(BatchErrors(errors: sorted.map(\.element))))
            }
            return (submission, .success((plan, batch)))
        }
        let intaken: IntakenBatch, batch: BatchRequest
        switch planned {
        case .success(let planned): (intaken, batch) = planned
        case .failure(let problems): throw Self.invalid(problems.errors)
        }
        // The request's name, else a batch file's header line's, else the default.
        let outcome = try await write(intaken.plan, batch, name: batch.name ?? intaken.name ?? submission.name, key: submission.batchKey,
                                      webhookURL: intaken.webhookURL)
        let headers: HTTPFields = [.location: "/v1/batches/\(outcome.batchID.uuidString.lowercased())"]
        return try JSONResponse.make(outcome, status: outcome.replayed ? .ok : .created, headers: headers)
    }

    /// Stores, produces and marks the batch as `BatchSubmitter` does for `ternflux submit`.
    func write(_ plan: BatchPlan, _ batch: BatchRequest, name: String, key: String?, webhookURL: String?) async throws -> SubmitOutcome {
        let producer = services.producer
        let maxAttempts = batch.maxAttempts, digest = batch.digest
        do {
            return try await services.submits.run { repository in
                let submitter = BatchSubmitter(repository: repository, producer: producer)
                guard let key else {
                    try submitter.submit(plan, name: name, source: Self.source, maxAttempts: maxAttempts, webhookURL: webhookURL)
                    return SubmitOutcome(batchID: plan.batchID, jobs: plan.jobs.count, replayed: false, produced: plan.jobs.count)
                }
                switch try submitter.submit(plan, name: name, source: Self.source, maxAttempts: maxAttempts, batchKey: key, digest: digest,
                                            webhookURL: webhookURL) {
                case .submitted(let id):
                    return SubmitOutcome(batchID: id, jobs: plan.jobs.count, replayed: false, produced: plan.jobs.count)
                case .alreadySubmitted(let id, let produced):
                    return SubmitOutcome(batchID: id, jobs: try repository.batchProgress(id)?.total ?? 0, replayed: true, produced: produced)
                }
            }
        } catch SubmitError.notEnqueued(let id, let reason) {
            let batch = id.uuidString.lowercased()
            var error = APIError(.serviceUnavailable, "batch \(batch) is stored in PostgreSQL but not all of its jobs reached Kafka (\(reason))")
            error.batchID = id
            error.hint = "nothing is lost: once the broker is reachable, POST the same request again with the same batch_key "
                + "(if it had one), or run `ternflux requeue --batch \(batch) --older-than 0`; a POST without the key would "
                + "make a second batch"
            throw error
        } catch let error as SubmitError {
            throw APIError(.conflict, error.description)
        } catch let error as JobStoreError {
            // The plan was checked against the same limits; a refusal here would be a bug, and is still the client's 422.
            throw Self.invalid([BatchLineError(lineNumber: 0, message: error.description)])
        }
    }

    /// What `batches.source` says of a batch submitted through the API.
    static let source = "POST /v1/batches"

    static func invalid(_ problems: [BatchLineError]) -> APIError {
        let lines = Set(problems.map(\.lineNumber).filter { $0 > 0 }).count
        let summary = lines > 0 ? "\(lines) invalid line\(lines == 1 ? "" : "s")" : "the batch is invalid"
        return APIError(.unprocessableContent, "\(summary); nothing was submitted",
                        errors: problems.map { APIError.LineError(line: $0.lineNumber, message: $0.message) })
    }

    static func noBatch(_ id: UUID) -> APIError { .notFound("no batch \(id.uuidString.lowercased())") }
}

/// `GET /v1/batches`.
struct BatchList: Encodable {
    var batches: [BatchProgress]
}

/// `GET /v1/batches/{batch_id}/jobs`.
struct BatchJobs: Encodable {
    @LowercaseUUID var batchID: UUID
    var state: JobState?
    var limit: Int
    var offset: Int
    var jobs: [JobHistoryEntry]

    enum CodingKeys: String, CodingKey { case batchID = "batch_id", state, limit, offset, jobs }
}

/// The answer to a submit.
struct SubmitOutcome: Encodable, Sendable {
    @LowercaseUUID var batchID: UUID
    /// The batch's jobs.
    var jobs: Int
    /// True when `batch_key` named a batch submitted before from the same input: nothing new was written.
    var replayed: Bool
    /// Jobs produced to Kafka by this request (on a replay: those an earlier submit had not got there).
    var produced: Int

    enum CodingKeys: String, CodingKey { case batchID = "batch_id", jobs, replayed, produced }
}
