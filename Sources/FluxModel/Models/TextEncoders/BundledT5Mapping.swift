import Foundation
import TernaryTensors

/// A ComfyUI / Forge bundle's T5-XXL (`text_encoders.t5xxl.transformer.*`) as a transformers `T5EncoderModel`
/// folder, as diffusers' `convert_sd3_t5_checkpoint_to_diffusers` maps it: every tensor under `transformer.`
/// keeps its name without that prefix (`shared.weight`, `encoder.block.N.layer.*`, `encoder.final_layer_norm`).
public enum BundledT5Mapping {
    public struct Converted {
        public let config: T5EncoderConfig
        /// config.json as transformers' `T5EncoderModel.save_pretrained` writes it, FLUX.1-dev's (t5-v1_1-xxl)
        /// values where the weights do not say (max distance 128, eps 1e-6, dropout 0.1, token ids 0/1/0).
        public let json: ConfigJSON
        public let tensors: [SlicedTensor]
    }

    /// Vocabulary and width from `shared`, layer count from the highest block index, heads and buckets from
    /// block 0's relative attention bias, `d_kv` from q's rows / heads, `d_ff` and gated or not from the
    /// feed-forward (`wi_0`/`wi_1`: gated-gelu; `wi`: relu).
    public static func convert(_ s: SourceComponent) throws -> Converted {
        func fail(_ detail: String) -> ConversionError { .cannotInfer(path: s.path, component: s.component, detail: detail) }
        let p = "transformer."
        let vocab = try s.dimension(p + "shared.weight", 0, rank: 2)
        let dModel = try s.dimension(p + "shared.weight", 1, rank: 2)
        let layers = try s.blockCount(p + "encoder.block")
        guard layers > 0 else {
            throw ConversionError.missingTensor(path: s.path, component: s.component, tensor: s.fullName(p + "encoder.block.0.*"))
        }
        let b0 = p + "encoder.block.0.layer."
        let buckets = try s.dimension(b0 + "0.SelfAttention.relative_attention_bias.weight", 0, rank: 2)
        let heads = try s.dimension(b0 + "0.SelfAttention.relative_attention_bias.weight", 1, rank: 2)
        let inner = try s.dimension(b0 + "0.SelfAttention.q.weight", 0, rank: 2)
        guard heads > 0, inner % heads == 0 else {
            throw fail("q has \(inner) rows, not a multiple of the \(heads) heads of relative_attention_bias")
        }
        let gated = s.has(b0 + "1.DenseReluDense.wi_0.weight")
        let dFF = try s.dimension(b0 + (gated ? "1.DenseReluDense.wi_0.weight" : "1.DenseReluDense.wi.weight"), 0, rank: 2)
        let config = T5EncoderConfig(vocabSize: vocab, dModel: dModel, dKV: inner / heads, dFF: dFF, numLayers: layers,
                                     numHeads: heads, relativeAttentionNumBuckets: buckets, relativeAttentionMaxDistance: 128,
                                     layerNormEpsilon: 1e-6, feedForwardProj: gated ? "gated-gelu" : "relu")
        do { try config.validate(path: "\(s.path) (inferred T5 config)") } catch { throw fail("\(error)") }

        let why = "inferred T5 config: d_model \(dModel), \(heads) heads × d_kv \(inner / heads), d_ff \(dFF)"
        for i in 0..<layers {
            let l = "\(p)encoder.block.\(i).layer."
            for proj in ["q", "k", "v"] { try s.check(l + "0.SelfAttention.\(proj).weight", [inner, dModel], why) }
            try s.check(l + "0.SelfAttention.o.weight", [dModel, inner], why)
            try s.check(l + "0.layer_norm.weight", [dModel], why)
            for w in gated ? ["wi_0", "wi_1"] : ["wi"] { try s.check(l + "1.DenseReluDense.\(w).weight", [dFF, dModel], why) }
            try s.check(l + "1.DenseReluDense.wo.weight", [dModel, dFF], why)
            try s.check(l + "1.layer_norm.weight", [dModel], why)
        }
        try s.check(p + "encoder.final_layer_norm.weight", [dModel], why)
        let dtype = try s.info(p + "shared.weight").dtype

        var tensors: [SlicedTensor] = []
        for name in s.names {
            if name.hasPrefix(p) {
                tensors.append(try s.whole(name, as: String(name.dropFirst(p.count))))
            } else if name == "logit_scale" {
                s.skip(name, reason: "not part of a T5 encoder (diffusers drops it too)")
            }
        }
        try s.requireAllTaken()
        let json = ConfigJSON.object([
            "architectures": .array([.string("T5EncoderModel")]),
            "classifier_dropout": .double(0), "d_ff": .int(dFF), "d_kv": .int(inner / heads), "d_model": .int(dModel),
            "decoder_start_token_id": .int(0), "dense_act_fn": .string(gated ? "gelu_new" : "relu"),
            "dropout_rate": .double(0.1), "dtype": .string(dtype.torchName), "eos_token_id": .int(1),
            "feed_forward_proj": .string(gated ? "gated-gelu" : "relu"), "initializer_factor": .double(1),
            "is_encoder_decoder": .bool(false), "is_gated_act": .bool(gated), "layer_norm_epsilon": .double(1e-6),
            "model_type": .string("t5"), "num_decoder_layers": .int(layers), "num_heads": .int(heads),
            "num_layers": .int(layers), "pad_token_id": .int(0), "relative_attention_max_distance": .int(128),
            "relative_attention_num_buckets": .int(buckets), "tie_word_embeddings": .bool(true), "use_cache": .bool(false),
            "vocab_size": .int(vocab),
        ])
        return Converted(config: config, json: json, tensors: tensors)
    }
}
