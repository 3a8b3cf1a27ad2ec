import Foundation
import JobModel
import StrictJSON

/// Why a job record could not be turned into a `JobMessage`. The two cases lead to different
/// outcomes: with no readable job id there is no job to fail, so the record is dead-lettered;
/// with one, that job is failed with these problems as its error.
public enum JobMessageError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Neither the value's `job_id` nor the record key is a UUID → dead-letter the record.
    case unidentifiable(reason: String)
    /// The job id is known but the record is unusable → fail that job.
    case invalid(jobID: UUID, problems: [JobFieldProblem])

    public var jobID: UUID? {
        if case .invalid(let id, _) = self { return id }
        return nil
    }

    public var description: String {
        switch self {
        case .unidentifiable(let reason):
            return "job record without a readable job id: \(reason)"
        case .invalid(let id, let problems):
            return "job \(id.uuidString.lowercased()) is invalid: " + problems.map(\.description).joined(separator: "; ")
        }
    }
}

extension JobMessage {
    /// Parses and validates a record value (and its key, which by contract is the job id).
    ///
    /// The job id comes from the value's `job_id`; when that is missing or unreadable (invalid
    /// JSON included) the key is used if it is a UUID. Problems are collected for every field,
    /// not just the first, so one failed job explains everything that was wrong with it.
    public static func parse(value: [UInt8], key: [UInt8]? = nil, limits: JobLimits = .standard) throws -> JobMessage {
        var problems: [JobFieldProblem] = []
        let keyText = key.flatMap { String(validating: $0, as: UTF8.self) }
        let keyID = keyText.flatMap(parseUUID)

        // Invalid UTF-8 is repaired (U+FFFD) only so the job id can still be read; the job fails.
        var text = String(validating: value, as: UTF8.self)
        if text == nil {
            let offset = firstInvalidUTF8Offset(value) ?? 0
            problems.append(JobFieldProblem(field: "(record)", message: "is not valid UTF-8 (first invalid byte at offset \(offset))"))
            text = String(decoding: value, as: UTF8.self)
        }

        // Duplicate keys are kept here and reported below as problems of this job, next to the others.
        let members: [(key: String, value: StrictJSONValue)]
        do {
            let parsed = try StrictJSONParser.parse(text!, duplicateKeys: .keepAll)
            guard let object = parsed.members else {
                throw JobParseFailure(reason: "the value is \(parsed.kindWithArticle), not a JSON object")
            }
            members = object
        } catch {
            let reason = (error as? JobParseFailure)?.reason ?? "the value is not valid JSON: \(error)"
            guard let keyID else {
                throw JobMessageError.unidentifiable(reason: reason + keyNote(keyText))
            }
            throw JobMessageError.invalid(jobID: keyID, problems: problems + [JobFieldProblem(field: "(record)", message: reason)])
        }

        // A key given twice is ambiguous (JSON readers disagree on which one wins), so the job fails, whether
        // the field is known or not; a duplicated field is not read at all, so there is no second problem
        // about it. Unknown fields given once are ignored (forward compatibility of the contract).
        let duplicates = StrictJSONValue.object(members).duplicateKeys
        let duplicated = Set(duplicates.map(\.key))
        var fields: [String: StrictJSONValue] = [:]
        for m in members where !duplicated.contains(m.key) { fields[m.key] = m.value }
        for d in duplicates {
            problems.append(JobFieldProblem(field: "(record)", message: appearsTwice(d.key, d.count)))
        }

        var reader = FieldReader(fields: fields, duplicated: duplicated)
        let valueID = reader.uuid("job_id")
        guard let jobID = valueID ?? keyID else {
            let reason = duplicated.contains("job_id") ? appearsTwice("job_id", duplicates.first { $0.key == "job_id" }!.count)
                : reader.problems.first.map(\.description) ?? "job_id: is missing"
            throw JobMessageError.unidentifiable(reason: reason + keyNote(keyText))
        }
        if let valueID, let keyID, valueID != keyID {
            reader.problems.append(JobFieldProblem(field: "job_id", message: "\(valueID.uuidString.lowercased()) does not match the record key \(keyText!)"))
        }

        let readable = Int64(JobMessage.readableVersions.lowerBound)...Int64(JobMessage.readableVersions.upperBound)
        if let v = reader.integer("v", { JobLimits.readInteger($0, within: readable) }), !readable.contains(v) {
            reader.problems.append(JobFieldProblem(field: "v", message: "unsupported contract version \(v) (this worker reads "
                + "\(readable.lowerBound) to \(readable.upperBound))"))
        }
        let batchID = reader.uuid("batch_id")
        let prompt = reader.string("prompt")
        let seed = reader.integer("seed", limits.readSeed)
        let width = reader.optionalInteger("width", limits.readSide)
        let height = reader.optionalInteger("height", limits.readSide)
        let steps = reader.optionalInteger("steps", limits.readSteps)
        let guidance = reader.optionalNumber("guidance", limits.readGuidance)
        let model = reader.string("model")
        let negativePrompt = reader.optionalString("negative_prompt")
        let trueCFGScale = reader.optionalNumber("true_cfg_scale", limits.readTrueCFGScale)
        let attempt = fields["attempt"] == nil && !duplicated.contains("attempt") ? 0 : reader.integer("attempt", limits.readAttempt)
        problems += reader.problems

        if problems.isEmpty, let batchID, let prompt, let seed, let model, let attempt {
            let parameters = JobParameters(prompt: prompt, seed: seed, width: width, height: height, steps: steps,
                                           guidance: guidance, model: model, negativePrompt: negativePrompt,
                                           trueCFGScale: trueCFGScale)
            let message = JobMessage(jobID: jobID, batchID: batchID, parameters: parameters, attempt: attempt)
            let limitProblems = message.validate(limits: limits)
            if limitProblems.isEmpty { return message }
            throw JobMessageError.invalid(jobID: jobID, problems: limitProblems)
        }
        // Report limit problems of the fields that did parse too, so the error is complete.
        if let prompt, let m = limits.checkPrompt(prompt) { problems.append(JobFieldProblem(field: "prompt", message: m)) }
        for (name, value) in [("width", width), ("height", height)] {
            if let value, let m = limits.checkSide(value) { problems.append(JobFieldProblem(field: name, message: m)) }
        }
        if let steps, let m = limits.checkSteps(steps) { problems.append(JobFieldProblem(field: "steps", message: m)) }
        if let guidance, let m = limits.checkGuidance(guidance) { problems.append(JobFieldProblem(field: "guidance", message: m)) }
        if let seed, let m = limits.checkSeed(seed) { problems.append(JobFieldProblem(field: "seed", message: m)) }
        if let model, let m = limits.checkModel(model) { problems.append(JobFieldProblem(field: "model", message: m)) }
        if let negativePrompt, let m = limits.checkNegativePrompt(negativePrompt) {
            problems.append(JobFieldProblem(field: "negative_prompt", message: m))
        }
        if let trueCFGScale, let m = limits.checkTrueCFGScale(trueCFGScale) {
            problems.append(JobFieldProblem(field: "true_cfg_scale", message: m))
        }
        throw JobMessageError.invalid(jobID: jobID, problems: problems)
    }

    /// Parses a consumed record.
    public static func parse(_ record: ConsumedMessage, limits: JobLimits = .standard) throws -> JobMessage {
        try parse(value: record.value, key: record.key, limits: limits)
    }
}

private struct JobParseFailure: Error { var reason: String }

private func keyNote(_ keyText: String?) -> String {
    guard let keyText else { return "; the record has no usable key" }
    let shown = keyText.count > 80 ? String(keyText.prefix(80)) + "…" : keyText
    return "; the record key '\(shown)' is not a job id"
}

/// "'seed' appears twice", "'seed' appears 3 times" (a very long key is cut short).
private func appearsTwice(_ key: String, _ count: Int) -> String {
    let shown = key.count > 80 ? String(key.prefix(80)) + "…" : key
    return "'\(shown)' appears \(count == 2 ? "twice" : "\(count) times")"
}

func parseUUID(_ s: String) -> UUID? {
    // Foundation also accepts uppercase; both spellings name the same job.
    s.utf8.count == 36 ? UUID(uuidString: s) : nil
}

private func firstInvalidUTF8Offset(_ bytes: [UInt8]) -> Int? {
    var iterator = bytes.makeIterator()
    var decoder = UTF8()
    var offset = 0
    var consumed = 0
    // Track the offset of each scalar's first byte by re-encoding what was decoded.
    while true {
        switch decoder.decode(&iterator) {
        case .scalarValue(let scalar):
            offset += UTF8.width(scalar)
            consumed = offset
        case .emptyInput:
            return nil
        case .error:
            return consumed
        }
    }
}

/// Reads typed fields out of a JSON object, recording a problem for each missing or mistyped one. Numbers are
/// read from their source text by the `JobLimits.read…` functions, exactly, with messages naming the range.
private struct FieldReader {
    let fields: [String: StrictJSONValue]
    /// Keys the record holds more than once: already reported, never read.
    let duplicated: Set<String>
    var problems: [JobFieldProblem] = []

    mutating func problem(_ field: String, _ message: String) {
        problems.append(JobFieldProblem(field: field, message: message))
    }

    mutating func value(_ field: String) -> StrictJSONValue? {
        if duplicated.contains(field) { return nil }
        guard let v = fields[field], v != .null else {
            problem(field, "is missing")
            return nil
        }
        return v
    }

    mutating func string(_ field: String) -> String? {
        guard let v = value(field) else { return nil }
        guard case .string(let s) = v else { problem(field, "expected a string, got \(v.kindWithArticle)"); return nil }
        return s
    }

    mutating func uuid(_ field: String) -> UUID? {
        guard let s = string(field) else { return nil }
        guard let id = parseUUID(s) else {
            let shown = s.count > 80 ? String(s.prefix(80)) + "…" : s
            problem(field, "'\(shown)' is not a UUID")
            return nil
        }
        return id
    }

    mutating func integer<T>(_ field: String, _ read: (String) -> Result<T, NumberProblem>) -> T? {
        guard let v = value(field) else { return nil }
        guard case .number(let text) = v else { problem(field, "expected an integer, got \(v.kindWithArticle)"); return nil }
        switch read(text) {
        case .success(let n): return n
        case .failure(let p): problem(field, p.message); return nil
        }
    }

    /// A string the record may leave out (absent or null: nil, no problem).
    mutating func optionalString(_ field: String) -> String? {
        guard fields[field] != nil && fields[field] != .null || duplicated.contains(field) else { return nil }
        return string(field)
    }

    /// An integer the record may leave out (absent or null: nil, no problem).
    mutating func optionalInteger<T>(_ field: String, _ read: (String) -> Result<T, NumberProblem>) -> T? {
        guard fields[field] != nil && fields[field] != .null || duplicated.contains(field) else { return nil }
        return integer(field, read)
    }

    mutating func optionalNumber(_ field: String, _ read: (String) -> Result<Double, NumberProblem>) -> Double? {
        guard fields[field] != nil && fields[field] != .null || duplicated.contains(field) else { return nil }
        guard let v = value(field) else { return nil }
        guard case .number(let text) = v else { problem(field, "expected a number, got \(v.kindWithArticle)"); return nil }
        switch read(text) {
        case .success(let d): return d
        case .failure(let p): problem(field, p.message); return nil
        }
    }
}
