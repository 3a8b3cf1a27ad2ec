import Foundation
import TernaryTensors

/// A ComfyUI / Forge bundle's CLIP-L (`text_encoders.clip_l.transformer.*`) as a transformers `CLIPTextModel`
/// folder, as diffusers' `convert_ldm_clip_checkpoint(checkpoint, "text_encoders.clip_l.transformer.")` maps it:
/// every tensor under `transformer.` keeps its name without that prefix (`text_model.*`, and the
/// `text_projection.weight` a bundle may carry, which `CLIPTextModel` ignores). ComfyUI's `logit_scale` (outside
/// `transformer.`) is left out, as diffusers leaves it out.
public enum BundledCLIPMapping {
    /// Every released CLIP text tower has 64-wide heads (L: 768 / 12, G: 1280 / 20, B: 512 / 8).
    public static let releasedHeadDim = 64

    public struct Converted {
        public let config: CLIPTextConfig
        /// config.json as transformers' `CLIPTextModel.save_pretrained` writes it, FLUX.1-dev's values where the
        /// weights do not say (quick_gelu, eps 1e-5, the legacy bos/eos/pad ids 0/2/1, dropout 0).
        public let json: ConfigJSON
        public let tensors: [SlicedTensor]
    }

    /// Sizes from the embeddings and the first layer, layer count from the highest index, projection width from
    /// `text_projection` (else the hidden size); heads: `attentionHeads`, else hidden size / 64.
    public static func convert(_ s: SourceComponent, attentionHeads: Int? = nil) throws -> Converted {
        func fail(_ detail: String) -> ConversionError { .cannotInfer(path: s.path, component: s.component, detail: detail) }
        let p = "transformer.text_model."
        let vocab = try s.dimension(p + "embeddings.token_embedding.weight", 0, rank: 2)
        let hidden = try s.dimension(p + "embeddings.token_embedding.weight", 1, rank: 2)
        let positions = try s.dimension(p + "embeddings.position_embedding.weight", 0, rank: 2)
        let layers = try s.blockCount(p + "encoder.layers")
        let intermediate = layers > 0 ? try s.dimension(p + "encoder.layers.0.mlp.fc1.weight", 0, rank: 2) : 4 * hidden
        let projection = s.has("transformer.text_projection.weight")
            ? try s.dimension("transformer.text_projection.weight", 0, rank: 2) : hidden
        let heads: Int
        if let attentionHeads {
            heads = attentionHeads
        } else if hidden % releasedHeadDim == 0 {
            heads = hidden / releasedHeadDim
        } else {
            throw fail("the head count is not stored in the weights; released CLIP towers have \(releasedHeadDim)-wide heads, "
                       + "but hidden size \(hidden) is not a multiple of \(releasedHeadDim): pass --clip-attention-heads N")
        }
        let config = CLIPTextConfig(vocabSize: vocab, hiddenSize: hidden, intermediateSize: intermediate, numHiddenLayers: layers,
                                    numAttentionHeads: heads, maxPositionEmbeddings: positions, hiddenAct: "quick_gelu",
                                    layerNormEps: 1e-5, eosTokenID: 2)
        do { _ = try config.validate(path: "\(s.path) (inferred CLIP config)") } catch { throw fail("\(error)") }

        let why = "inferred CLIP config: hidden \(hidden), intermediate \(intermediate), vocab \(vocab), \(positions) positions"
        try s.check(p + "embeddings.position_embedding.weight", [positions, hidden], why)
        for i in 0..<layers {
            let l = "\(p)encoder.layers.\(i)."
            for proj in ["q_proj", "k_proj", "v_proj", "out_proj"] {
                try s.check(l + "self_attn.\(proj).weight", [hidden, hidden], why)
                try s.check(l + "self_attn.\(proj).bias", [hidden], why)
            }
            for n in ["layer_norm1", "layer_norm2"] {
                try s.check(l + n + ".weight", [hidden], why)
                try s.check(l + n + ".bias", [hidden], why)
            }
            try s.check(l + "mlp.fc1.weight", [intermediate, hidden], why)
            try s.check(l + "mlp.fc1.bias", [intermediate], why)
            try s.check(l + "mlp.fc2.weight", [hidden, intermediate], why)
            try s.check(l + "mlp.fc2.bias", [hidden], why)
        }
        try s.check(p + "final_layer_norm.weight", [hidden], why)
        try s.check(p + "final_layer_norm.bias", [hidden], why)
        let dtype = try s.info(p + "embeddings.token_embedding.weight").dtype

        var tensors: [SlicedTensor] = []
        for name in s.names {
            if name.hasPrefix("transformer.") {
                tensors.append(try s.whole(name, as: String(name.dropFirst("transformer.".count))))
            } else if name == "logit_scale" {
                s.skip(name, reason: "CLIP's contrastive logit scale; a text encoder does not use it (diffusers drops it too)")
            }
        }
        try s.requireAllTaken()
        let json = ConfigJSON.object([
            "architectures": .array([.string("CLIPTextModel")]),
            "attention_dropout": .double(0), "bos_token_id": .int(0), "dropout": .double(0),
            "dtype": .string(dtype.torchName), "eos_token_id": .int(2), "hidden_act": .string("quick_gelu"),
            "hidden_size": .int(hidden), "initializer_factor": .double(1), "initializer_range": .double(0.02),
            "intermediate_size": .int(intermediate), "layer_norm_eps": .double(1e-5),
            "max_position_embeddings": .int(positions), "model_type": .string("clip_text_model"),
            "num_attention_heads": .int(heads), "num_hidden_layers": .int(layers), "pad_token_id": .int(1),
            "projection_dim": .int(projection), "vocab_size": .int(vocab),
        ])
        return Converted(config: config, json: json, tensors: tensors)
    }
}
