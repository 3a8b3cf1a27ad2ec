import Foundation
import TernaryTensors

/// `text_encoder/config.json` of a CLIPTextModel (keys as transformers writes them).
public struct CLIPTextConfig: Codable, Equatable, Sendable {
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var maxPositionEmbeddings: Int
    public var hiddenAct: String
    public var layerNormEps: Double
    public var eosTokenID: Int?

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size"
        case hiddenSize = "hidden_size"
        case intermediateSize = "intermediate_size"
        case numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads"
        case maxPositionEmbeddings = "max_position_embeddings"
        case hiddenAct = "hidden_act"
        case layerNormEps = "layer_norm_eps"
        case eosTokenID = "eos_token_id"
    }

    public init(vocabSize: Int, hiddenSize: Int, intermediateSize: Int, numHiddenLayers: Int, numAttentionHeads: Int,
                maxPositionEmbeddings: Int = 77, hiddenAct: String = "quick_gelu", layerNormEps: Double = 1e-5,
                eosTokenID: Int? = 49407) {
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads
        self.maxPositionEmbeddings = maxPositionEmbeddings
        self.hiddenAct = hiddenAct
        self.layerNormEps = layerNormEps
        self.eosTokenID = eosTokenID
    }

    /// transformers' defaults for keys a config.json may omit.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        vocabSize = try c.decodeIfPresent(Int.self, forKey: .vocabSize) ?? 49408
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? 512
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? 2048
        numHiddenLayers = try c.decodeIfPresent(Int.self, forKey: .numHiddenLayers) ?? 12
        numAttentionHeads = try c.decodeIfPresent(Int.self, forKey: .numAttentionHeads) ?? 8
        maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? 77
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? "quick_gelu"
        layerNormEps = try c.decodeIfPresent(Double.self, forKey: .layerNormEps) ?? 1e-5
        eosTokenID = c.contains(.eosTokenID) ? try c.decodeIfPresent(Int.self, forKey: .eosTokenID) : 49407
    }

    func validate(path: String) throws -> Activation {
        func bad(_ field: String, _ reason: String) -> TextEncoderError { .invalidConfig(path: path, field: field, reason: reason) }
        for (field, value) in [("vocab_size", vocabSize), ("hidden_size", hiddenSize), ("intermediate_size", intermediateSize),
                               ("num_attention_heads", numAttentionHeads), ("max_position_embeddings", maxPositionEmbeddings)] where value < 1 {
            throw bad(field, "must be positive, got \(value)")
        }
        if numHiddenLayers < 0 { throw bad("num_hidden_layers", "must not be negative") }
        guard hiddenSize % numAttentionHeads == 0 else {
            throw bad("num_attention_heads", "hidden_size \(hiddenSize) is not divisible by \(numAttentionHeads) heads")
        }
        guard let activation = Activation(rawValue: hiddenAct) else { throw bad("hidden_act", "unknown activation \(hiddenAct.debugDescription)") }
        return activation
    }
}

/// transformers' CLIPTextModel: token + position embeddings, pre-LayerNorm blocks with causal self-attention
/// (scale 1/√d) and an fc1 → activation → fc2 MLP, final LayerNorm, and the pooled output taken at the EOS
/// position (legacy configs with `eos_token_id == 2`: at argmax(input_ids); otherwise the first `eos_token_id`).
public final class CLIPTextEncoder: @unchecked Sendable {
    public let config: CLIPTextConfig
    let activation: Activation
    let tokenEmbedding: [Float]
    let positionEmbedding: [Float]
    let layers: [Layer]
    let finalNorm: (weight: [Float], bias: [Float])

    struct Layer {
        let norm1: (weight: [Float], bias: [Float])
        let q, k, v, out: any LinearLayer
        let norm2: (weight: [Float], bias: [Float])
        let fc1, fc2: any LinearLayer
    }

    /// The last hidden state [1, T, D] and the pooled output [1, D].
    public struct Output {
        public var lastHiddenState: Tensor
        public var pooled: Tensor
    }

    /// Loads `config.json` and the safetensors weights of a `text_encoder/` folder.
    public convenience init(directory: URL, mode: ActivationMode = .f32) throws {
        let configURL = directory.appendingPathComponent("config.json")
        let config = try TextEncoderConfigLoader.load(CLIPTextConfig.self, from: configURL)
        try self.init(config: config, weights: try SafeTensorsCheckpoint(directory: directory), mode: mode,
                      configPath: configURL.path)
    }

    public init(config: CLIPTextConfig, weights source: any WeightSource, mode: ActivationMode = .f32,
                configPath: String = "config.json") throws {
        self.config = config
        activation = try config.validate(path: configPath)
        // Released CLIP checkpoints carry `text_model.`; transformers 5 saves without it.
        let prefix = source.contains("text_model.embeddings.token_embedding.weight") ? "text_model." : ""
        let w = EncoderWeights(source: source, component: "CLIP text encoder")
        let d = config.hiddenSize
        tokenEmbedding = try w.floats(prefix + "embeddings.token_embedding.weight", shape: [config.vocabSize, d])
        positionEmbedding = try w.floats(prefix + "embeddings.position_embedding.weight", shape: [config.maxPositionEmbeddings, d])
        func norm(_ name: String) throws -> (weight: [Float], bias: [Float]) {
            (try w.floats(name + ".weight", shape: [d]), try w.floats(name + ".bias", shape: [d]))
        }
        layers = try (0..<config.numHiddenLayers).map { i in
            let p = prefix + "encoder.layers.\(i)."
            return Layer(norm1: try norm(p + "layer_norm1"),
                         q: try w.linear(p + "self_attn.q_proj", in: d, out: d, mode: mode),
                         k: try w.linear(p + "self_attn.k_proj", in: d, out: d, mode: mode),
                         v: try w.linear(p + "self_attn.v_proj", in: d, out: d, mode: mode),
                         out: try w.linear(p + "self_attn.out_proj", in: d, out: d, mode: mode),
                         norm2: try norm(p + "layer_norm2"),
                         fc1: try w.linear(p + "mlp.fc1", in: d, out: config.intermediateSize, mode: mode),
                         fc2: try w.linear(p + "mlp.fc2", in: config.intermediateSize, out: d, mode: mode))
        }
        finalNorm = try norm(prefix + "final_layer_norm")
    }

    public func encode(_ ids: [Int]) throws -> Output {
        let t = ids.count
        let d = config.hiddenSize
        guard t <= config.maxPositionEmbeddings else {
            throw TextEncoderError.sequenceTooLong(component: "CLIP text encoder", length: t, maximum: config.maxPositionEmbeddings)
        }
        var x = try TextEncoderMath.embed(ids, table: tokenEmbedding, width: d, vocabulary: config.vocabSize, component: "CLIP text encoder")
        x.storage.withUnsafeMutableBufferPointer { xp in
            positionEmbedding.withUnsafeBufferPointer { pp in
                for i in 0..<(t * d) { xp[i] += pp[i] }
            }
        }
        x = x.reshaped([t, d])
        let eps = Float(config.layerNormEps)
        let heads = config.numAttentionHeads
        let headDim = d / heads
        for layer in layers {
            let h = Normalization.layerNorm(x, weight: layer.norm1.weight, bias: layer.norm1.bias, eps: eps)
            let attention = TextAttention.run(q: layer.q(h), k: layer.k(h), v: layer.v(h), tokens: t, heads: heads,
                                              headDim: headDim, scale: 1 / Float(headDim).squareRoot(), causal: true, bias: nil)
            TextEncoderMath.addInPlace(&x, layer.out(attention))
            var m = layer.fc1(Normalization.layerNorm(x, weight: layer.norm2.weight, bias: layer.norm2.bias, eps: eps))
            activation.apply(inPlace: &m)
            TextEncoderMath.addInPlace(&x, layer.fc2(m))
        }
        let last = Normalization.layerNorm(x, weight: finalNorm.weight, bias: finalNorm.bias, eps: eps)
        let index = Self.poolingIndex(ids, eosTokenID: config.eosTokenID)
        let pooled = Tensor(shape: [1, d], storage: t == 0 ? [Float](repeating: 0, count: d) : Array(last.storage[index * d..<(index + 1) * d]))
        return Output(lastHiddenState: last.reshaped([1, t, d]), pooled: pooled)
    }

    /// The position transformers pools at.
    static func poolingIndex(_ ids: [Int], eosTokenID: Int?) -> Int {
        guard !ids.isEmpty else { return 0 }
        if eosTokenID == 2 || eosTokenID == nil {
            // torch.argmax returns the first maximal index.
            var best = 0
            for (i, id) in ids.enumerated() where id > ids[best] { best = i }
            return best
        }
        return ids.firstIndex(of: eosTokenID!) ?? 0
    }
}
