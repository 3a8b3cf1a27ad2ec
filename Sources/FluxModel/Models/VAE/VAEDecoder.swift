import Foundation
import TernaryTensors

/// The decoder half of diffusers' AutoencoderKL (`vae.decode(z)`): optional post_quant_conv, conv_in, mid block
/// (ResNet, single-head attention, ResNet), up blocks in reversed channel order (layers_per_block + 1 ResNets,
/// then nearest 2× upsample + conv except in the last), GroupNorm (eps 1e-6), SiLU, conv_out.
/// Weights are the `decoder.*` (and `post_quant_conv.*`) tensors of `vae/diffusion_pytorch_model.safetensors`;
/// the encoder's tensors are ignored.
public final class VAEDecoder: @unchecked Sendable {
    public let config: AutoencoderKLConfig

    struct UpBlock {
        let resnets: [ResnetBlock]
        let upsampler: Conv2D?
    }

    let postQuantConv: Conv2D?
    let convIn: Conv2D
    let midResnet0: ResnetBlock
    let midAttention: SpatialSelfAttention?
    let midResnet1: ResnetBlock
    let upBlocks: [UpBlock]
    let normOut: GroupNorm
    let convOut: Conv2D

    /// Loads `config.json` and the safetensors weights of a diffusers `vae/` folder.
    public convenience init(directory: URL) throws {
        let configURL = directory.appendingPathComponent("config.json")
        guard let data = FileManager.default.contents(atPath: configURL.path) else {
            throw VAEError.missingFile(configURL.path)
        }
        let config: AutoencoderKLConfig
        do {
            config = try JSONDecoder().decode(AutoencoderKLConfig.self, from: data)
        } catch {
            throw VAEError.invalidConfig("\(configURL.path): \(error)")
        }
        let weights = try SafeTensorsCheckpoint(directory: directory)
        try self.init(config: config, weights: weights, sourceName: directory.path)
    }

    public init(config: AutoencoderKLConfig, weights: any WeightSource, sourceName: String = "") throws {
        try config.validateForDecoding()
        self.config = config
        let w = CheckedWeights(source: weights, sourceName: sourceName)
        let act = try config.resnetActivation()
        let groups = config.normNumGroups
        let channels = config.blockOutChannels
        let top = channels[channels.count - 1]

        postQuantConv = config.usePostQuantConv
            ? try Conv2D(w, "post_quant_conv", inChannels: config.latentChannels, outChannels: config.latentChannels, kernel: 1)
            : nil
        convIn = try Conv2D(w, "decoder.conv_in", inChannels: config.latentChannels, outChannels: top, kernel: 3)
        midResnet0 = try ResnetBlock(w, "decoder.mid_block.resnets.0", inChannels: top, outChannels: top, groups: groups, activation: act)
        midAttention = config.midBlockAddAttention
            ? try SpatialSelfAttention(w, "decoder.mid_block.attentions.0", channels: top, groups: groups)
            : nil
        midResnet1 = try ResnetBlock(w, "decoder.mid_block.resnets.1", inChannels: top, outChannels: top, groups: groups, activation: act)

        var blocks = [UpBlock]()
        let reversed = Array(channels.reversed())
        var previous = reversed[0]
        for (i, out) in reversed.enumerated() {
            let prefix = "decoder.up_blocks.\(i)"
            var resnets = [ResnetBlock]()
            for j in 0...config.layersPerBlock {
                resnets.append(try ResnetBlock(w, "\(prefix).resnets.\(j)", inChannels: j == 0 ? previous : out,
                                               outChannels: out, groups: groups, activation: act))
            }
            let isFinal = i == reversed.count - 1
            let upsampler = isFinal ? nil
                : try Conv2D(w, "\(prefix).upsamplers.0.conv", inChannels: out, outChannels: out, kernel: 3)
            blocks.append(UpBlock(resnets: resnets, upsampler: upsampler))
            previous = out
        }
        upBlocks = blocks
        normOut = try GroupNorm(w, "decoder.conv_norm_out", channels: channels[0], groups: groups, eps: 1e-6)
        convOut = try Conv2D(w, "decoder.conv_out", inChannels: channels[0], outChannels: config.outChannels, kernel: 3)
    }

    /// Spatial upscaling from latents to pixels: 2^(number of up blocks − 1).
    public var upscale: Int { 1 << (config.blockOutChannels.count - 1) }

    /// Decodes latents [B, latent_channels, h, w] (already unscaled: the caller applies z / scaling_factor +
    /// shift_factor) to [B, out_channels, h·upscale, w·upscale], roughly in [-1, 1].
    public func decode(_ latents: Tensor) throws -> Tensor {
        guard latents.rank == 4 else {
            throw VAEError.invalidInput("latents must be [B, C, h, w], got shape \(latents.shape)")
        }
        let (b, c, h, w) = (latents.shape[0], latents.shape[1], latents.shape[2], latents.shape[3])
        guard c == config.latentChannels else {
            throw VAEError.invalidInput("latents have \(c) channels but the VAE's latent_channels is \(config.latentChannels)")
        }
        guard b > 0, h > 0, w > 0 else { throw VAEError.invalidInput("latents shape \(latents.shape) is empty") }
        let (oh, ow) = (h * upscale, w * upscale)
        var out = [Float]()
        out.reserveCapacity(b * config.outChannels * oh * ow)
        for i in 0..<b {
            let slice = Array(latents.storage[(i * c * h * w)..<((i + 1) * c * h * w)])
            let image = decodeOne(FeatureMap(channels: c, height: h, width: w, data: slice))
            out.append(contentsOf: image.data)
        }
        return Tensor(shape: [b, config.outChannels, oh, ow], storage: out)
    }

    func decodeOne(_ z: FeatureMap) -> FeatureMap {
        var x = postQuantConv.map { $0(z) } ?? z
        x = convIn(x)
        x = midResnet0(x)
        if let midAttention { x = midAttention(x) }
        x = midResnet1(x)
        for block in upBlocks {
            for resnet in block.resnets { x = resnet(x) }
            if let up = block.upsampler { x = up(x, upsample: true) }
        }
        normOut(&x, then: .silu)
        return convOut(x)
    }
}
