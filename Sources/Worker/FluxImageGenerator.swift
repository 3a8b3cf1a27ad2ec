import FluxModel
import Foundation
import JobModel
import TernaryTensors

/// The model-backed generator: one FluxPipeline loaded at start (weights memory-mapped, so the worker
/// processes of a node share one copy), answering to `default` and the model folder's name.
public final class FluxImageGenerator: ImageGenerator, @unchecked Sendable {
    public let modelNames: [String]
    let pipeline: FluxPipeline
    /// T5 sequence length used for every job (FluxPipeline's max_sequence_length).
    let maxSequenceLength: Int

    /// `maxSequenceLength` nil: the model's own default (`FluxPipeline.defaultMaxSequenceLength`).
    public init(modelDirectory: URL, mode: ActivationMode, extraNames: [String] = [], maxSequenceLength: Int? = nil) throws {
        pipeline = try FluxPipeline(modelDirectory: modelDirectory, mode: mode)
        let folderName = modelDirectory.standardizedFileURL.lastPathComponent
        var names = extraNames.isEmpty ? ["default", folderName] : extraNames
        names = names.reduce(into: []) { if !$0.contains($1) { $0.append($1) } }
        modelNames = names
        self.maxSequenceLength = maxSequenceLength ?? pipeline.defaultMaxSequenceLength
    }

    public var defaults: JobSettings {
        let d = pipeline.generationDefaults
        return JobSettings(width: d.width, height: d.height, steps: d.steps, guidance: Double(d.guidance))
    }

    /// The one place a job's parameters become a pipeline request.
    public func generate(_ job: JobParameters, cancellation: JobCancellation) throws -> GeneratedImage {
        let p = job.filling(from: defaults)
        var r = FluxPipeline.Request(prompt: p.prompt, seed: UInt64(p.seed ?? 0), steps: p.steps!,
                                     width: p.width!, height: p.height!, guidance: Float(p.guidance!))
        r.maxSequenceLength = maxSequenceLength
        // A job names size, steps and guidance; classifier-free guidance is the model's (generation_defaults.json).
        pipeline.generationDefaults.applyGuidance(to: &r)
        let steps = r.steps
        let result = try pipeline.generate(r) { step, _ in
            cancellation.reportProgress(stepsDone: step + 1, totalSteps: steps)
            if cancellation.isCancelled {
                throw GenerationCancelled(reason: "stopped after step \(step + 1) of \(steps)", stepsDone: step + 1, totalSteps: steps)
            }
        }
        return GeneratedImage(image: result.image, timings: result.timings)
    }
}
