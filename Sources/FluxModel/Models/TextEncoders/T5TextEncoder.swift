import Foundation
import TernaryTensors

/// `text_encoder_2/config.json` of a T5EncoderModel (keys as transformers writes them).
public struct T5EncoderConfig: Codable, Equatable, Sendable {
    public var vocabSize: Int
    public var dModel: Int
    public var dKV: Int
    public var dFF: Int
    public var numLayers: Int
    public var numHeads: Int
    public var relativeAttentionNumBuckets: Int
    public var relativeAttentionMaxDistance: Int
    public var layerNormEpsilon: Double
    public var feedForwardProj: String

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size"
        case dModel = "d_model"
        case dKV = "d_kv"
        case dFF = "d_ff"
        case numLayers = "num_layers"
        case numHeads = "num_heads"
        case relativeAttentionNumBuckets = "relative_attention_num_buckets"
        case relativeAttentionMaxDistance = "relative_attention_max_distance"
        case layerNormEpsilon = "layer_norm_epsilon"
        case feedForwardProj = "feed_forward_proj"
    }

    public init(vocabSize: Int, dModel: Int, dKV: Int, dFF: Int, numLayers: Int, numHeads: Int,
                relativeAttentionNumBuckets: Int = 32, relativeAttentionMaxDistance: Int = 128,
                layerNormEpsilon: Double = 1e-6, feedForwardProj: String = "relu") {
        self.vocabSize = vocabSize
        self.dModel = dModel
        self.dKV = dKV
        self.dFF = dFF
        self.numLayers = numLayers
        self.numHeads = numHeads
        self.relativeAttentionNumBuckets = relativeAttentionNumBuckets
        self.relativeAttentionMaxDistance = relativeAttentionMaxDistance
        self.layerNormEpsilon = layerNormEpsilon
        self.feedForwardProj = feedForwardProj
    }

    /// transformers' T5Config defaults for keys a config.json may omit.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        vocabSize = try c.decodeIfPresent(Int.self, forKey: .vocabSize) ?? 32128
        dModel = try c.decodeIfPresent(Int.self, forKey: .dModel) ?? 512
        dKV = try c.decodeIfPresent(Int.self, forKey: .dKV) ?? 64
        dFF = try c.decodeIfPresent(Int.self, forKey: .dFF) ?? 2048
        numLayers = try c.decodeIfPresent(Int.self, forKey: .numLayers) ?? 6
        numHeads = try c.decodeIfPresent(Int.self, forKey: .numHeads) ?? 8
        relativeAttentionNumBuckets = try c.decodeIfPresent(Int.self, forKey: .relativeAttentionNumBuckets) ?? 32
        relativeAttentionMaxDistance = try c.decodeIfPresent(Int.self, forKey: .relativeAttentionMaxDistance) ?? 128
        layerNormEpsilon = try c.decodeIfPresent(Double.self, forKey: .layerNormEpsilon) ?? 1e-6
        feedForwardProj = try c.decodeIfPresent(String.self, forKey: .feedForwardProj) ?? "relu"
    }

    /// transformers' reading of `feed_forward_proj`: `gated-ACT` or `ACT`; "gated-gelu" means gelu_new.
    func feedForward(path: String) throws -> (activation: Activation, gated: Bool) {
        let parts = feedForwardProj.split(separator: "-").map(String.init)
        guard (parts.count == 1) || (parts.count == 2 && parts[0] == "gated") else {
            throw TextEncoderError.invalidConfig(path: path, field: "feed_forward_proj",
                                                 reason: "expected `gated-ACT` or `ACT`, got \(feedForwardProj.debugDescription)")
        }
        let name = feedForwardProj == "gated-gelu" ? "gelu_new" : parts[parts.count - 1]
        guard let activation = Activation(rawValue: name) else {
            throw TextEncoderError.invalidConfig(path: path, field: "feed_forward_proj", reason: "unknown activation \(name.debugDescription)")
        }
        return (activation, parts.count == 2)
    }

    func validate(path: String) throws {
        for (field, value) in [("vocab_size", vocabSize), ("d_model", dModel), ("d_kv", dKV), ("d_ff", dFF), ("num_heads", numHeads),
                               ("relative_attention_num_buckets", relativeAttentionNumBuckets),
                               ("relative_attention_max_distance", relativeAttentionMaxDistance)] where value < 1 {
            throw TextEncoderError.invalidConfig(path: path, field: field, reason: "must be positive, got \(value)")
        }
        if numLayers < 0 { throw TextEncoderError.invalidConfig(path: path, field: "num_layers", reason: "must not be negative") }
    }
}

/// transformers' T5EncoderModel: embedding (no scaling), blocks of RMS-normed (T5LayerNorm: no mean, no bias)
/// self-attention without 1/√d scaling plus a relative position bias computed once by block 0 and shared,
/// then a feed-forward (`wi → act → wo`, or gated `act(wi_0 x) · wi_1 x → wo`), residuals, final RMSNorm.
public final class T5TextEncoder: @unchecked Sendable {
    public let config: T5EncoderConfig
    let activation: Activation
    let gated: Bool
    let embedding: [Float]
    let relativeBias: [Float]   // [buckets, heads]
    let layers: [Layer]
    let finalNorm: [Float]

    struct Layer {
        let attentionNorm: [Float]
        let q, k, v, o: any LinearLayer
        let feedForwardNorm: [Float]
        let wi0: any LinearLayer      // `wi` when not gated
        let wi1: (any LinearLayer)?
        let wo: any LinearLayer
    }

    public convenience init(directory: URL, mode: ActivationMode = .f32) throws {
        let configURL = directory.appendingPathComponent("config.json")
        let config = try TextEncoderConfigLoader.load(T5EncoderConfig.self, from: configURL)
        try self.init(config: config, weights: try SafeTensorsCheckpoint(directory: directory), mode: mode, configPath: configURL.path)
    }

    public init(config: T5EncoderConfig, weights source: any WeightSource, mode: ActivationMode = .f32,
                configPath: String = "config.json") throws {
        self.config = config
        try config.validate(path: configPath)
        (activation, gated) = try config.feedForward(path: configPath)
        let w = EncoderWeights(source: source, component: "T5 text encoder")
        let d = config.dModel
        let inner = config.numHeads * config.dKV
        // `encoder.embed_tokens.weight` is tied to `shared.weight`; checkpoints may store either.
        let embeddingName = source.contains("shared.weight") ? "shared.weight" : "encoder.embed_tokens.weight"
        embedding = try w.floats(embeddingName, shape: [config.vocabSize, d])
        relativeBias = try w.floats("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
                                    shape: [config.relativeAttentionNumBuckets, config.numHeads])
        let isGated = gated
        layers = try (0..<config.numLayers).map { i in
            let p = "encoder.block.\(i).layer."
            let ff = p + "1.DenseReluDense."
            return Layer(attentionNorm: try w.floats(p + "0.layer_norm.weight", shape: [d]),
                         q: try w.linear(p + "0.SelfAttention.q", in: d, out: inner, mode: mode),
                         k: try w.linear(p + "0.SelfAttention.k", in: d, out: inner, mode: mode),
                         v: try w.linear(p + "0.SelfAttention.v", in: d, out: inner, mode: mode),
                         o: try w.linear(p + "0.SelfAttention.o", in: inner, out: d, mode: mode),
                         feedForwardNorm: try w.floats(p + "1.layer_norm.weight", shape: [d]),
                         wi0: try w.linear(ff + (isGated ? "wi_0" : "wi"), in: d, out: config.dFF, mode: mode),
                         wi1: isGated ? try w.linear(ff + "wi_1", in: d, out: config.dFF, mode: mode) : nil,
                         wo: try w.linear(ff + "wo", in: config.dFF, out: d, mode: mode))
        }
        finalNorm = try w.floats("encoder.final_layer_norm.weight", shape: [d])
    }

    /// The last hidden state [1, T, d_model] (no attention mask: every position sees every other, as FluxPipeline
    /// calls the encoder).
    public func encode(_ ids: [Int]) throws -> Tensor {
        let t = ids.count
        let d = config.dModel
        let heads = config.numHeads
        var x = try TextEncoderMath.embed(ids, table: embedding, width: d, vocabulary: config.vocabSize, component: "T5 text encoder")
        let bias = positionBias(tokens: t)
        let eps = Float(config.layerNormEpsilon)
        for layer in layers {
            let h = Normalization.rmsNorm(x, weight: layer.attentionNorm, eps: eps)
            let attention = TextAttention.run(q: layer.q(h), k: layer.k(h), v: layer.v(h), tokens: t, heads: heads,
                                              headDim: config.dKV, scale: 1, causal: false, bias: bias)
            TextEncoderMath.addInPlace(&x, layer.o(attention))
            let f = Normalization.rmsNorm(x, weight: layer.feedForwardNorm, eps: eps)
            var hidden = layer.wi0(f)
            activation.apply(inPlace: &hidden)
            if let wi1 = layer.wi1 {
                let linear = wi1(f)
                hidden.storage.withUnsafeMutableBufferPointer { a in
                    linear.storage.withUnsafeBufferPointer { b in
                        for i in a.indices { a[i] *= b[i] }
                    }
                }
            }
            TextEncoderMath.addInPlace(&x, layer.wo(hidden))
        }
        return Normalization.rmsNorm(x, weight: finalNorm, eps: eps).reshaped([1, t, d])
    }

    /// Block 0's relative position bias for a T-token sequence (bucket of key j − query i, shared by all blocks).
    func positionBias(tokens t: Int) -> RelativePositionBias {
        guard t > 0 else { return RelativePositionBias(buckets: [], table: relativeBias) }
        var buckets = [Int32](repeating: 0, count: t * t)
        // The bucket depends only on j − i: compute each of the 2T − 1 distances once.
        var byDistance = [Int32](repeating: 0, count: 2 * t - 1)
        for delta in (-(t - 1))..<t {
            byDistance[delta + t - 1] = Int32(Self.relativePositionBucket(delta, bidirectional: true,
                                                                          numBuckets: config.relativeAttentionNumBuckets,
                                                                          maxDistance: config.relativeAttentionMaxDistance))
        }
        for i in 0..<t {
            for j in 0..<t { buckets[i * t + j] = byDistance[j - i + t - 1] }
        }
        return RelativePositionBias(buckets: buckets, table: relativeBias)
    }

    /// transformers' `_relative_position_bucket`, with the logarithm in fp32 as PyTorch computes it.
    static func relativePositionBucket(_ relativePosition: Int, bidirectional: Bool, numBuckets: Int, maxDistance: Int) -> Int {
        var buckets = numBuckets
        var result = 0
        var position = relativePosition
        if bidirectional {
            buckets /= 2
            if position > 0 { result += buckets }
            position = abs(position)
        } else {
            position = -min(position, 0)
        }
        let maxExact = buckets / 2
        if position < maxExact { return result + position }
        let ratio = logf(Float(position) / Float(maxExact)) / Float(log(Double(maxDistance) / Double(maxExact)))
        let large = maxExact + Int(ratio * Float(buckets - maxExact))
        return result + min(large, buckets - 1)
    }
}
