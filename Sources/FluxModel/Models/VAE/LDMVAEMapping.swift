import Foundation
import TernaryTensors

/// The LDM autoencoder layout (BFL's `ae.safetensors`, a bundle's `vae.*`) onto diffusers' `AutoencoderKL` names,
/// as diffusers' `convert_ldm_vae_checkpoint` maps it. Every output is a whole input tensor renamed; the 1×1
/// convolutions of the mid-block attention become linear weights by dropping their two unit dimensions.
///
/// | LDM | diffusers |
/// |---|---|
/// | `encoder.conv_in`, `encoder.conv_out`, `decoder.conv_in`, `decoder.conv_out` | same |
/// | `encoder.norm_out`, `decoder.norm_out` | `encoder.conv_norm_out`, `decoder.conv_norm_out` |
/// | `encoder.down.I.block.J.{norm1,conv1,norm2,conv2,nin_shortcut}` | `encoder.down_blocks.I.resnets.J.{norm1,conv1,norm2,conv2,conv_shortcut}` |
/// | `encoder.down.I.downsample.conv` | `encoder.down_blocks.I.downsamplers.0.conv` |
/// | `decoder.up.I.block.J.*` | `decoder.up_blocks.(L−1−I).resnets.J.*` (L levels: LDM numbers up blocks from the bottom) |
/// | `decoder.up.I.upsample.conv` | `decoder.up_blocks.(L−1−I).upsamplers.0.conv` |
/// | `{encoder,decoder}.mid.block_1`, `mid.block_2` | `{encoder,decoder}.mid_block.resnets.0`, `resnets.1` |
/// | `{encoder,decoder}.mid.attn_1.norm` | `{encoder,decoder}.mid_block.attentions.0.group_norm` |
/// | `{encoder,decoder}.mid.attn_1.{q,k,v,proj_out}` [C, C, 1, 1] | `…attentions.0.{to_q,to_k,to_v,to_out.0}` [C, C] |
/// | `quant_conv`, `post_quant_conv` (absent in FLUX.1's) | same |
public enum LDMVAEMapping {
    /// FLUX.1's autoencoder constants, which are not in its weights (FLUX.1-dev's vae/config.json).
    public static let flux1NormNumGroups = 32
    public static let flux1ScalingFactor = 0.3611
    public static let flux1ShiftFactor = 0.1159
    public static let flux1SampleSize = 1024
    public static let flux1LatentChannels = 16

    /// Block widths from each level's first resnet, `layers_per_block` from level 0's resnet count, channels
    /// from the convolutions, the quant convs and mid attention from their presence; `norm_num_groups`
    /// (`normNumGroups`, else FLUX.1's 32), scaling and shift factors, sample size and `force_upcast` are
    /// FLUX.1's.
    public static func inferConfig(_ s: SourceComponent, normNumGroups: Int? = nil) throws -> AutoencoderKLConfig {
        func fail(_ detail: String) -> ConversionError { .cannotInfer(path: s.path, component: "VAE", detail: detail) }
        let levels = try s.blockCount("encoder.down")
        guard levels > 0 else {
            throw ConversionError.missingTensor(path: s.path, component: "VAE", tensor: s.fullName("encoder.down.0.block.0.conv1.weight"))
        }
        var c = AutoencoderKLConfig()
        c.inChannels = try s.dimension("encoder.conv_in.weight", 1, rank: 4)
        c.outChannels = try s.dimension("decoder.conv_out.weight", 0, rank: 4)
        c.blockOutChannels = try (0..<levels).map { try s.dimension("encoder.down.\($0).block.0.conv1.weight", 0, rank: 4) }
        c.layersPerBlock = try s.blockCount("encoder.down.0.block")
        c.downBlockTypes = Array(repeating: "DownEncoderBlock2D", count: levels)
        c.upBlockTypes = Array(repeating: "UpDecoderBlock2D", count: levels)
        c.actFn = "silu"
        c.latentChannels = try s.dimension("decoder.conv_in.weight", 1, rank: 4)
        guard c.latentChannels == flux1LatentChannels else {
            throw fail("latent_channels is \(c.latentChannels) (decoder.conv_in.weight); FLUX.1's autoencoder has "
                       + "\(flux1LatentChannels), and its scaling and shift factors are only known for that one")
        }
        c.normNumGroups = normNumGroups ?? flux1NormNumGroups
        if let bad = c.blockOutChannels.first(where: { $0 % c.normNumGroups != 0 }) {
            throw fail("block width \(bad) is not divisible by norm_num_groups \(c.normNumGroups), which is not stored "
                       + "in the weights (FLUX.1: \(flux1NormNumGroups)): pass --vae-norm-num-groups N")
        }
        c.sampleSize = [flux1SampleSize]
        c.scalingFactor = flux1ScalingFactor
        c.shiftFactor = flux1ShiftFactor
        c.latentsMean = nil
        c.latentsStd = nil
        c.forceUpcast = true
        c.useQuantConv = s.has("quant_conv.weight")
        c.usePostQuantConv = s.has("post_quant_conv.weight")
        c.midBlockAddAttention = s.has("encoder.mid.attn_1.q.weight")
        return c
    }

    /// `config.json` as diffusers' `AutoencoderKL.save_config` writes it (without `_diffusers_version`).
    public static func configJSON(_ c: AutoencoderKLConfig) -> ConfigJSON {
        .object([
            "_class_name": .string("AutoencoderKL"),
            "act_fn": .string(c.actFn),
            "block_out_channels": .array(c.blockOutChannels.map(ConfigJSON.int)),
            "down_block_types": .array(c.downBlockTypes.map(ConfigJSON.string)),
            "force_upcast": .bool(c.forceUpcast),
            "in_channels": .int(c.inChannels),
            "latent_channels": .int(c.latentChannels),
            "latents_mean": c.latentsMean.map { .array($0.map(ConfigJSON.double)) } ?? .null,
            "latents_std": c.latentsStd.map { .array($0.map(ConfigJSON.double)) } ?? .null,
            "layers_per_block": .int(c.layersPerBlock),
            "mid_block_add_attention": .bool(c.midBlockAddAttention),
            "norm_num_groups": .int(c.normNumGroups),
            "out_channels": .int(c.outChannels),
            "sample_size": c.sampleSize.count == 1 ? .int(c.sampleSize[0]) : .array(c.sampleSize.map(ConfigJSON.int)),
            "scaling_factor": .double(c.scalingFactor),
            "shift_factor": c.shiftFactor.map(ConfigJSON.double) ?? .null,
            "up_block_types": .array(c.upBlockTypes.map(ConfigJSON.string)),
            "use_post_quant_conv": .bool(c.usePostQuantConv),
            "use_quant_conv": .bool(c.useQuantConv),
        ])
    }

    /// The diffusers tensors; every source shape is checked against `config`, and a tensor left over is an error.
    public static func plan(_ s: SourceComponent, config c: AutoencoderKLConfig) throws -> [SlicedTensor] {
        let why = "inferred VAE config: block_out_channels \(c.blockOutChannels), layers_per_block \(c.layersPerBlock), "
            + "latent_channels \(c.latentChannels)"
        var out: [SlicedTensor] = []
        func conv(_ source: String, _ target: String, _ cIn: Int, _ cOut: Int, kernel: Int = 3) throws {
            try s.check(source + ".weight", [cOut, cIn, kernel, kernel], why)
            try s.check(source + ".bias", [cOut], why)
            out.append(try s.whole(source + ".weight", as: target + ".weight"))
            out.append(try s.whole(source + ".bias", as: target + ".bias"))
        }
        func norm(_ source: String, _ target: String, _ channels: Int) throws {
            try s.check(source + ".weight", [channels], why)
            try s.check(source + ".bias", [channels], why)
            out.append(try s.whole(source + ".weight", as: target + ".weight"))
            out.append(try s.whole(source + ".bias", as: target + ".bias"))
        }
        func resnet(_ source: String, _ target: String, _ cIn: Int, _ cOut: Int) throws {
            try norm(source + ".norm1", target + ".norm1", cIn)
            try conv(source + ".conv1", target + ".conv1", cIn, cOut)
            try norm(source + ".norm2", target + ".norm2", cOut)
            try conv(source + ".conv2", target + ".conv2", cOut, cOut)
            if cIn != cOut { try conv(source + ".nin_shortcut", target + ".conv_shortcut", cIn, cOut, kernel: 1) }
        }
        func mid(_ side: String, _ ch: Int) throws {
            try resnet("\(side).mid.block_1", "\(side).mid_block.resnets.0", ch, ch)
            if c.midBlockAddAttention {
                try norm("\(side).mid.attn_1.norm", "\(side).mid_block.attentions.0.group_norm", ch)
                for (from, to) in [("q", "to_q"), ("k", "to_k"), ("v", "to_v"), ("proj_out", "to_out.0")] {
                    let w = "\(side).mid.attn_1.\(from).weight"
                    let shape = try s.shape(w)
                    guard shape == [ch, ch, 1, 1] || shape == [ch, ch] else {
                        throw ConversionError.shapeMismatch(path: s.path, tensor: s.fullName(w), expected: [ch, ch, 1, 1],
                                                            actual: shape, reason: why)
                    }
                    try s.check("\(side).mid.attn_1.\(from).bias", [ch], why)
                    out.append(try s.whole(w, as: "\(side).mid_block.attentions.0.\(to).weight", shape: [ch, ch]))
                    out.append(try s.whole("\(side).mid.attn_1.\(from).bias", as: "\(side).mid_block.attentions.0.\(to).bias"))
                }
            }
            try resnet("\(side).mid.block_2", "\(side).mid_block.resnets.1", ch, ch)
        }

        let ch = c.blockOutChannels, levels = ch.count, top = ch[levels - 1]
        try conv("encoder.conv_in", "encoder.conv_in", c.inChannels, ch[0])
        var width = ch[0]
        for i in 0..<levels {
            for j in 0..<c.layersPerBlock {
                try resnet("encoder.down.\(i).block.\(j)", "encoder.down_blocks.\(i).resnets.\(j)", width, ch[i])
                width = ch[i]
            }
            if i < levels - 1 {
                try conv("encoder.down.\(i).downsample.conv", "encoder.down_blocks.\(i).downsamplers.0.conv", ch[i], ch[i])
            }
        }
        try mid("encoder", top)
        try norm("encoder.norm_out", "encoder.conv_norm_out", top)
        try conv("encoder.conv_out", "encoder.conv_out", top, 2 * c.latentChannels)
        if c.useQuantConv { try conv("quant_conv", "quant_conv", 2 * c.latentChannels, 2 * c.latentChannels, kernel: 1) }
        if c.usePostQuantConv { try conv("post_quant_conv", "post_quant_conv", c.latentChannels, c.latentChannels, kernel: 1) }

        try conv("decoder.conv_in", "decoder.conv_in", c.latentChannels, top)
        try mid("decoder", top)
        width = top
        for level in stride(from: levels - 1, through: 0, by: -1) {
            let i = levels - 1 - level
            for j in 0...c.layersPerBlock {
                try resnet("decoder.up.\(level).block.\(j)", "decoder.up_blocks.\(i).resnets.\(j)", width, ch[level])
                width = ch[level]
            }
            if level > 0 {
                try conv("decoder.up.\(level).upsample.conv", "decoder.up_blocks.\(i).upsamplers.0.conv", ch[level], ch[level])
            }
        }
        try norm("decoder.norm_out", "decoder.conv_norm_out", ch[0])
        try conv("decoder.conv_out", "decoder.conv_out", ch[0], c.outChannels)
        try s.requireAllTaken()
        return out
    }
}
