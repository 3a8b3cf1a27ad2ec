import FluxModel
import Foundation
import JobModel
import TernaryTensors

/// The model-backed generator: one FluxPipeline loaded at start (weights memory-mapped, so the worker
/// processes of a node share one copy), answering to `default` and the model folder's name.
public final class FluxImageGenerator: ImageGenerator, @unchecked Sendable {
    public let modelNames: [String]
    public let pipeline: FluxPipeline
    /// T5 sequence length used for every job (FluxPipeline's max_sequence_length).
    let maxSequenceLength: Int
    public let modelSHA256: String?

    /// `maxSequenceLength` nil: the model's own default (`FluxPipeline.defaultMaxSequenceLength`).
    public init(modelDirectory: URL, mode: ActivationMode, device: ComputeDevice = .cpu, extraNames: [String] = [],
                maxSequenceLength: Int? = nil) throws {
        pipeline = try FluxPipeline(modelDirectory: modelDirectory, mode: mode, device: device)
        let folderName = modelDirectory.standardizedFileURL.lastPathComponent
        var names = extraNames.isEmpty ? ["default", folderName] : extraNames
        names = names.reduce(into: []) { if !$0.contains($1) { $0.append($1) } }
        modelNames = names
        self.maxSequenceLength = maxSequenceLength ?? pipeline.defaultMaxSequenceLength
        modelSHA256 = try Self.transformerDigest(ModelFolder(url: modelDirectory).transformerDirectory)
    }

    /// The SHA-256 of the transformer's weights: of its one `.safetensors` file (what `sha256sum` prints), or,
    /// for a sharded checkpoint, of the lines `NAME DIGEST` of its shards in name order.
    public static func transformerDigest(_ directory: URL) throws -> String {
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".safetensors") }.sorted()
        let digests = try files.map { try SHA256.hexDigest(ofFileAt: directory.appendingPathComponent($0).path) }
        if digests.count == 1 { return digests[0] }
        return SHA256.hexDigest(Array(zip(files, digests).map { "\($0) \($1)\n" }.joined().utf8))
    }

    public var defaults: JobSettings {
        let d = pipeline.generationDefaults
        return JobSettings(width: d.width, height: d.height, steps: d.steps, guidance: Double(d.guidance),
                           negativePrompt: d.negativePrompt, trueCFGScale: Double(d.trueCFGScale))
    }

    /// The one place a job's parameters become a pipeline request.
    public func generate(_ job: JobParameters, cancellation: JobCancellation) throws -> GeneratedImage {
        let p = job.filling(from: defaults)
        var r = FluxPipeline.Request(prompt: p.prompt, seed: UInt64(p.seed ?? 0), steps: p.steps!,
                                     width: p.width!, height: p.height!, guidance: Float(p.guidance!))
        r.maxSequenceLength = maxSequenceLength
        // Classifier-free guidance as FluxPipeline's: it runs when the scale is above 1 and there is a negative
        // prompt (the job's, else the model's; a model without one and a job without one: none).
        r.negativePrompt = p.negativePrompt
        r.trueCFGScale = Float(p.trueCFGScale!)
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
