import Foundation

/// The small files of a FluxPipeline folder that a single-file checkpoint does not carry but its variant
/// determines: `model_index.json`, `scheduler/scheduler_config.json` and `generation_defaults.json`.
public enum FluxPipelineFiles {
    /// FLUX.1-dev (a guidance embedder) or FLUX.1-schnell (none, timestep-distilled).
    public enum Variant: String, Sendable {
        case dev, schnell

        public init(guidanceEmbeds: Bool) { self = guidanceEmbeds ? .dev : .schnell }
    }

    /// model_index.json as FLUX.1-dev and FLUX.1-schnell list their components.
    public static let modelIndex = ConfigJSON.object([
        "_class_name": .string("FluxPipeline"),
        "feature_extractor": .array([.null, .null]),
        "image_encoder": .array([.null, .null]),
        "scheduler": .array([.string("diffusers"), .string("FlowMatchEulerDiscreteScheduler")]),
        "text_encoder": .array([.string("transformers"), .string("CLIPTextModel")]),
        "text_encoder_2": .array([.string("transformers"), .string("T5EncoderModel")]),
        "tokenizer": .array([.string("transformers"), .string("CLIPTokenizer")]),
        "tokenizer_2": .array([.string("transformers"), .string("T5TokenizerFast")]),
        "transformer": .array([.string("diffusers"), .string("FluxTransformer2DModel")]),
        "vae": .array([.string("diffusers"), .string("AutoencoderKL")]),
    ])

    /// The released scheduler configs: dev shifts the schedule with the image size (μ from 0.5 to 1.15 over 256…4096
    /// tokens), schnell uses the plain schedule (shift 1, no dynamic shifting). Every key diffusers writes.
    public static func schedulerConfig(_ v: Variant) -> ConfigJSON {
        .object([
            "_class_name": .string("FlowMatchEulerDiscreteScheduler"),
            "base_image_seq_len": .int(256), "base_shift": .double(0.5), "invert_sigmas": .bool(false),
            "max_image_seq_len": .int(4096), "max_shift": .double(1.15), "num_train_timesteps": .int(1000),
            "shift": .double(v == .dev ? 3.0 : 1.0), "shift_terminal": .null, "stochastic_sampling": .bool(false),
            "time_shift_type": .string("exponential"), "use_beta_sigmas": .bool(false),
            "use_dynamic_shifting": .bool(v == .dev), "use_exponential_sigmas": .bool(false),
            "use_karras_sigmas": .bool(false),
        ])
    }

    /// What each variant is meant to be run with: FluxPipeline's defaults for dev (1024², 28 steps, guidance 3.5),
    /// the FLUX.1-schnell model card's for schnell (1024², 4 steps; guidance 0, which schnell ignores having no
    /// guidance embedder).
    public static func generationDefaults(_ v: Variant) -> ConfigJSON {
        .object([
            "width": .int(1024), "height": .int(1024),
            "num_inference_steps": .int(v == .dev ? 28 : 4),
            "guidance_scale": .double(v == .dev ? 3.5 : 0.0),
        ])
    }
}
