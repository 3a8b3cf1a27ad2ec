import Foundation
import TernaryTensors

/// diffusers' FluxPipeline for one prompt: text conditioning (CLIP pooled + T5 sequence), the flow-match
/// denoising loop on packed latents, unpacking, z / scaling_factor + shift_factor, the VAE decoder and an
/// 8-bit RGB PNG, with the wall time of every phase.
public final class FluxPipeline: @unchecked Sendable {
    public struct Request: Sendable, Equatable {
        public var prompt: String
        public var seed: UInt64
        public var steps: Int
        public var width: Int
        public var height: Int
        public var guidance: Float
        /// T5 tokens (FluxPipeline's max_sequence_length).
        public var maxSequenceLength: Int
        /// FluxPipeline's `true_cfg_scale`: above 1 (with a negative prompt), classifier-free guidance.
        public var trueCFGScale: Float
        /// FluxPipeline's `negative_prompt`; nil: none, so no classifier-free guidance.
        public var negativePrompt: String?

        public init(prompt: String, seed: UInt64 = 0, steps: Int = 28, width: Int = 512, height: Int = 512,
                    guidance: Float = 3.5, maxSequenceLength: Int = 512, trueCFGScale: Float = 1,
                    negativePrompt: String? = nil) {
            self.prompt = prompt
            self.seed = seed
            self.steps = steps
            self.width = width
            self.height = height
            self.guidance = guidance
            self.maxSequenceLength = maxSequenceLength
            self.trueCFGScale = trueCFGScale
            self.negativePrompt = negativePrompt
        }

        /// Classifier-free guidance runs (a second transformer call per step), as FluxPipeline's do_true_cfg.
        public var usesTrueCFG: Bool { trueCFGScale > 1 && negativePrompt != nil }
    }

    /// Seconds per phase.
    public struct Timings: Sendable, Equatable, Codable {
        /// CLIP and T5 tokenization.
        public var tokenize: Double = 0
        /// Both text encoders.
        public var encode: Double = 0
        public var denoiseSteps: [Double] = []
        public var vaeDecode: Double = 0
        public var pngEncode: Double = 0
        public var tokenizeEncode: Double { tokenize + encode }
        public var denoise: Double { denoiseSteps.reduce(0, +) }
        public var total: Double { tokenize + encode + denoise + vaeDecode + pngEncode }

        public init() {}

        enum CodingKeys: String, CodingKey {
            case tokenize = "tokenize_s", encode = "encode_s", denoiseSteps = "denoise_step_s",
                 vaeDecode = "vae_decode_s", pngEncode = "png_encode_s"
        }
    }

    public struct Result: Sendable {
        public var png: [UInt8]
        public var width: Int
        public var height: Int
        /// Packed latents after the last step [1, S, C·4].
        public var finalLatents: Tensor
        public var timings: Timings
        /// Tokenizer warnings (a truncated prompt, for instance).
        public var warnings: [String]
    }

    public let folder: ModelFolder
    public let mode: ActivationMode
    public let text: FluxTextConditioner
    public let sampler: FluxSampler
    public let vae: VAEDecoder
    /// The T5 length this model is run with unless a request says otherwise: `tokenizer_2`'s
    /// `model_max_length` when it is below 512 (a model trained on short prompts records it there; FLUX has
    /// no attention mask, so padding it never saw changes its output), else diffusers' default of 512.
    public let defaultMaxSequenceLength: Int
    /// The folder's generation_defaults.json (what a request leaves to the model: the worker takes the
    /// classifier-free guidance of a job from here).
    public let generationDefaults: GenerationDefaults

    /// Loads and validates every component of a diffusers-layout folder. Block linears run in `mode`.
    public init(modelDirectory: URL, mode: ActivationMode = .f32) throws {
        folder = try ModelFolder(url: modelDirectory)
        self.mode = mode
        let transformer = try FluxTransformer(directory: folder.transformerDirectory, mode: mode)
        vae = try VAEDecoder(directory: folder.vaeDirectory)
        guard vae.config.latentChannels * 4 == transformer.config.inChannels else {
            throw FluxPipelineError.incompatible("the VAE has \(vae.config.latentChannels) latent channels but the "
                + "transformer takes \(transformer.config.inChannels) = 4 × \(transformer.config.inChannels / 4)")
        }
        let scheduler = try FlowMatchEulerDiscreteScheduler(directory: folder.schedulerConfigURL)
        sampler = try FluxSampler(transformer: transformer, scheduler: scheduler,
                                  vaeScaleFactor: 1 << (vae.config.blockOutChannels.count - 1))
        text = try FluxTextConditioner(modelDirectory: modelDirectory, mode: mode)
        defaultMaxSequenceLength = Self.tokenizerMaxLength(folder.directory("tokenizer_2")) ?? 512
        generationDefaults = try GenerationDefaults.load(modelDirectory: modelDirectory)
    }

    /// A request with everything the caller leaves out taken from the model: size, steps, guidance, true
    /// classifier-free guidance and the T5 length.
    public func defaultRequest(prompt: String, seed: UInt64 = 0) -> Request {
        let d = generationDefaults
        var request = Request(prompt: prompt, seed: seed, steps: d.steps, width: d.width, height: d.height,
                              guidance: d.guidance, maxSequenceLength: defaultMaxSequenceLength)
        d.applyGuidance(to: &request)
        return request
    }

    /// `model_max_length` of a tokenizer folder's tokenizer_config.json, when it is a usable T5 length.
    static func tokenizerMaxLength(_ directory: URL) -> Int? {
        let url = directory.appendingPathComponent("tokenizer_config.json")
        guard let data = try? Data(contentsOf: url),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let value = object["model_max_length"] as? NSNumber else { return nil }
        let length = value.doubleValue
        return length >= 1 && length < 512 ? Int(length) : nil
    }

    public var transformer: FluxTransformer { sampler.transformer }

    /// Checks a request without running anything.
    public func validate(_ request: Request) throws {
        try sampler.validate(width: request.width, height: request.height, steps: request.steps, guidance: request.guidance)
        guard (1...512).contains(request.maxSequenceLength) else {
            throw TextConditionerError.invalidMaxSequenceLength(request.maxSequenceLength)
        }
        try TrueCFG.validate(scale: request.trueCFGScale)
    }

    /// Generates one image. `onStep(i, seconds)` runs after every denoising step; throwing from it stops.
    public func generate(_ request: Request, onStep: ((Int, Double) throws -> Void)? = nil) throws -> Result {
        try validate(request)
        var timings = Timings()
        var clock = PhaseClock()
        // FluxTextConditioner.encode, split so that tokenizing and encoding are timed apart.
        let (clipTokens, t5Tokens, warnings) = try text.tokenize(request.prompt, maxSequenceLength: request.maxSequenceLength)
        var negativeTokens: (clip: TokenizedPrompt, t5: TokenizedPrompt)?
        if request.usesTrueCFG, let negativePrompt = request.negativePrompt {
            let (c, t, _) = try text.tokenize(negativePrompt, maxSequenceLength: request.maxSequenceLength)
            negativeTokens = (c, t)
        }
        timings.tokenize = clock.lap()
        let pooled = try text.clipEncoder.encode(clipTokens.ids).pooled
        let promptEmbeds = try text.t5Encoder.encode(t5Tokens.ids)
        let negative = try negativeTokens.map {
            TrueCFG.Negative(promptEmbeds: try text.t5Encoder.encode($0.t5.ids), pooled: try text.clipEncoder.encode($0.clip.ids).pooled,
                             scale: request.trueCFGScale)
        }
        timings.encode = clock.lap()
        let sampled = try sampler.sample(promptEmbeds: promptEmbeds, pooled: pooled,
                                         seed: request.seed, steps: request.steps, width: request.width,
                                         height: request.height, guidance: request.guidance, negative: negative,
                                         onStep: onStep)
        timings.denoiseSteps = sampled.stepSeconds
        _ = clock.lap()
        let decoded = try vae.decode(vaeInput(sampled))
        timings.vaeDecode = clock.lap()
        let rgb = try ImagePostprocess.toRGB8(decoded, index: 0)
        let png = try PNGWriter.encodeRGB(rgb, width: decoded.shape[3], height: decoded.shape[2])
        timings.pngEncode = clock.lap()
        return Result(png: png, width: decoded.shape[3], height: decoded.shape[2], finalLatents: sampled.packed,
                      timings: timings, warnings: warnings)
    }

    /// Unpacked latents / scaling_factor + shift_factor, as FluxPipeline hands them to `vae.decode`.
    public func vaeInput(_ sampled: SampledLatents) -> Tensor {
        var z = sampled.unpacked
        let scaling = Float(vae.config.scalingFactor)
        let shift = Float(vae.config.shiftFactor ?? 0)
        for i in z.storage.indices { z.storage[i] = z.storage[i] / scaling + shift }
        return z
    }
}

/// Wall-clock laps for phase timings.
struct PhaseClock {
    private var last = DispatchTime.now().uptimeNanoseconds
    mutating func lap() -> Double {
        let now = DispatchTime.now().uptimeNanoseconds
        defer { last = now }
        return Double(now - last) / 1e9
    }
}
