import Foundation

/// How an image was made, as written into its PNG: an A1111-style `parameters` text (what image tools such
/// as A1111, ComfyUI loaders and civitai read) and a `ternflux` JSON document with every field exactly.
/// `ternflux inspect` reads both back.
public struct GenerationMetadata: Codable, Sendable, Equatable {
    /// The version of this document's layout.
    public var v = 1
    /// The job and its batch, lower-case; nil for an image of `ternflux generate`, which has neither.
    public var jobID: String?
    public var batchID: String?
    public var model: String
    /// SHA-256 of the model's transformer weights (what decides the image besides the parameters); nil for a
    /// generator without weights (the fixed test image).
    public var modelSHA256: String?
    public var prompt: String
    public var negativePrompt: String?
    public var seed: Int64
    public var width: Int
    public var height: Int
    public var steps: Int
    public var guidance: Double
    public var trueCFGScale: Double
    public var sampler: String
    public var ternfluxVersion: String

    public static let parametersKeyword = "parameters"
    public static let jsonKeyword = "ternflux"
    public static let sampler = "Euler (flow match)"

    enum CodingKeys: String, CodingKey {
        case v, jobID = "job_id", batchID = "batch_id", model, modelSHA256 = "model_sha256", prompt,
             negativePrompt = "negative_prompt", seed, width, height, steps, guidance, trueCFGScale = "true_cfg_scale",
             sampler, ternfluxVersion = "ternflux_version"
    }

    /// The metadata of a job generated from `parameters` (every setting filled in, as the claimed row has them).
    public init(jobID: UUID?, batchID: UUID?, parameters p: JobParameters, modelSHA256: String?, ternfluxVersion: String) {
        self.jobID = jobID?.uuidString.lowercased()
        self.batchID = batchID?.uuidString.lowercased()
        model = p.model ?? JobSettings.defaultModel
        self.modelSHA256 = modelSHA256
        prompt = p.prompt
        negativePrompt = p.negativePrompt
        seed = p.seed ?? 0
        width = p.width ?? 0
        height = p.height ?? 0
        steps = p.steps ?? 0
        guidance = p.guidance ?? 0
        trueCFGScale = p.trueCFGScale ?? 1
        sampler = Self.sampler
        self.ternfluxVersion = ternfluxVersion
    }

    /// Classifier-free guidance ran for this image (FluxPipeline's rule: a scale above 1 and a negative prompt).
    public var usedTrueCFG: Bool { trueCFGScale > 1 && negativePrompt != nil }

    /// The A1111 `parameters` text: the prompt, a `Negative prompt:` line when guidance ran against one, then the
    /// settings line. `CFG scale` is the classifier-free scale (1 when none ran); `Distilled CFG Scale` the
    /// embedded guidance, as Forge writes it for FLUX.
    public var a1111Parameters: String {
        var lines = [prompt]
        if usedTrueCFG, let negativePrompt, !negativePrompt.isEmpty { lines.append("Negative prompt: \(negativePrompt)") }
        var settings = ["Steps: \(steps)", "Sampler: \(sampler)", "CFG scale: \(Self.number(usedTrueCFG ? trueCFGScale : 1))",
                        "Distilled CFG Scale: \(Self.number(guidance))", "Seed: \(seed)", "Size: \(width)x\(height)"]
        if let modelSHA256 { settings.append("Model hash: \(modelSHA256.prefix(10))") }
        settings += ["Model: \(model)", "Version: TernFlux \(ternfluxVersion)"]
        lines.append(settings.joined(separator: ", "))
        return lines.joined(separator: "\n")
    }

    /// The two text chunks of a PNG: `parameters` and `ternflux`.
    public func textChunks() throws -> [(keyword: String, text: String)] {
        [(Self.parametersKeyword, a1111Parameters), (Self.jsonKeyword, try json())]
    }

    /// The `ternflux` document: compact JSON, keys sorted.
    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    /// `3.5`, `1.5`, `4`: the shortest form that reads back as the same number.
    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : "\(value)"
    }
}
