import Foundation

/// `transformer/config.json` of a diffusers `FluxTransformer2DModel`; keys match the file.
public struct FluxTransformerConfig: Codable, Equatable, Sendable {
    public var className: String?
    public var patchSize: Int
    public var inChannels: Int
    public var outChannels: Int?
    public var numLayers: Int
    public var numSingleLayers: Int
    public var attentionHeadDim: Int
    public var numAttentionHeads: Int
    public var jointAttentionDim: Int
    public var pooledProjectionDim: Int
    public var guidanceEmbeds: Bool
    public var axesDimsRope: [Int]

    public static let className = "FluxTransformer2DModel"

    enum CodingKeys: String, CodingKey {
        case className = "_class_name"
        case patchSize = "patch_size"
        case inChannels = "in_channels"
        case outChannels = "out_channels"
        case numLayers = "num_layers"
        case numSingleLayers = "num_single_layers"
        case attentionHeadDim = "attention_head_dim"
        case numAttentionHeads = "num_attention_heads"
        case jointAttentionDim = "joint_attention_dim"
        case pooledProjectionDim = "pooled_projection_dim"
        case guidanceEmbeds = "guidance_embeds"
        case axesDimsRope = "axes_dims_rope"
    }

    /// diffusers' constructor defaults (FLUX.1 dimensions), used for keys a config.json leaves out.
    public init(patchSize: Int = 1, inChannels: Int = 64, outChannels: Int? = nil, numLayers: Int = 19,
                numSingleLayers: Int = 38, attentionHeadDim: Int = 128, numAttentionHeads: Int = 24,
                jointAttentionDim: Int = 4096, pooledProjectionDim: Int = 768, guidanceEmbeds: Bool = false,
                axesDimsRope: [Int] = [16, 56, 56]) {
        self.className = Self.className
        self.patchSize = patchSize
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.numLayers = numLayers
        self.numSingleLayers = numSingleLayers
        self.attentionHeadDim = attentionHeadDim
        self.numAttentionHeads = numAttentionHeads
        self.jointAttentionDim = jointAttentionDim
        self.pooledProjectionDim = pooledProjectionDim
        self.guidanceEmbeds = guidanceEmbeds
        self.axesDimsRope = axesDimsRope
    }

    public init(from decoder: Decoder) throws {
        let d = FluxTransformerConfig()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        className = try c.decodeIfPresent(String.self, forKey: .className)
        patchSize = try c.decodeIfPresent(Int.self, forKey: .patchSize) ?? d.patchSize
        inChannels = try c.decodeIfPresent(Int.self, forKey: .inChannels) ?? d.inChannels
        outChannels = try c.decodeIfPresent(Int.self, forKey: .outChannels)
        numLayers = try c.decodeIfPresent(Int.self, forKey: .numLayers) ?? d.numLayers
        numSingleLayers = try c.decodeIfPresent(Int.self, forKey: .numSingleLayers) ?? d.numSingleLayers
        attentionHeadDim = try c.decodeIfPresent(Int.self, forKey: .attentionHeadDim) ?? d.attentionHeadDim
        numAttentionHeads = try c.decodeIfPresent(Int.self, forKey: .numAttentionHeads) ?? d.numAttentionHeads
        jointAttentionDim = try c.decodeIfPresent(Int.self, forKey: .jointAttentionDim) ?? d.jointAttentionDim
        pooledProjectionDim = try c.decodeIfPresent(Int.self, forKey: .pooledProjectionDim) ?? d.pooledProjectionDim
        guidanceEmbeds = try c.decodeIfPresent(Bool.self, forKey: .guidanceEmbeds) ?? d.guidanceEmbeds
        axesDimsRope = try c.decodeIfPresent([Int].self, forKey: .axesDimsRope) ?? d.axesDimsRope
    }

    /// Width of the residual stream (heads × head dim).
    public var innerDim: Int { numAttentionHeads * attentionHeadDim }
    /// Channels of the output (`out_channels` or `in_channels`).
    public var resolvedOutChannels: Int { outChannels ?? inChannels }
    /// Hidden width of the feed-forwards and of the single blocks' MLP (mlp_ratio 4).
    public var mlpHiddenDim: Int { innerDim * 4 }

    /// Reads and validates `config.json`; errors name the file and the field.
    public static func load(from url: URL) throws -> FluxTransformerConfig {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw FluxTransformerError.missingFile(url.path, "the transformer config")
        }
        let config: FluxTransformerConfig
        do { config = try JSONDecoder().decode(FluxTransformerConfig.self, from: data) } catch {
            throw FluxTransformerError.invalidConfig(url.path, FluxConfigDecoding.describe(error))
        }
        try config.validate(source: url.path)
        return config
    }

    public func validate(source: String = "transformer config") throws {
        func bad(_ message: String) -> FluxTransformerError { .invalidConfig(source, message) }
        if let className, className != Self.className {
            throw FluxTransformerError.unknownArchitecture(source, className, expected: Self.className)
        }
        for (name, value) in [("patch_size", patchSize), ("in_channels", inChannels),
                              ("attention_head_dim", attentionHeadDim), ("num_attention_heads", numAttentionHeads),
                              ("joint_attention_dim", jointAttentionDim),
                              ("pooled_projection_dim", pooledProjectionDim)] where value < 1 {
            throw bad("\(name) must be ≥ 1, got \(value)")
        }
        if let outChannels, outChannels < 1 { throw bad("out_channels must be ≥ 1, got \(outChannels)") }
        if numLayers < 0 { throw bad("num_layers must be ≥ 0, got \(numLayers)") }
        if numSingleLayers < 0 { throw bad("num_single_layers must be ≥ 0, got \(numSingleLayers)") }
        if axesDimsRope.isEmpty || axesDimsRope.contains(where: { $0 < 2 || $0 % 2 != 0 }) {
            throw bad("axes_dims_rope must be positive even numbers, got \(axesDimsRope)")
        }
        if axesDimsRope.reduce(0, +) != attentionHeadDim {
            throw bad("axes_dims_rope \(axesDimsRope) sums to \(axesDimsRope.reduce(0, +)), "
                      + "but attention_head_dim is \(attentionHeadDim)")
        }
        if axesDimsRope.count != 3 {
            throw bad("axes_dims_rope must have 3 entries (text/frame, row, column ids), got \(axesDimsRope.count)")
        }
    }
}

/// Turns a JSONDecoder error into a sentence naming the offending field.
public enum FluxConfigDecoding {
    public static func describe(_ error: Error) -> String {
        guard let e = error as? DecodingError else { return "\(error)" }
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
        }
        switch e {
        case .typeMismatch(_, let c): return "field '\(path(c))': \(c.debugDescription)"
        case .valueNotFound(_, let c): return "field '\(path(c))': \(c.debugDescription)"
        case .keyNotFound(let key, let c):
            let p = path(c)
            return "missing field '\(p.isEmpty ? key.stringValue : p + "." + key.stringValue)'"
        case .dataCorrupted(let c): return "\(path(c).isEmpty ? "" : "field '\(path(c))': ")\(c.debugDescription)"
        @unknown default: return "\(error)"
        }
    }
}
