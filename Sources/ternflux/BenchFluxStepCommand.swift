import ArgumentParser
import Foundation
import TernFluxBench
import FluxModel
import TernaryTensors

/// One denoising step of a transformer with FLUX.1-dev's dimensions and random ternary block weights made in
/// this process (packed directly, never as fp32), timed per activation mode, with the process's peak RSS.
struct BenchFluxStepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flux-step",
        abstract: "Time one FLUX denoising step (full FLUX.1-dev dimensions, random ternary weights) and report peak RSS.")

    enum Modes: String, ExpressibleByArgument, CaseIterable {
        case f32, int8, both
        var list: [ActivationMode] { self == .both ? [.f32, .int8] : [ActivationMode(rawValue: rawValue)!] }
    }

    @Flag(help: "Print one JSON object instead of text.") var json = false
    @OptionGroup var kernelPathOption: KernelPathOption
    @OptionGroup var deviceOption: DeviceOption
    @Option(help: "Activation mode of the ternary GEMMs: f32, int8 or both.") var mode: Modes = .both
    @Option(help: "Packing of the random ternary weights: i2 or t3.") var format: String = "i2"
    @Option(help: "Image width (pixels, multiple of 16).") var width = 512
    @Option(help: "Image height (pixels, multiple of 16).") var height = 512
    @Option(name: .customLong("t5-length"), help: "Text tokens (T5 sequence length).") var t5Length = 512
    @Option(help: "Double-stream blocks.") var double = 19
    @Option(help: "Single-stream blocks.") var single = 38
    @Option(help: "Seed of the random weights and inputs.") var seed: UInt64 = 0
    @Option(name: .customLong("save-latents"), help: "Write the latents after the step to this safetensors file (one F32 tensor per mode, `latents_<mode>`), to compare devices.")
    var saveLatents: String?

    /// FLUX.1's VAE downscales 8×.
    static let vaeScaleFactor = 8

    func validate() throws {
        // The sampler's rules, checked before minutes go into building the random weights.
        do {
            try FluxSampler.validate(width: width, height: height, steps: 1, guidance: 3.5,
                                     sizeMultiple: FluxSampler.sizeMultiple(vaeScaleFactor: Self.vaeScaleFactor))
        } catch { throw ValidationError("\(error)") }
        guard t5Length >= 1 else { throw ValidationError("--t5-length must be ≥ 1, got \(t5Length)") }
        guard double >= 0, single >= 0 else { throw ValidationError("--double and --single must be ≥ 0") }
        guard TernaryFormat(rawValue: format) != nil else { throw ValidationError("--format must be i2 or t3, got '\(format)'") }
    }

    struct ModeResult: Encodable {
        let mode: String
        let device: String
        /// Bytes of ternary weights resident on the GPU (0 on the CPU).
        let deviceWeightBytes: Int
        let buildSeconds: Double
        let stepSeconds: Double
        let packedWeightBytes: Int
        let peakRSSBytesAfterStep: Int
        enum CodingKeys: String, CodingKey {
            case mode, device
            case deviceWeightBytes = "device_weight_bytes"
            case buildSeconds = "build_seconds"
            case stepSeconds = "step_seconds"
            case packedWeightBytes = "packed_weight_bytes"
            case peakRSSBytesAfterStep = "peak_rss_bytes_after_step"
        }
    }

    struct Report: Encodable {
        let benchmark = "flux-step"
        let width: Int, height: Int, t5Length: Int, imageTokens: Int
        let doubleBlocks: Int, singleBlocks: Int, hiddenSize: Int, heads: Int, format: String
        let cores: Int
        let results: [ModeResult]
        let peakRSSBytes: Int
        enum CodingKeys: String, CodingKey {
            case benchmark, width, height, format, cores, results
            case t5Length = "t5_length"
            case imageTokens = "image_tokens"
            case doubleBlocks = "double_blocks"
            case singleBlocks = "single_blocks"
            case hiddenSize = "hidden_size"
            case heads
            case peakRSSBytes = "peak_rss_bytes"
        }
    }

    func measure(_ activation: ActivationMode, config: FluxTransformerConfig, format: TernaryFormat,
                 scheduler: FlowMatchEulerDiscreteScheduler, promptEmbeds: Tensor, pooled: Tensor) throws
        -> (ModeResult, Tensor) {
        let buildStart = Date()
        let weights = RandomTernaryWeights(config: config, format: format, seed: seed)
        let transformer = try FluxTransformer(config: config, weights: weights, mode: activation,
                                              device: try deviceOption.resolve(mode: activation))
        transformer.reportPlacement()
        let buildSeconds = Date().timeIntervalSince(buildStart)
        let sampler = try FluxSampler(transformer: transformer, scheduler: scheduler, vaeScaleFactor: Self.vaeScaleFactor)
        let out = try sampler.sample(promptEmbeds: promptEmbeds, pooled: pooled, seed: seed, steps: 1,
                                     width: width, height: height, guidance: 3.5)
        guard out.packed.storage.allSatisfy({ $0.isFinite }) else {
            throw FluxCommandError("the \(activation.rawValue) step produced non-finite latents")
        }
        if !json {
            print(String(format: "%@: build %.1f s, one step %.2f s, packed weights %.2f GB, peak RSS so far %.2f GB",
                         activation.rawValue, buildSeconds, out.stepSeconds[0],
                         Double(weights.packedBytes) / 1e9, Double(PeakRSS.bytes()) / 1e9))
        }
        return (ModeResult(mode: activation.rawValue, device: "\(transformer.device)", deviceWeightBytes: transformer.deviceWeightBytes,
                           buildSeconds: buildSeconds, stepSeconds: out.stepSeconds[0],
                           packedWeightBytes: weights.packedBytes, peakRSSBytesAfterStep: PeakRSS.bytes()),
                out.packed)
    }

    func run() throws {
        try kernelPathOption.apply()
        let format = TernaryFormat(rawValue: self.format)!
        // FLUX.1-dev: 3072 wide (24 heads × 128), in_channels 64, T5 4096, CLIP pooled 768, guidance embedded.
        let config = FluxTransformerConfig(patchSize: 1, inChannels: 64, numLayers: double, numSingleLayers: single,
                                           attentionHeadDim: 128, numAttentionHeads: 24, jointAttentionDim: 4096,
                                           pooledProjectionDim: 768, guidanceEmbeds: true, axesDimsRope: [16, 56, 56])
        var schedulerConfig = FlowMatchEulerDiscreteSchedulerConfig()
        schedulerConfig.useDynamicShifting = true
        schedulerConfig.shift = 3.0
        let scheduler = try FlowMatchEulerDiscreteScheduler(config: schedulerConfig)
        var inputs = TorchGenerator(seed: seed)
        let promptEmbeds = inputs.randn(shape: [1, t5Length, config.jointAttentionDim])
        let pooled = inputs.randn(shape: [1, config.pooledProjectionDim])

        var results: [ModeResult] = []
        var imageTokens = 0
        var latents: [(String, Tensor)] = []
        for activation in mode.list {
            // Each mode builds its own weights after the previous model is released (end of `measure`), so the
            // peak is one model's, not two.
            let (result, packed) = try measure(activation, config: config, format: format, scheduler: scheduler,
                                               promptEmbeds: promptEmbeds, pooled: pooled)
            results.append(result)
            imageTokens = packed.shape[1]
            if saveLatents != nil { latents.append(("latents_\(activation.rawValue)", packed)) }
        }
        if let saveLatents {
            let writer = try SafeTensorsWriter(url: URL(fileURLWithPath: saveLatents),
                                               tensors: latents.map { TensorInfo(name: $0.0, dtype: .f32, shape: $0.1.shape) },
                                               metadata: ["producer": "ternflux bench flux-step", "seed": "\(seed)"])
            for (name, tensor) in latents { try writer.write(name, floats: tensor.storage) }
            try writer.finish()
        }
        let report = Report(width: width, height: height, t5Length: t5Length, imageTokens: imageTokens,
                            doubleBlocks: double, singleBlocks: single, hiddenSize: config.innerDim,
                            heads: config.numAttentionHeads, format: format.rawValue,
                            cores: ProcessInfo.processInfo.activeProcessorCount, results: results,
                            peakRSSBytes: PeakRSS.bytes())
        if json {
            try ReportFormatting.printJSON(report, pretty: false)
        } else {
            print(String(format: "peak RSS %.2f GB (%d×%d image → %d tokens, T5 length %d, %d double + %d single blocks, %@)",
                         Double(report.peakRSSBytes) / 1e9, width, height, imageTokens, t5Length, double, single,
                         format.rawValue))
        }
    }
}
