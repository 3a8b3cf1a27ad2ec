import Foundation
import TernaryTensors

/// BFL's FLUX.1 transformer layout (flux1-dev / flux1-schnell.safetensors, ComfyUI's `model.diffusion_model.*`)
/// onto the diffusers names of `FluxParameterLayout`, tensor for tensor as diffusers'
/// `convert_flux_transformer_checkpoint_to_diffusers` maps it. Every output is a byte range of one input:
///
/// | BFL | diffusers |
/// |---|---|
/// | `img_in` | `x_embedder` |
/// | `txt_in` | `context_embedder` |
/// | `time_in.in_layer`, `time_in.out_layer` | `time_text_embed.timestep_embedder.linear_1`, `linear_2` |
/// | `guidance_in.in_layer`, `guidance_in.out_layer` (dev only) | `time_text_embed.guidance_embedder.linear_1`, `linear_2` |
/// | `vector_in.in_layer`, `vector_in.out_layer` | `time_text_embed.text_embedder.linear_1`, `linear_2` |
/// | `double_blocks.N.img_mod.lin`, `txt_mod.lin` | `transformer_blocks.N.norm1.linear`, `norm1_context.linear` |
/// | `double_blocks.N.img_attn.qkv` rows [0, d), [d, 2d), [2d, 3d) | `transformer_blocks.N.attn.to_q`, `to_k`, `to_v` |
/// | `double_blocks.N.txt_attn.qkv` rows likewise | `transformer_blocks.N.attn.add_q_proj`, `add_k_proj`, `add_v_proj` |
/// | `double_blocks.N.img_attn.norm.query_norm.scale`, `key_norm.scale` | `transformer_blocks.N.attn.norm_q.weight`, `norm_k.weight` |
/// | `double_blocks.N.txt_attn.norm.query_norm.scale`, `key_norm.scale` | `transformer_blocks.N.attn.norm_added_q.weight`, `norm_added_k.weight` |
/// | `double_blocks.N.img_attn.proj`, `txt_attn.proj` | `transformer_blocks.N.attn.to_out.0`, `attn.to_add_out` |
/// | `double_blocks.N.img_mlp.0`, `img_mlp.2` | `transformer_blocks.N.ff.net.0.proj`, `ff.net.2` |
/// | `double_blocks.N.txt_mlp.0`, `txt_mlp.2` | `transformer_blocks.N.ff_context.net.0.proj`, `ff_context.net.2` |
/// | `single_blocks.N.modulation.lin` | `single_transformer_blocks.N.norm.linear` |
/// | `single_blocks.N.linear1` rows [0, d), [d, 2d), [2d, 3d), [3d, 7d) | `single_transformer_blocks.N.attn.to_q`, `to_k`, `to_v`, `proj_mlp` |
/// | `single_blocks.N.norm.query_norm.scale`, `key_norm.scale` | `single_transformer_blocks.N.attn.norm_q.weight`, `norm_k.weight` |
/// | `single_blocks.N.linear2` | `single_transformer_blocks.N.proj_out` |
/// | `final_layer.linear` | `proj_out` |
/// | `final_layer.adaLN_modulation.1` halves (shift, scale) swapped | `norm_out.linear` (scale, shift) |
///
/// (each row is `.weight` and `.bias`; d is the inner width, 7d = 3d + the 4d MLP width.)
public enum BFLTransformerMapping {
    /// The tensor whose presence makes a file a FLUX.1 transformer for diffusers (`CHECKPOINT_KEY_NAMES["flux"]`).
    public static let detectionKey = "double_blocks.0.img_attn.norm.key_norm.scale"
    /// FLUX.1's rotary split: head dim 128 = 16 (text / frame id) + 56 (row) + 56 (column).
    public static let flux1AxesDimsRope = [16, 56, 56]

    /// The config diffusers' `FluxTransformer2DModel` would be built with for these weights: layer counts from
    /// the highest block index, inner width from `img_in`, head dim from the q norm, heads = width / head dim,
    /// `in_channels` from `img_in`, `out_channels` from `final_layer.linear` (null when equal, as FLUX.1-dev's
    /// config), `joint_attention_dim` from `txt_in`, `pooled_projection_dim` from `vector_in`, `guidance_embeds`
    /// from `guidance_in`. `axes_dims_rope` is not in the weights: `axesDimsRope`, else FLUX.1's for head dim 128.
    public static func inferConfig(_ s: SourceComponent, axesDimsRope: [Int]? = nil) throws -> FluxTransformerConfig {
        func fail(_ detail: String) -> ConversionError { .cannotInfer(path: s.path, component: "transformer", detail: detail) }
        guard s.has(detectionKey) else {
            throw ConversionError.missingTensor(path: s.path, component: "transformer", tensor: s.fullName(detectionKey))
        }
        let inner = try s.dimension("img_in.weight", 0, rank: 2)
        let inChannels = try s.dimension("img_in.weight", 1, rank: 2)
        let headDim = try s.dimension("double_blocks.0.img_attn.norm.query_norm.scale", 0, rank: 1)
        guard headDim > 0, inner % headDim == 0 else {
            throw fail("inner width \(inner) (img_in.weight) is not a multiple of the head dim \(headDim) (query_norm.scale)")
        }
        let outRows = try s.dimension("final_layer.linear.weight", 0, rank: 2)
        let axes: [Int]
        if let axesDimsRope {
            axes = axesDimsRope
        } else if headDim == flux1AxesDimsRope.reduce(0, +) {
            axes = flux1AxesDimsRope
        } else {
            throw fail("axes_dims_rope is not stored in the weights; FLUX.1's \(flux1AxesDimsRope) needs head dim 128 but "
                       + "this model's is \(headDim): pass --axes-dims-rope A,B,C (even numbers summing to \(headDim))")
        }
        let config = FluxTransformerConfig(
            patchSize: 1, inChannels: inChannels, outChannels: outRows == inChannels ? nil : outRows,
            numLayers: try s.blockCount("double_blocks"), numSingleLayers: try s.blockCount("single_blocks"),
            attentionHeadDim: headDim, numAttentionHeads: inner / headDim,
            jointAttentionDim: try s.dimension("txt_in.weight", 1, rank: 2),
            pooledProjectionDim: try s.dimension("vector_in.in_layer.weight", 1, rank: 2),
            guidanceEmbeds: s.names.contains { $0.hasPrefix("guidance_in.") },
            axesDimsRope: axes)
        do {
            try config.validate(source: "\(s.path) (inferred transformer config)")
        } catch {
            throw fail("\(error)")
        }
        return config
    }

    /// `config.json` as diffusers' `FluxTransformer2DModel.save_config` writes it (without `_diffusers_version`).
    public static func configJSON(_ c: FluxTransformerConfig) -> ConfigJSON {
        .object([
            "_class_name": .string(FluxTransformerConfig.className),
            "attention_head_dim": .int(c.attentionHeadDim),
            "axes_dims_rope": .array(c.axesDimsRope.map(ConfigJSON.int)),
            "guidance_embeds": .bool(c.guidanceEmbeds),
            "in_channels": .int(c.inChannels),
            "joint_attention_dim": .int(c.jointAttentionDim),
            "num_attention_heads": .int(c.numAttentionHeads),
            "num_layers": .int(c.numLayers),
            "num_single_layers": .int(c.numSingleLayers),
            "out_channels": c.outChannels.map(ConfigJSON.int) ?? .null,
            "patch_size": .int(c.patchSize),
            "pooled_projection_dim": .int(c.pooledProjectionDim),
        ])
    }

    /// The diffusers tensors, in `FluxParameterLayout` order; every source tensor's shape is checked against
    /// `config` first, and a tensor left over is an error.
    public static func plan(_ s: SourceComponent, config c: FluxTransformerConfig) throws -> [SlicedTensor] {
        let layout = FluxParameterLayout(config: c)
        let why = "inferred config: inner width \(c.innerDim) = \(c.numAttentionHeads) heads × \(c.attentionHeadDim), "
            + "in_channels \(c.inChannels), joint_attention_dim \(c.jointAttentionDim), pooled_projection_dim \(c.pooledProjectionDim)"
        var out: [SlicedTensor] = []

        /// A whole BFL linear as a diffusers one.
        func linear(_ source: String, _ target: FluxParameterLayout.Linear) throws {
            try s.check(source + ".weight", [target.outFeatures, target.inFeatures], why)
            try s.check(source + ".bias", [target.outFeatures], why)
            out.append(try s.whole(source + ".weight", as: target.weightName))
            out.append(try s.whole(source + ".bias", as: target.biasName))
        }
        /// A fused BFL linear split along its output rows into `targets` (all with the same input width).
        func fused(_ source: String, _ targets: [FluxParameterLayout.Linear]) throws {
            let rows = targets.reduce(0) { $0 + $1.outFeatures }
            try s.check(source + ".weight", [rows, targets[0].inFeatures], why)
            try s.check(source + ".bias", [rows], why)
            var start = 0
            for t in targets {
                out.append(try s.rows(start..<(start + t.outFeatures), of: source + ".weight", as: t.weightName))
                out.append(try s.rows(start..<(start + t.outFeatures), of: source + ".bias", as: t.biasName))
                start += t.outFeatures
            }
        }
        func vector(_ source: String, _ target: FluxParameterLayout.Vector) throws {
            try s.check(source, [target.count], why)
            out.append(try s.whole(source, as: target.name))
        }

        try linear("img_in", layout.xEmbedder)
        try linear("txt_in", layout.contextEmbedder)
        try linear("time_in.in_layer", layout.timeLinear1)
        try linear("time_in.out_layer", layout.timeLinear2)
        if let g1 = layout.guidanceLinear1, let g2 = layout.guidanceLinear2 {
            try linear("guidance_in.in_layer", g1)
            try linear("guidance_in.out_layer", g2)
        }
        try linear("vector_in.in_layer", layout.textLinear1)
        try linear("vector_in.out_layer", layout.textLinear2)
        for (i, b) in layout.doubleBlocks.enumerated() {
            let p = "double_blocks.\(i)."
            try linear(p + "img_mod.lin", b.norm1)
            try linear(p + "txt_mod.lin", b.norm1Context)
            try fused(p + "img_attn.qkv", [b.toQ, b.toK, b.toV])
            try fused(p + "txt_attn.qkv", [b.addQ, b.addK, b.addV])
            try vector(p + "img_attn.norm.query_norm.scale", b.normQ)
            try vector(p + "img_attn.norm.key_norm.scale", b.normK)
            try vector(p + "txt_attn.norm.query_norm.scale", b.normAddedQ)
            try vector(p + "txt_attn.norm.key_norm.scale", b.normAddedK)
            try linear(p + "img_attn.proj", b.toOut)
            try linear(p + "txt_attn.proj", b.toAddOut)
            try linear(p + "img_mlp.0", b.ff1)
            try linear(p + "img_mlp.2", b.ff2)
            try linear(p + "txt_mlp.0", b.ffContext1)
            try linear(p + "txt_mlp.2", b.ffContext2)
        }
        for (i, b) in layout.singleBlocks.enumerated() {
            let p = "single_blocks.\(i)."
            try linear(p + "modulation.lin", b.norm)
            try fused(p + "linear1", [b.toQ, b.toK, b.toV, b.projMLP])
            try vector(p + "norm.query_norm.scale", b.normQ)
            try vector(p + "norm.key_norm.scale", b.normK)
            try linear(p + "linear2", b.projOut)
        }
        try linear("final_layer.linear", layout.projOut)
        // BFL's final modulation yields (shift, scale); diffusers' AdaLayerNormContinuous reads (scale, shift).
        try s.check("final_layer.adaLN_modulation.1.weight", [layout.normOut.outFeatures, layout.normOut.inFeatures], why)
        try s.check("final_layer.adaLN_modulation.1.bias", [layout.normOut.outFeatures], why)
        out.append(try s.halvesSwapped("final_layer.adaLN_modulation.1.weight", as: layout.normOut.weightName))
        out.append(try s.halvesSwapped("final_layer.adaLN_modulation.1.bias", as: layout.normOut.biasName))
        try s.requireAllTaken()
        return out
    }
}
