import Foundation
import TernaryTensors

/// diffusers' FluxPipeline for one prompt: text conditioning (CLIP pooled + T5 sequence), the flow-match
/// denoising loop on packed latents, unpacking, z / scaling_factor + shift_factor, the VAE decoder and 8-bit
/// RGB pixels (`output_type="pil"`), with the wall time of every phase. Encoding the pixels (PNG) is the caller's.
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

    /// Seconds per phase of one generation; the one timing type of a generation (the worker records it, adding
    /// the PNG encode and store it does itself).
    public struct Timings: Sendable, Equatable, Codable {
        /// CLIP and T5 tokenization (of the negative prompt too).
        public var tokenize: Double = 0
        /// Both text encoders (on the negative prompt too).
        public var encode: Double = 0
        public var denoiseSteps: [Double] = []
        /// The VAE decoder and the conversion of its output to 8-bit pixels.
        public var vaeDecode: Double = 0
        public var tokenizeEncode: Double { tokenize + encode }
        public var denoise: Double { denoiseSteps.reduce(0, +) }
        public var total: Double { tokenize + encode + denoise + vaeDecode }

        public init() {}

        enum CodingKeys: String, CodingKey {
            case tokenize = "tokenize_s", encode = "encode_s", denoiseSteps = "denoise_step_s", vaeDecode = "vae_decode_s"
        }
    }

    public struct Result: Sendable {
        public var image: RGBImage
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
    /// On `.cuda(N)` the transformer's ternary linears run on that GPU, the rest on the CPU.
    public init(modelDirectory: URL, mode: ActivationMode = .f32, device: ComputeDevice = .cpu) throws {
        folder = try ModelFolder(url: modelDirectory)
        self.mode = mode
        let transformer = try FluxTransformer(directory: folder.transformerDirectory, mode: mode, device: device)
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

    /// Checks a request without running anything: the one check a request goes through (`generate` makes it
    /// before any weights are used). Each rule is written once, by the part it protects: size, steps and
    /// guidance by `FluxSampler`, the T5 length by `FluxTextConditioner`, the scale by `TrueCFG`.
    public func validate(_ request: Request) throws {
        try sampler.validate(width: request.width, height: request.height, steps: request.steps, guidance: request.guidance)
        try FluxTextConditioner.validate(maxSequenceLength: request.maxSequenceLength)
        try TrueCFG.validate(scale: request.trueCFGScale)
    }

    /// Generates one image. `onStep(i, seconds)` runs after every denoising step; throwing from it stops.
    public func generate(_ request: Request, onStep: ((Int, Double) throws -> Void)? = nil) throws -> Result {
        try validate(request)
        var timings = Timings()
        let conditioning = try text.condition(request.prompt, negativePrompt: request.usesTrueCFG ? request.negativePrompt : nil,
                                              maxSequenceLength: request.maxSequenceLength)
        timings.tokenize = conditioning.tokenizeSeconds
        timings.encode = conditioning.encodeSeconds
        let negative = conditioning.negative.map {
            TrueCFG.Negative(promptEmbeds: $0.promptEmbeds, pooled: $0.pooled, scale: request.trueCFGScale)
        }
        let sampled = try sampler.run(promptEmbeds: conditioning.prompt.promptEmbeds, pooled: conditioning.prompt.pooled,
                                      seed: request.seed, steps: request.steps, width: request.width,
                                      height: request.height, guidance: request.guidance, negative: negative,
                                      onStep: onStep)
        timings.denoiseSteps = sampled.stepSeconds
        var clock = PhaseClock()
        let decoded = try vae.decode(vaeInput(sampled))
        let image = try ImagePostprocess.image(decoded, index: 0)
        timings.vaeDecode = clock.lap()
        return Result(image: image, finalLatents: sampled.packed, timings: timings, warnings: conditioning.prompt.warnings)
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
