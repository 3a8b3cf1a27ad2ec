import Foundation
import JobClient
import JobModel
import StrictJSON

/// A `POST /v1/batches` request read into what `ternflux submit` hands to `BatchIntake.plan`: the batch file's
/// bytes and the batch settings, so the API validates exactly as submit does. Two forms:
///
/// - a batch file as the body (`application/x-ndjson` or `application/jsonl`: JSONL; `text/csv`: CSV with a
///   header; `text/plain`: JSONL when the first line is an object, else one prompt per line), with the batch
///   settings as query parameters named like submit's flags (`steps`, `negative_prompt`, `batch_key`, …);
/// - `application/json`: `{"name", "batch_key", "defaults": {job fields, "images", "max_attempts"}, "jobs":
///   [{…}, …]}`, where `jobs[N-1]` is line N: each element is written back as one JSONL line (members,
///   duplicates and number text as sent) and parsed as a JSONL file is. Unknown fields are always refused
///   there: a program building JSON has no use for `allow_unknown_fields`, which is for hand-made files.
///
/// What is wrong with the request itself (settings, `name`, the body's shape) is collected as problems of
/// line 0 (the batch), reported together with the lines' own problems; only text that is no value of a
/// query parameter's kind is refused at once with 400, and an unsupported Content-Type with 415.
struct BatchSubmission {
    /// Nil when the body could not be read far enough to have lines (not JSON, no `jobs` array).
    var request: BatchRequest?
    var name: String
    var batchKey: String?
    var problems: [BatchLineError] = []

    /// The query parameters of the batch-file form.
    static let queryParameters: Set<String> = ["name", "steps", "width", "height", "guidance", "negative_prompt", "true_cfg_scale",
                                               "images", "seed", "model", "max_attempts", "batch_key", "allow_unknown_fields",
                                               "webhook_url"]
    /// The members of an `application/json` body and of its `defaults`.
    static let bodyFields = ["name", "defaults", "jobs", "batch_key", "webhook_url"]
    static let defaultsFields = ["seed", "width", "height", "steps", "guidance", "model", "negative_prompt", "true_cfg_scale",
                                 "images", "max_attempts"]
    /// The name of a batch that names none.
    static let defaultName = "api"

    static func read(body: Data, contentType: String?, query: String?, limits: JobLimits = .standard) throws -> BatchSubmission {
        let type = try BatchBodyType(contentType: contentType)
        if type == .json {
            if let query, !query.isEmpty {
                throw APIError.badRequest("with Content-Type application/json the batch settings go in the body (name, batch_key, "
                    + "defaults); the query string is not read, so it must be empty")
            }
            return fromJSON(body, limits: limits)
        }
        return try fromBatchFile(body, format: type.format, query: QueryParameters(query, allowed: queryParameters), limits: limits)
    }

    // MARK: batch file + query parameters

    static func fromBatchFile(_ body: Data, format: BatchFileFormat?, query q: QueryParameters, limits: JobLimits) throws -> BatchSubmission {
        var defaults = JobSettings(model: JobSettings.defaultModel)
        defaults.seed = try q.read("seed", limits.readSeed)
        defaults.width = try q.read("width", limits.readSide)
        defaults.height = try q.read("height", limits.readSide)
        defaults.steps = try q.read("steps", limits.readSteps)
        defaults.guidance = try q.read("guidance", limits.readGuidance)
        defaults.trueCFGScale = try q.read("true_cfg_scale", limits.readTrueCFGScale)
        defaults.negativePrompt = q.string("negative_prompt")
        if let model = q.string("model") { defaults.model = model }
        let images = try q.read("images", limits.readImages) ?? 1
        let maxAttempts = try q.read("max_attempts", { readMaxAttempts($0, limits) }) ?? 3
        var submission = BatchSubmission(
            request: BatchRequest(data: body, format: format, defaults: defaults, images: images,
                                  allowUnknownFields: try q.bool("allow_unknown_fields") ?? false, maxAttempts: maxAttempts,
                                  name: q.string("name"), webhookURL: q.string("webhook_url")),
            name: q.string("name") ?? defaultName, batchKey: q.string("batch_key"))
        submission.checkNameAndKey(limits: limits)
        return submission
    }

    static func readMaxAttempts(_ text: String, _ limits: JobLimits) -> Result<Int, NumberProblem> {
        JobLimits.readInteger(text, within: Int64(limits.maxAttemptsRange.lowerBound)...Int64(limits.maxAttemptsRange.upperBound))
            .map { Int(clamping: $0) }
    }

    // MARK: application/json

    static func fromJSON(_ body: Data, limits: JobLimits) -> BatchSubmission {
        var submission = BatchSubmission(request: nil, name: defaultName, batchKey: nil)
        func problem(_ message: String) { submission.problems.append(BatchLineError(lineNumber: 0, message: message)) }
        let value: StrictJSONValue
        do {
            value = try StrictJSONParser.parse([UInt8](body), duplicateKeys: .keepAll)
        } catch {
            problem("the body is not valid JSON: \(error)")
            return submission
        }
        guard let members = value.members else {
            problem("the body must be a JSON object with a 'jobs' array, got \(value.kindWithArticle)")
            return submission
        }
        let duplicated = Set(value.duplicateKeys.map(\.key))
        for d in value.duplicateKeys { problem(BatchFileParser.appearsMessage(d.key, d.count)) }
        let unknown = members.map(\.key).filter { !bodyFields.contains($0) }
        if !unknown.isEmpty { problem(unknownMessage(unknown, known: bodyFields, place: "in the body")) }

        var defaults = JobSettings(model: JobSettings.defaultModel)
        var images = 1, maxAttempts = 3
        var jobs: [StrictJSONValue]?
        var webhookURL: String?
        for (key, member) in members where !duplicated.contains(key) {
            switch (key, member) {
            case (_, .null): continue
            case ("name", .string(let s)): submission.name = s
            case ("batch_key", .string(let s)): submission.batchKey = s
            case ("webhook_url", .string(let s)): webhookURL = s
            case ("jobs", .array(let items)): jobs = items
            case ("defaults", .object(let fields)):
                submission.problems += readDefaults(fields, into: &defaults, images: &images, maxAttempts: &maxAttempts, limits: limits)
            case ("name", _), ("batch_key", _), ("webhook_url", _): problem("\(key): expected a string, got \(member.kindWithArticle)")
            case ("jobs", _): problem("jobs: expected an array of job objects, got \(member.kindWithArticle)")
            case ("defaults", _): problem("defaults: expected an object of job fields, got \(member.kindWithArticle)")
            default: continue
            }
        }
        submission.checkNameAndKey(limits: limits)
        guard let jobs else {
            if !duplicated.contains("jobs") && !members.contains(where: { $0.key == "jobs" && $0.value != .null }) {
                problem("jobs: is missing (an array of job objects; jobs[N-1] is line N)")
            }
            return submission
        }
        // A first job {"batch": {...}} would read as a batch file's header line: in this form the batch's settings
        // are the body's own members.
        if let first = jobs.first?.members, first.count == 1, first[0].key == "batch" {
            submission.problems.append(BatchLineError(lineNumber: 1, message: "'batch' is not a job field (the batch's settings are "
                + "members of the body: name, batch_key, webhook_url, defaults)"))
            return submission
        }
        let lines = jobs.map(JSONLineWriter.line).joined(separator: "\n")
        submission.request = BatchRequest(data: Data(lines.utf8), format: .jsonl, defaults: defaults, images: images,
                                          maxAttempts: maxAttempts, name: submission.name, webhookURL: webhookURL)
        return submission
    }

    /// Reads the `defaults` object as the submit flags are read: numbers from their text exactly; the ranges
    /// are `BatchIntake`'s to check ("default steps: …"). Unknown and repeated fields are problems.
    static func readDefaults(_ fields: [(key: String, value: StrictJSONValue)], into defaults: inout JobSettings,
                             images: inout Int, maxAttempts: inout Int, limits: JobLimits) -> [BatchLineError] {
        var problems: [String] = []
        let value = StrictJSONValue.object(fields)
        let duplicated = Set(value.duplicateKeys.map(\.key))
        for d in value.duplicateKeys { problems.append("defaults: " + BatchFileParser.appearsMessage(d.key, d.count)) }
        let unknown = fields.map(\.key).filter { !defaultsFields.contains($0) }
        if !unknown.isEmpty { problems.append(unknownMessage(unknown, known: defaultsFields, place: "in defaults")) }
        for (key, member) in fields where defaultsFields.contains(key) && !duplicated.contains(key) {
            func number<T>(_ reader: (String) -> Result<T, NumberProblem>, integer: Bool) -> T? {
                guard case .number(let text) = member else {
                    problems.append("defaults.\(key): expected \(integer ? "an integer" : "a number"), got \(member.kindWithArticle)")
                    return nil
                }
                switch reader(text) {
                case .success(let v): return v
                case .failure(let p): problems.append("defaults.\(key): \(p.message)"); return nil
                }
            }
            func string() -> String? {
                guard case .string(let s) = member else {
                    problems.append("defaults.\(key): expected a string, got \(member.kindWithArticle)")
                    return nil
                }
                return s
            }
            if member == .null { continue }
            switch key {
            case "seed": defaults.seed = number(limits.readSeed, integer: true)
            case "width": defaults.width = number(limits.readSide, integer: true)
            case "height": defaults.height = number(limits.readSide, integer: true)
            case "steps": defaults.steps = number(limits.readSteps, integer: true)
            case "guidance": defaults.guidance = number(limits.readGuidance, integer: false)
            case "true_cfg_scale": defaults.trueCFGScale = number(limits.readTrueCFGScale, integer: false)
            case "images": if let n = number(limits.readImages, integer: true) { images = n }
            case "max_attempts": if let n = number({ readMaxAttempts($0, limits) }, integer: true) { maxAttempts = n }
            case "model": if let s = string() { defaults.model = s }
            case "negative_prompt": defaults.negativePrompt = string()
            default: continue
            }
        }
        return problems.map { BatchLineError(lineNumber: 0, message: $0) }
    }

    static func unknownMessage(_ names: [String], known: [String], place: String) -> String {
        let listed = names.map { "'\(BatchFileParser.shown($0))'" }.joined(separator: ", ")
        return "unknown field\(names.count == 1 ? "" : "s") \(listed) \(place) (known: \(known.joined(separator: ", ")))"
    }

    // MARK: batch name and key

    /// The name and key are checked here with the store's own limits, so a bad one is a 422 listed with the
    /// lines' problems rather than a failed insert.
    mutating func checkNameAndKey(limits: JobLimits) {
        if let m = limits.checkBatchName(name) { problems.append(BatchLineError(lineNumber: 0, message: "name: \(m)")) }
        if name.unicodeScalars.contains("\u{0}") {
            problems.append(BatchLineError(lineNumber: 0, message: "name: contains a NUL character (U+0000)"))
        }
        if let batchKey, let m = limits.checkBatchKey(batchKey) {
            problems.append(BatchLineError(lineNumber: 0, message: "batch_key: \(m)"))
        }
    }
}

/// The body types `POST /v1/batches` reads, from its Content-Type (only UTF-8 text).
enum BatchBodyType: Equatable {
    case json, jsonl, csv, text

    static let accepted = "application/json, application/x-ndjson, application/jsonl, text/csv or text/plain"

    init(contentType: String?) throws {
        guard let contentType, !contentType.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw APIError(.unsupportedMediaType, "no Content-Type given; send the batch as \(Self.accepted)")
        }
        let parts = contentType.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        let media = parts[0].lowercased()
        for parameter in parts.dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if pair.count == 2, pair[0].lowercased() == "charset" {
                let charset = pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"")).lowercased()
                guard charset == "utf-8" || charset == "utf8" else {
                    throw APIError(.unsupportedMediaType, "the body must be UTF-8, got charset \(pair[1].prefix(40))")
                }
            }
        }
        switch media {
        case "application/json": self = .json
        case "application/x-ndjson", "application/jsonl": self = .jsonl
        case "text/csv": self = .csv
        case "text/plain": self = .text
        default:
            throw APIError(.unsupportedMediaType, "Content-Type '\(media.prefix(80))' is not read; send the batch as \(Self.accepted)")
        }
    }

    /// The batch-file format; nil for text/plain, which is guessed as `ternflux submit` guesses a file
    /// without a known extension (JSONL when the first line is an object, else one prompt per line).
    var format: BatchFileFormat? {
        switch self {
        case .json, .jsonl: return .jsonl
        case .csv: return .csv
        case .text: return nil
        }
    }
}
