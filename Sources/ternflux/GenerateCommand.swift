import ArgumentParser
import Foundation
import FluxModel
import JobModel
import TernaryTensors
import Worker

/// `ternflux generate`: one image from one prompt, as diffusers' FluxPipeline would make it.
struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate one PNG from a prompt with a FLUX-architecture model folder.",
        discussion: """
            The model folder is --model, else $TERNFLUX_MODEL, else models/default under the current directory. \
            Width, height, steps, guidance and classifier-free guidance default to the model's own (its \
            generation_defaults.json; 512×512, 28 steps, 3.5 and none without one). Width and height must be multiples of 16 (2 × the VAE's downscale).
            """)

    @Argument(help: "The prompt.") var prompt: String
    @Option(help: "Model folder (diffusers layout).") var model: String?
    @Option(help: "Seed of the initial noise (CPU torch.Generator semantics).") var seed: UInt64 = 0
    @Option(help: "Denoising steps (default: the model's).") var steps: Int?
    @Option(help: "Image width in pixels (default: the model's).") var width: Int?
    @Option(help: "Image height in pixels (default: the model's).") var height: Int?
    @Option(help: "Guidance scale, embedded when the model has a guidance embedder (default: the model's).") var guidance: Double?
    @Option(name: .customLong("max-sequence-length"), help: "T5 tokens (default: the model's tokenizer_2 model_max_length when below 512, else 512).")
    var maxSequenceLength: Int?
    @Option(help: "Output PNG file.") var out = "out.png"
    @OptionGroup var activation: ActivationModeOption
    @OptionGroup var deviceOption: DeviceOption
    @Flag(help: "Print the time of every phase on stderr.") var timings = false
    @OptionGroup var trueCFG: TrueCFGOptions

    /// The bounds of a job (JobLimits) hold here too: what a worker would refuse, generate refuses, before the
    /// model folder is even looked at.
    func validate() throws {
        let given = JobParameters(prompt: prompt, seed: Int64(clamping: seed), width: width, height: height, steps: steps,
                                  guidance: guidance, model: JobSettings.defaultModel)
        try Self.check(given, seed: seed)
    }

    static func check(_ job: JobParameters, seed: UInt64) throws {
        var problems = JobLimits.standard.problems(of: job).map {
            ($0.field == "prompt" ? "the prompt" : "--" + $0.field.replacingOccurrences(of: "_", with: "-")) + ": \($0.message)"
        }
        if seed > UInt64(Int64.max) { problems.insert("--seed: must be between 0 and \(Int64.max) (got \(seed))", at: 0) }
        if !problems.isEmpty { throw ValidationError(problems.joined(separator: "\n")) }
    }

    func run() throws {
        let folder = try ModelFolder.resolve(flag: model)
        let defaults = try GenerationDefaults.load(modelDirectory: folder)
        // The model's defaults are checked too, so a default out of bounds is named.
        let job = JobParameters(prompt: prompt, seed: Int64(clamping: seed), width: width ?? defaults.width,
                                height: height ?? defaults.height, steps: steps ?? defaults.steps,
                                guidance: guidance ?? Double(defaults.guidance), model: JobSettings.defaultModel)
        try Self.check(job, seed: seed)
        var request = FluxPipeline.Request(prompt: prompt, seed: seed, steps: job.steps!, width: job.width!, height: job.height!,
                                           guidance: Float(job.guidance!))
        trueCFG.apply(to: &request, defaults: defaults)
        var clock = Date()
        let device = try deviceOption.resolve(mode: activation.mode)
        let pipeline = try FluxPipeline(modelDirectory: folder, mode: activation.mode, device: device)
        pipeline.transformer.reportPlacement()
        request.maxSequenceLength = maxSequenceLength ?? pipeline.defaultMaxSequenceLength
        let loadSeconds = Date().timeIntervalSince(clock)
        clock = Date()
        let steps = request.steps
        // generate checks the request before it uses any weights.
        let result = try pipeline.generate(request) { step, seconds in
            if timings { FluxStderr.line(String(format: "denoise step %d/%d: %.3f s", step + 1, steps, seconds)) }
        }
        for warning in result.warnings { FluxStderr.line("warning: \(warning)") }
        let encodeStart = Date()
        // The same metadata a worker writes, without a job or batch.
        let metadata = GenerationMetadata(
            jobID: nil, batchID: nil,
            parameters: JobParameters(prompt: prompt, seed: Int64(clamping: seed), width: request.width, height: request.height,
                                      steps: request.steps, guidance: Double(request.guidance), model: folder.standardizedFileURL.lastPathComponent,
                                      negativePrompt: request.negativePrompt, trueCFGScale: Double(request.trueCFGScale)),
            modelSHA256: try FluxImageGenerator.transformerDigest(folder.appendingPathComponent("transformer")),
            ternfluxVersion: WorkerVersion.current)
        let png = try result.image.png(text: try metadata.textChunks().map { PNGTextChunk(keyword: $0.keyword, text: $0.text) })
        let pngSeconds = Date().timeIntervalSince(encodeStart)
        let url = URL(fileURLWithPath: out)
        do {
            try Data(png).write(to: url)
        } catch {
            throw FluxCommandError("cannot write \(url.path): \(error.localizedDescription)")
        }
        if timings {
            let t = result.timings
            FluxStderr.line(String(format: "load %.3f s | tokenize %.3f s | encode %.3f s | denoise %.3f s (%d steps) | vae decode %.3f s | png %.3f s | total %.3f s",
                          loadSeconds, t.tokenize, t.encode, t.denoise, t.denoiseSteps.count, t.vaeDecode, pngSeconds,
                          Date().timeIntervalSince(clock)))
        }
        print(url.path)
    }
}

enum FluxStderr {
    static func line(_ text: String) { FileHandle.standardError.write(Data((text + "\n").utf8)) }
}
