import Foundation
import TernaryTensors

/// The denoising half of FluxPipeline: initial noise (diffusers' prepare_latents: CPU torch.randn of
/// [1, C, h, w] from a fresh generator, then 2×2 packing), the flow-match schedule with mu from the image
/// sequence length, one transformer call per step (timestep = t/1000, guidance when the model embeds it; a
/// second call on the negative prompt with true classifier-free guidance, `TrueCFG`) and fp32 Euler updates.
/// Returns the packed final latents.
public struct FluxSampler: Sendable {
    public let transformer: FluxTransformer
    public let scheduler: FlowMatchEulerDiscreteScheduler
    /// 2^(len(vae.block_out_channels) − 1): 8 for FLUX.1.
    public let vaeScaleFactor: Int

    public init(transformer: FluxTransformer, scheduler: FlowMatchEulerDiscreteScheduler, vaeScaleFactor: Int) throws {
        let c = transformer.config
        guard c.inChannels % 4 == 0, c.resolvedOutChannels == c.inChannels, c.patchSize == 1 else {
            throw FluxPipelineError.incompatible("the transformer must map packed latents to themselves (patch_size 1, "
                + "in_channels = out_channels, a multiple of 4); config has patch_size \(c.patchSize), in_channels "
                + "\(c.inChannels), out_channels \(c.resolvedOutChannels)")
        }
        self.transformer = transformer
        self.scheduler = scheduler
        self.vaeScaleFactor = vaeScaleFactor
    }

    /// Latent channels of the VAE (in_channels / 4).
    public var latentChannels: Int { transformer.config.inChannels / 4 }
    /// Image sizes must be multiples of this (16 for FLUX.1).
    public var sizeMultiple: Int { Self.sizeMultiple(vaeScaleFactor: vaeScaleFactor) }
    /// 2 × the VAE scale factor: one packed latent token covers a 2×2 patch of VAE latents.
    public static func sizeMultiple(vaeScaleFactor: Int) -> Int { vaeScaleFactor * 2 }

    /// The sampling rules (size, steps, guidance), written only here: `FluxPipeline.validate` applies them to a
    /// request, `sample` to its arguments, and a command may check its flags with them before it builds a model.
    public static func validate(width: Int, height: Int, steps: Int, guidance: Float, sizeMultiple m: Int) throws {
        for (name, value) in [("width", width), ("height", height)] where value < m || value % m != 0 {
            throw FluxPipelineError.invalidRequest("\(name) must be a positive multiple of \(m), got \(value)")
        }
        guard steps >= 1 else { throw FluxPipelineError.invalidRequest("steps must be ≥ 1, got \(steps)") }
        guard guidance.isFinite else { throw FluxPipelineError.invalidRequest("guidance must be a finite number, got \(guidance)") }
    }

    public func validate(width: Int, height: Int, steps: Int, guidance: Float) throws {
        try Self.validate(width: width, height: height, steps: steps, guidance: guidance, sizeMultiple: sizeMultiple)
    }

    /// Packed initial latents [1, (h/2)·(w/2), C·4] and their latent size, exactly as prepare_latents draws them.
    public func initialLatents(seed: UInt64, width: Int, height: Int) -> (packed: Tensor, latentHeight: Int, latentWidth: Int) {
        let h = LatentPacking.latentSize(imageSize: height, vaeScaleFactor: vaeScaleFactor)
        let w = LatentPacking.latentSize(imageSize: width, vaeScaleFactor: vaeScaleFactor)
        var generator = TorchGenerator(seed: seed)
        let noise = generator.randn(shape: [1, latentChannels, h, w])
        return (LatentPacking.pack(noise), h, w)
    }

    /// Runs every step. `onStep(i, seconds)` is called after each step with its wall time; throwing from it
    /// stops sampling (how a worker abandons a job between steps). With `negative` (scale > 1), every step is
    /// guided by it as FluxPipeline's true classifier-free guidance. The arguments are checked first.
    public func sample(promptEmbeds: Tensor, pooled: Tensor, seed: UInt64, steps: Int, width: Int, height: Int,
                       guidance: Float, negative: TrueCFG.Negative? = nil,
                       onStep: ((Int, Double) throws -> Void)? = nil) throws -> SampledLatents {
        try validate(width: width, height: height, steps: steps, guidance: guidance)
        guard promptEmbeds.rank == 3, promptEmbeds.shape[0] == 1 else {
            throw FluxPipelineError.invalidRequest("prompt embeddings must be [1, T, J], got \(promptEmbeds.shape)")
        }
        if let negative {
            try TrueCFG.validate(scale: negative.scale)
            guard negative.promptEmbeds.shape == promptEmbeds.shape, negative.pooled.shape == pooled.shape else {
                throw FluxPipelineError.invalidRequest("negative prompt embeddings \(negative.promptEmbeds.shape) / "
                    + "\(negative.pooled.shape) must have the prompt's shapes \(promptEmbeds.shape) / \(pooled.shape)")
            }
        }
        return try run(promptEmbeds: promptEmbeds, pooled: pooled, seed: seed, steps: steps, width: width,
                       height: height, guidance: guidance, negative: negative, onStep: onStep)
    }

    /// `sample` without its checks, for `FluxPipeline.generate`, which has validated the request and made the
    /// embeddings itself.
    func run(promptEmbeds: Tensor, pooled: Tensor, seed: UInt64, steps: Int, width: Int, height: Int,
             guidance: Float, negative: TrueCFG.Negative?, onStep: ((Int, Double) throws -> Void)?) throws -> SampledLatents {
        let guide = negative.flatMap { $0.scale > 1 ? $0 : nil }
        var (latents, h, w) = initialLatents(seed: seed, width: width, height: height)
        let imageSequenceLength = latents.shape[1]
        let schedule = try scheduler.schedule(steps: steps, imageSequenceLength: imageSequenceLength)
        let imgIds = LatentPacking.imageIDs(latentHeight: h, latentWidth: w)
        let txtIds = LatentPacking.textIDs(length: promptEmbeds.shape[1])
        let guidanceValues: [Float]? = transformer.config.guidanceEmbeds ? [guidance] : nil
        var stepSeconds: [Double] = []
        for i in 0..<schedule.steps {
            let start = DispatchTime.now().uptimeNanoseconds
            var velocity = try transformer.forward(
                hiddenStates: latents, encoderHiddenStates: promptEmbeds, pooledProjections: pooled,
                timestep: [schedule.transformerTimestep(i)], guidance: guidanceValues, imgIds: imgIds, txtIds: txtIds)
            if let guide {
                let negativeVelocity = try transformer.forward(
                    hiddenStates: latents, encoderHiddenStates: guide.promptEmbeds, pooledProjections: guide.pooled,
                    timestep: [schedule.transformerTimestep(i)], guidance: guidanceValues, imgIds: imgIds, txtIds: txtIds)
                TrueCFG.combine(&velocity, negative: negativeVelocity, scale: guide.scale)
            }
            try schedule.step(&latents, velocity: velocity, index: i)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            stepSeconds.append(seconds)
            try onStep?(i, seconds)
        }
        return SampledLatents(packed: latents, latentHeight: h, latentWidth: w, schedule: schedule, stepSeconds: stepSeconds)
    }
}

/// The result of sampling: packed latents [1, S, C·4] and the geometry needed to unpack them.
public struct SampledLatents: Sendable {
    public let packed: Tensor
    public let latentHeight: Int
    public let latentWidth: Int
    public let schedule: FlowMatchSchedule
    public let stepSeconds: [Double]

    /// [1, C, h, w] as the VAE expects, before scaling.
    public var unpacked: Tensor { LatentPacking.unpack(packed, latentHeight: latentHeight, latentWidth: latentWidth) }
}

public enum FluxPipelineError: Error, CustomStringConvertible, Equatable {
    case invalidRequest(String)
    case incompatible(String)

    public var description: String {
        switch self {
        case let .invalidRequest(m): return "invalid generation request: \(m)"
        case let .incompatible(m): return "model components do not fit together: \(m)"
        }
    }
}
