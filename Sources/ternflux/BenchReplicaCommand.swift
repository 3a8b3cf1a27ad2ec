import ArgumentParser
import Foundation
import FluxModel
import TernaryTensors

/// One replica for `ternflux bench density`: loads a model the way a worker does (weights memory-mapped), runs
/// one generation (a model folder) or one denoising step (a bare transformer folder), prints one JSON line with
/// its figures and then holds everything in memory until its stdin is closed.
struct BenchReplicaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replica",
        abstract: "One density replica: load a model, run once, print one JSON line, wait until stdin closes.")

    @Option(help: "A model folder (diffusers layout: the whole pipeline runs) or a transformer folder (one denoising step with random text embeddings).")
    var model: String
    @OptionGroup var activation: ActivationModeOption
    @OptionGroup var deviceOption: DeviceOption
    @Option(help: "Image width (pixels).") var width = 128
    @Option(help: "Image height (pixels).") var height = 128
    @Option(help: "Denoising steps.") var steps = 1
    @Option(name: .customLong("t5-length"), help: "Text tokens (a model folder uses its own default).") var t5Length = 32
    @Option(help: "Prompt (model folders).") var prompt = "a red circle to the left of a blue square"
    @Flag(help: "Exit after printing instead of waiting for stdin to close.") var noHold = false

    func run() throws {
        let url = URL(fileURLWithPath: model)
        let start = Date()
        var figures: [String: Double] = ["pid": Double(getpid())]
        let keepAlive: AnyObject
        let device = try deviceOption.resolve(mode: activation.mode)
        let placed: FluxTransformer
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("model_index.json").path) {
            let pipeline = try FluxPipeline(modelDirectory: url, mode: activation.mode, device: device)
            placed = pipeline.transformer
            figures["load_seconds"] = Date().timeIntervalSince(start)
            var request = FluxPipeline.Request(prompt: prompt, steps: steps, width: width, height: height,
                                               maxSequenceLength: pipeline.defaultMaxSequenceLength)
            pipeline.generationDefaults.applyGuidance(to: &request)
            let result = try pipeline.generate(request)
            // The PNG too, as a worker's job has it.
            let encodeStart = Date()
            _ = try result.image.png()
            figures["run_seconds"] = result.timings.total + Date().timeIntervalSince(encodeStart)
            figures["denoise_seconds"] = result.timings.denoise
            keepAlive = pipeline
        } else {
            let transformer = try FluxTransformer(directory: url, mode: activation.mode, device: device)
            placed = transformer
            figures["load_seconds"] = Date().timeIntervalSince(start)
            var schedulerConfig = FlowMatchEulerDiscreteSchedulerConfig()
            schedulerConfig.useDynamicShifting = true
            let sampler = try FluxSampler(transformer: transformer, scheduler: try FlowMatchEulerDiscreteScheduler(config: schedulerConfig),
                                          vaeScaleFactor: 8)
            var inputs = TorchGenerator(seed: 0)
            let embeds = inputs.randn(shape: [1, t5Length, transformer.config.jointAttentionDim])
            let pooled = inputs.randn(shape: [1, transformer.config.pooledProjectionDim])
            let out = try sampler.sample(promptEmbeds: embeds, pooled: pooled, seed: 0, steps: steps, width: width,
                                         height: height, guidance: 3.5)
            guard out.packed.storage.allSatisfy({ $0.isFinite }) else {
                throw FluxCommandError("the replica's step produced non-finite latents")
            }
            figures["run_seconds"] = out.stepSeconds.reduce(0, +)
            figures["denoise_seconds"] = out.stepSeconds.reduce(0, +)
            keepAlive = transformer
        }
        // On a GPU: the bytes of weights this replica put there, and the device's used memory once it ran.
        if case .cuda(let ordinal) = device {
            figures["device_weight_bytes"] = Double(placed.deviceWeightBytes)
            let memory = try CUDADevice.memory(ordinal)
            figures["device_used_bytes"] = Double(memory.total - memory.free)
        }
        figures["peak_rss_bytes"] = Double(PeakRSS.bytes())
        let data = try JSONSerialization.data(withJSONObject: figures, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
        fflush(stdout)
        if !noHold {
            while readLine() != nil {}
        }
        withExtendedLifetime(keepAlive) {}
    }
}
