/// Everything a job asks for besides its prompt. Every field may be left unset (nil) and then takes the
/// next layer's value: a batch line's unset fields take the batch's (the `submit` flags), a batch's unset
/// seed is derived from the batch id and the line (`derivedSeed`), its unset model is `default`, and width,
/// height, steps, guidance, negative prompt and true CFG scale still unset when a worker claims the job take
/// that worker's model defaults (its generation_defaults.json), which the claim writes into the job's row.
public struct JobSettings: Sendable, Equatable, Hashable, Codable {
    public var seed: Int64?
    public var width: Int?
    public var height: Int?
    public var steps: Int?
    /// The guidance embedded in a guidance-distilled model (FLUX.1-dev's `guidance_scale`).
    public var guidance: Double?
    public var model: String?
    /// Classifier-free guidance: the prompt to steer away from (FluxPipeline's `negative_prompt`; empty is the
    /// empty prompt) and how hard (`true_cfg_scale`; 1 is none).
    public var negativePrompt: String?
    public var trueCFGScale: Double?

    public init(seed: Int64? = nil, width: Int? = nil, height: Int? = nil, steps: Int? = nil,
                guidance: Double? = nil, model: String? = nil, negativePrompt: String? = nil, trueCFGScale: Double? = nil) {
        self.seed = seed
        self.width = width
        self.height = height
        self.steps = steps
        self.guidance = guidance
        self.model = model
        self.negativePrompt = negativePrompt
        self.trueCFGScale = trueCFGScale
    }

    /// The model a job names when it names none.
    public static let defaultModel = "default"

    /// These settings with every unset field taken from `fallback`.
    public func filling(from fallback: JobSettings) -> JobSettings {
        JobSettings(seed: seed ?? fallback.seed, width: width ?? fallback.width, height: height ?? fallback.height,
                    steps: steps ?? fallback.steps, guidance: guidance ?? fallback.guidance, model: model ?? fallback.model,
                    negativePrompt: negativePrompt ?? fallback.negativePrompt, trueCFGScale: trueCFGScale ?? fallback.trueCFGScale)
    }
}

/// What one job generates: its prompt and its settings. The one declaration of a job's fields: a batch line,
/// the Kafka job record (`JobMessage` wraps it), a job's row and the worker's generation request all hold or
/// are built from this. `parameters.width` reads `parameters.settings.width`.
@dynamicMemberLookup
public struct JobParameters: Sendable, Equatable, Hashable, Codable {
    public var prompt: String
    public var settings: JobSettings

    public init(prompt: String, settings: JobSettings = JobSettings()) {
        self.prompt = prompt
        self.settings = settings
    }

    public init(prompt: String, seed: Int64? = nil, width: Int? = nil, height: Int? = nil, steps: Int? = nil,
                guidance: Double? = nil, model: String? = nil, negativePrompt: String? = nil, trueCFGScale: Double? = nil) {
        self.init(prompt: prompt, settings: JobSettings(seed: seed, width: width, height: height, steps: steps,
                                                         guidance: guidance, model: model, negativePrompt: negativePrompt,
                                                         trueCFGScale: trueCFGScale))
    }

    public subscript<T>(dynamicMember field: WritableKeyPath<JobSettings, T>) -> T {
        get { settings[keyPath: field] }
        set { settings[keyPath: field] = newValue }
    }

    /// These parameters with every unset setting taken from `fallback`.
    public func filling(from fallback: JobSettings) -> JobParameters {
        JobParameters(prompt: prompt, settings: settings.filling(from: fallback))
    }

    /// The names of a job's fields as batch lines (JSONL keys, CSV columns) and job records spell them, in
    /// this order: the one list of them (a field added to the job is added here). `ternflux submit` refuses
    /// any other field in a batch file unless told to allow unknown fields; a job record may carry other
    /// fields, its envelope's among them.
    public static let fieldNames: [String] = ["prompt", "seed", "width", "height", "steps", "guidance", "model",
                                             "negative_prompt", "true_cfg_scale", "images"]
}
