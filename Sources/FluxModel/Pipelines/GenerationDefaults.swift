import Foundation

/// The image size, step count and guidance a model folder is meant to be run with, from its optional
/// `generation_defaults.json` (keys named as FluxPipeline's call arguments: `height`, `width`,
/// `num_inference_steps`, `guidance_scale`, `true_cfg_scale`, `negative_prompt`; every key optional). Without
/// the file, or for a key it leaves out, FluxPipeline's defaults for FLUX.1-dev apply (1024 there; 512×512 here,
/// 28 steps, guidance 3.5, no true classifier-free guidance). The shipped models were trained at 128×128 and
/// are sampled with 8 steps and classifier-free guidance against the empty prompt, and say so in this file
/// (written by ops/model/finish.py). Layout: docs/formats.md.
public struct GenerationDefaults: Sendable, Equatable {
    public static let fileName = "generation_defaults.json"
    public static let flux = GenerationDefaults(width: 512, height: 512, steps: 28, guidance: 3.5)

    public var width: Int
    public var height: Int
    public var steps: Int
    public var guidance: Float
    /// FluxPipeline's `true_cfg_scale`: classifier-free guidance against `negativePrompt` when above 1.
    public var trueCFGScale: Float
    /// FluxPipeline's `negative_prompt`; nil: none (then no classifier-free guidance, whatever the scale).
    public var negativePrompt: String?

    public init(width: Int, height: Int, steps: Int, guidance: Float, trueCFGScale: Float = 1, negativePrompt: String? = nil) {
        self.width = width
        self.height = height
        self.steps = steps
        self.guidance = guidance
        self.trueCFGScale = trueCFGScale
        self.negativePrompt = negativePrompt
    }

    /// Reads `generation_defaults.json` of a model folder; `.flux` when the folder has none. A file that is
    /// present but wrong is an error naming the file and the field.
    public static func load(modelDirectory: URL) throws -> GenerationDefaults {
        let url = modelDirectory.appendingPathComponent(fileName)
        guard FileManager.default.fileExists(atPath: url.path) else { return .flux }
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw ModelFolderError.invalidIndex(url.path, "cannot be read")
        }
        guard let json = try? JSONDecoder().decode([String: Scalar].self, from: data) else {
            throw ModelFolderError.invalidIndex(url.path, "not a JSON object")
        }
        var d = GenerationDefaults.flux
        func positiveInt(_ key: String) throws -> Int? {
            guard let value = json[key] else { return nil }
            guard case let .number(n) = value, n.rounded() == n, n >= 1, n <= Double(1 << 20) else {
                throw ModelFolderError.invalidIndex(url.path, "'\(key)' must be a positive integer, got \(value)")
            }
            return Int(n)
        }
        if let v = try positiveInt("width") { d.width = v }
        if let v = try positiveInt("height") { d.height = v }
        if let v = try positiveInt("num_inference_steps") { d.steps = v }
        if let value = json["guidance_scale"] {
            guard case let .number(n) = value, n.isFinite else {
                throw ModelFolderError.invalidIndex(url.path, "'guidance_scale' must be a number, got \(value)")
            }
            d.guidance = Float(n)
        }
        if let value = json["true_cfg_scale"] {
            guard case let .number(n) = value, TrueCFG.accepts(Float(n)) else {
                throw ModelFolderError.invalidIndex(url.path, "'true_cfg_scale' must be a number from "
                    + "\(TrueCFG.scaleRange.lowerBound) to \(TrueCFG.scaleRange.upperBound), got \(value)")
            }
            d.trueCFGScale = Float(n)
        }
        if let value = json["negative_prompt"] {
            guard case let .string(text) = value else {
                throw ModelFolderError.invalidIndex(url.path, "'negative_prompt' must be a string, got \(value)")
            }
            d.negativePrompt = text
        }
        return d
    }

    /// Puts the model's classifier-free guidance (scale and negative prompt) into `request`.
    public func applyGuidance(to request: inout FluxPipeline.Request) {
        request.trueCFGScale = trueCFGScale
        request.negativePrompt = negativePrompt
    }

    /// A JSON value as far as this file cares: numbers, and everything else by kind (for the error message).
    enum Scalar: Decodable, CustomStringConvertible {
        case number(Double), bool(Bool), string(String), other

        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let b = try? c.decode(Bool.self) { self = .bool(b) }
            else if let n = try? c.decode(Double.self) { self = .number(n) }
            else if let s = try? c.decode(String.self) { self = .string(s) }
            else { self = .other }
        }

        var description: String {
            switch self {
            case let .number(n): return n.rounded() == n && abs(n) < 1e15 ? String(Int64(n)) : String(n)
            case let .bool(b): return String(b)
            case let .string(s): return "the string \"\(s)\""
            case .other: return "an array, object or null"
            }
        }
    }
}
