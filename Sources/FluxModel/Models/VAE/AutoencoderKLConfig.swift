import Foundation

/// `vae/config.json` of a diffusers folder (AutoencoderKL); keys as diffusers writes them, absent keys take
/// the defaults of `AutoencoderKL.__init__`.
public struct AutoencoderKLConfig: Codable, Equatable, Sendable {
    public var inChannels: Int = 3
    public var outChannels: Int = 3
    public var downBlockTypes: [String] = ["DownEncoderBlock2D"]
    public var upBlockTypes: [String] = ["UpDecoderBlock2D"]
    public var blockOutChannels: [Int] = [64]
    public var layersPerBlock: Int = 1
    public var actFn: String = "silu"
    public var latentChannels: Int = 4
    public var normNumGroups: Int = 32
    /// `sample_size` may be one number or [height, width]; kept as written (only tiling uses it).
    public var sampleSize: [Int] = [32]
    public var scalingFactor: Double = 0.18215
    public var shiftFactor: Double? = nil
    public var latentsMean: [Double]? = nil
    public var latentsStd: [Double]? = nil
    public var forceUpcast: Bool = true
    public var useQuantConv: Bool = true
    public var usePostQuantConv: Bool = true
    public var midBlockAddAttention: Bool = true

    enum CodingKeys: String, CodingKey {
        case inChannels = "in_channels"
        case outChannels = "out_channels"
        case downBlockTypes = "down_block_types"
        case upBlockTypes = "up_block_types"
        case blockOutChannels = "block_out_channels"
        case layersPerBlock = "layers_per_block"
        case actFn = "act_fn"
        case latentChannels = "latent_channels"
        case normNumGroups = "norm_num_groups"
        case sampleSize = "sample_size"
        case scalingFactor = "scaling_factor"
        case shiftFactor = "shift_factor"
        case latentsMean = "latents_mean"
        case latentsStd = "latents_std"
        case forceUpcast = "force_upcast"
        case useQuantConv = "use_quant_conv"
        case usePostQuantConv = "use_post_quant_conv"
        case midBlockAddAttention = "mid_block_add_attention"
    }

    public init() {}

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        inChannels = try c.decodeIfPresent(Int.self, forKey: .inChannels) ?? inChannels
        outChannels = try c.decodeIfPresent(Int.self, forKey: .outChannels) ?? outChannels
        downBlockTypes = try c.decodeIfPresent([String].self, forKey: .downBlockTypes) ?? downBlockTypes
        upBlockTypes = try c.decodeIfPresent([String].self, forKey: .upBlockTypes) ?? upBlockTypes
        blockOutChannels = try c.decodeIfPresent([Int].self, forKey: .blockOutChannels) ?? blockOutChannels
        layersPerBlock = try c.decodeIfPresent(Int.self, forKey: .layersPerBlock) ?? layersPerBlock
        actFn = try c.decodeIfPresent(String.self, forKey: .actFn) ?? actFn
        latentChannels = try c.decodeIfPresent(Int.self, forKey: .latentChannels) ?? latentChannels
        normNumGroups = try c.decodeIfPresent(Int.self, forKey: .normNumGroups) ?? normNumGroups
        if let one = try? c.decodeIfPresent(Int.self, forKey: .sampleSize) {
            sampleSize = [one]
        } else if let pair = try c.decodeIfPresent([Int].self, forKey: .sampleSize) {
            sampleSize = pair
        }
        scalingFactor = try c.decodeIfPresent(Double.self, forKey: .scalingFactor) ?? scalingFactor
        shiftFactor = try c.decodeIfPresent(Double.self, forKey: .shiftFactor)
        latentsMean = try c.decodeIfPresent([Double].self, forKey: .latentsMean)
        latentsStd = try c.decodeIfPresent([Double].self, forKey: .latentsStd)
        forceUpcast = try c.decodeIfPresent(Bool.self, forKey: .forceUpcast) ?? forceUpcast
        useQuantConv = try c.decodeIfPresent(Bool.self, forKey: .useQuantConv) ?? useQuantConv
        usePostQuantConv = try c.decodeIfPresent(Bool.self, forKey: .usePostQuantConv) ?? usePostQuantConv
        midBlockAddAttention = try c.decodeIfPresent(Bool.self, forKey: .midBlockAddAttention) ?? midBlockAddAttention
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(inChannels, forKey: .inChannels)
        try c.encode(outChannels, forKey: .outChannels)
        try c.encode(downBlockTypes, forKey: .downBlockTypes)
        try c.encode(upBlockTypes, forKey: .upBlockTypes)
        try c.encode(blockOutChannels, forKey: .blockOutChannels)
        try c.encode(layersPerBlock, forKey: .layersPerBlock)
        try c.encode(actFn, forKey: .actFn)
        try c.encode(latentChannels, forKey: .latentChannels)
        try c.encode(normNumGroups, forKey: .normNumGroups)
        if sampleSize.count == 1 { try c.encode(sampleSize[0], forKey: .sampleSize) } else { try c.encode(sampleSize, forKey: .sampleSize) }
        try c.encode(scalingFactor, forKey: .scalingFactor)
        try c.encode(shiftFactor, forKey: .shiftFactor)
        try c.encode(latentsMean, forKey: .latentsMean)
        try c.encode(latentsStd, forKey: .latentsStd)
        try c.encode(forceUpcast, forKey: .forceUpcast)
        try c.encode(useQuantConv, forKey: .useQuantConv)
        try c.encode(usePostQuantConv, forKey: .usePostQuantConv)
        try c.encode(midBlockAddAttention, forKey: .midBlockAddAttention)
    }

    /// The activation of the ResNet blocks (`get_activation(act_fn)`; the decoder's final activation is always SiLU).
    public func resnetActivation() throws -> Activation {
        switch actFn {
        case "silu", "swish": return .silu
        case "gelu": return .gelu
        case "relu": return .relu
        default: throw VAEError.invalidConfig("act_fn '\(actFn)' is not supported (silu, swish, gelu, relu)")
        }
    }

    /// The decoder's structural requirements; each failure names the field.
    public func validateForDecoding() throws {
        guard !blockOutChannels.isEmpty, blockOutChannels.allSatisfy({ $0 > 0 }) else {
            throw VAEError.invalidConfig("block_out_channels \(blockOutChannels) must be non-empty and positive")
        }
        guard upBlockTypes.count == blockOutChannels.count else {
            throw VAEError.invalidConfig("up_block_types has \(upBlockTypes.count) entries but block_out_channels has \(blockOutChannels.count)")
        }
        if let other = upBlockTypes.first(where: { $0 != "UpDecoderBlock2D" }) {
            throw VAEError.invalidConfig("up_block_types entry '\(other)' is not supported (only UpDecoderBlock2D)")
        }
        guard layersPerBlock >= 0 else { throw VAEError.invalidConfig("layers_per_block must be ≥ 0, got \(layersPerBlock)") }
        guard latentChannels > 0, outChannels > 0 else {
            throw VAEError.invalidConfig("latent_channels (\(latentChannels)) and out_channels (\(outChannels)) must be positive")
        }
        guard normNumGroups > 0 else { throw VAEError.invalidConfig("norm_num_groups must be positive, got \(normNumGroups)") }
        if let bad = blockOutChannels.first(where: { $0 % normNumGroups != 0 }) {
            throw VAEError.invalidConfig("block_out_channels entry \(bad) is not divisible by norm_num_groups \(normNumGroups)")
        }
        _ = try resnetActivation()
    }
}

public enum VAEError: Error, Equatable, CustomStringConvertible, LocalizedError {
    case invalidConfig(String)
    case missingFile(String)
    case missingTensor(String, source: String)
    case shapeMismatch(tensor: String, expected: [Int], actual: [Int])
    case invalidInput(String)

    public var description: String {
        switch self {
        case let .invalidConfig(detail): return "VAE config: \(detail)"
        case let .missingFile(path): return "VAE: \(path) not found"
        case let .missingTensor(name, source): return "VAE weights \(source): missing tensor '\(name)'"
        case let .shapeMismatch(name, expected, actual):
            return "VAE weights: tensor '\(name)' has shape \(actual), the config requires \(expected)"
        case let .invalidInput(detail): return "VAE decode: \(detail)"
        }
    }

    public var errorDescription: String? { description }
}
