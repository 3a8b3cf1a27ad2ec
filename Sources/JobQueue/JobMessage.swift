import Foundation
import JobModel

/// The Kafka envelope of one job on `ternflux.jobs` (record key = job id): the job's `JobParameters` plus the
/// contract version, the ids and the attempt.
///
///     {"v":1,"job_id":"uuid","batch_id":"uuid","prompt":"...","seed":42,"width":128,"height":128,
///      "steps":8,"guidance":3.5,"model":"default","attempt":0}
///
/// `prompt`, `seed` and `model` are required; `width`, `height`, `steps` and `guidance` may be absent (or
/// null): the worker then uses its model's defaults; `attempt` is 0 when absent. Unknown fields are ignored;
/// a key given twice fails the job (`parse(value:key:limits:)` reads records with the strict parser).
/// Whether `model` names a model the worker has is the worker's decision, not the parser's.
///
/// Contract v2 adds `negative_prompt` and `true_cfg_scale` (classifier-free guidance per job; absent: the
/// model's). A job that sets neither is written as v1, so workers that read only v1 keep working through a
/// rolling upgrade; a v2 record reaches only v2 workers' results (a v1 worker fails it, naming the version).
@dynamicMemberLookup
public struct JobMessage: Codable, Sendable, Equatable {
    /// The newest contract version this build writes and reads (it reads every version from 1).
    public static let version = 2
    public static let readableVersions = 1...version

    /// The version this job is written as: 1 unless it needs a v2 field.
    public var contractVersion: Int { parameters.negativePrompt == nil && parameters.trueCFGScale == nil ? 1 : 2 }

    public var jobID: UUID
    public var batchID: UUID
    public var parameters: JobParameters
    /// How many times this job was handed out before this record (0 for the first delivery).
    public var attempt: Int

    public init(jobID: UUID, batchID: UUID, parameters: JobParameters, attempt: Int = 0) {
        self.jobID = jobID
        self.batchID = batchID
        self.parameters = parameters
        self.attempt = attempt
    }

    /// `message.prompt`, `message.width`: the job's parameters read through the envelope.
    public subscript<T>(dynamicMember field: WritableKeyPath<JobParameters, T>) -> T {
        get { parameters[keyPath: field] }
        set { parameters[keyPath: field] = newValue }
    }

    enum CodingKeys: String, CodingKey {
        case v, jobID = "job_id", batchID = "batch_id", prompt, seed, width, height, steps, guidance, model, attempt
        case negativePrompt = "negative_prompt", trueCFGScale = "true_cfg_scale"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let v = try c.decode(Int.self, forKey: .v)
        guard JobMessage.readableVersions.contains(v) else {
            throw DecodingError.dataCorruptedError(forKey: .v, in: c, debugDescription: "unsupported version \(v)")
        }
        jobID = try c.decode(UUID.self, forKey: .jobID)
        batchID = try c.decode(UUID.self, forKey: .batchID)
        parameters = JobParameters(
            prompt: try c.decode(String.self, forKey: .prompt), seed: try c.decode(Int64.self, forKey: .seed),
            width: try c.decodeIfPresent(Int.self, forKey: .width), height: try c.decodeIfPresent(Int.self, forKey: .height),
            steps: try c.decodeIfPresent(Int.self, forKey: .steps), guidance: try c.decodeIfPresent(Double.self, forKey: .guidance),
            model: try c.decode(String.self, forKey: .model),
            negativePrompt: try c.decodeIfPresent(String.self, forKey: .negativePrompt),
            trueCFGScale: try c.decodeIfPresent(Double.self, forKey: .trueCFGScale))
        attempt = try c.decodeIfPresent(Int.self, forKey: .attempt) ?? 0
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        let p = parameters
        try c.encode(contractVersion, forKey: .v)
        try c.encode(jobID.uuidString.lowercased(), forKey: .jobID)
        try c.encode(batchID.uuidString.lowercased(), forKey: .batchID)
        try c.encode(p.prompt, forKey: .prompt)
        try c.encodeIfPresent(p.seed, forKey: .seed)
        try c.encodeIfPresent(p.width, forKey: .width)
        try c.encodeIfPresent(p.height, forKey: .height)
        try c.encodeIfPresent(p.steps, forKey: .steps)
        try c.encodeIfPresent(p.guidance, forKey: .guidance)
        try c.encodeIfPresent(p.model, forKey: .model)
        try c.encodeIfPresent(p.negativePrompt, forKey: .negativePrompt)
        try c.encodeIfPresent(p.trueCFGScale, forKey: .trueCFGScale)
        try c.encode(attempt, forKey: .attempt)
    }

    /// The record key: the job id, lowercase.
    public var key: String { jobID.uuidString.lowercased() }

    /// The record value as compact UTF-8 JSON, written directly (JSONEncoder is ~10× slower, and
    /// submit encodes 100 000 of these at a time). Same document as `encode(to:)`: unset fields are left out.
    public func encodedJSON() -> [UInt8] {
        let p = parameters
        var out: [UInt8] = []
        out.reserveCapacity(160 + p.prompt.utf8.count + (p.model?.utf8.count ?? 0))
        out += contractVersion == 1 ? #"{"v":1,"job_id":""#.utf8 : #"{"v":2,"job_id":""#.utf8
        appendLowercaseUUID(jobID, to: &out)
        out += #"","batch_id":""#.utf8
        appendLowercaseUUID(batchID, to: &out)
        out += #"","prompt":"#.utf8
        appendJSONString(p.prompt, to: &out)
        if let v = p.seed { out += #","seed":"#.utf8; out += String(v).utf8 }
        if let v = p.width { out += #","width":"#.utf8; out += String(v).utf8 }
        if let v = p.height { out += #","height":"#.utf8; out += String(v).utf8 }
        if let v = p.steps { out += #","steps":"#.utf8; out += String(v).utf8 }
        if let v = p.guidance { out += #","guidance":"#.utf8; out += String(v).utf8 }
        if let model = p.model {
            out += #","model":"#.utf8
            appendJSONString(model, to: &out)
        }
        if let negative = p.negativePrompt {
            out += #","negative_prompt":"#.utf8
            appendJSONString(negative, to: &out)
        }
        if let v = p.trueCFGScale { out += #","true_cfg_scale":"#.utf8; out += String(v).utf8 }
        out += #","attempt":"#.utf8
        out += String(attempt).utf8
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// A Kafka record for this job on `topic`, keyed by job id.
    public func record(topic: String = KafkaSettings.jobsTopic, headers: [KafkaHeader] = []) -> OutgoingMessage {
        var keyBytes: [UInt8] = []
        keyBytes.reserveCapacity(36)
        appendLowercaseUUID(jobID, to: &keyBytes)
        return OutgoingMessage(topic: topic, key: keyBytes, value: encodedJSON(), headers: headers)
    }

    /// Problems with the job under `limits`, each naming its field; empty when valid.
    public func validate(limits: JobLimits = .standard) -> [JobFieldProblem] {
        var problems = limits.problems(of: parameters)
        if let message = limits.checkAttempt(attempt) { problems.append(JobFieldProblem(field: "attempt", message: message)) }
        return problems
    }
}

/// Appends the canonical lowercase 8-4-4-4-12 form of `id` (what `uuidString.lowercased()` gives,
/// without the two intermediate strings).
func appendLowercaseUUID(_ id: UUID, to out: inout [UInt8]) {
    let hex: StaticString = "0123456789abcdef"
    withUnsafeBytes(of: id.uuid) { bytes in
        hex.withUTF8Buffer { digits in
            for (i, byte) in bytes.enumerated() {
                if i == 4 || i == 6 || i == 8 || i == 10 { out.append(UInt8(ascii: "-")) }
                out.append(digits[Int(byte >> 4)])
                out.append(digits[Int(byte & 0xF)])
            }
        }
    }
}

/// Appends `s` as a JSON string literal (RFC 8259 escaping; non-ASCII left as UTF-8).
func appendJSONString(_ s: String, to out: inout [UInt8]) {
    let hex: [UInt8] = Array("0123456789abcdef".utf8)
    out.append(UInt8(ascii: "\""))
    for byte in s.utf8 {
        switch byte {
        case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
        case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
        case 0x0A: out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
        case 0x0D: out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
        case 0x09: out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
        case 0..<0x20:
            out += [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                    hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
        default: out.append(byte)
        }
    }
    out.append(UInt8(ascii: "\""))
}
