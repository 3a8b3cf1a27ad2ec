import FluxModel
import Foundation
import JobModel

/// One generated image: its pixels and the seconds of each pipeline phase (the worker adds the PNG encode,
/// store, queue wait and total, and records them in milliseconds as `JobTimings`).
public struct GeneratedImage: Sendable {
    public var image: RGBImage
    public var timings: FluxPipeline.Timings

    public init(image: RGBImage, timings: FluxPipeline.Timings = .init()) {
        self.image = image
        self.timings = timings
    }
}

/// A generation stopped because its `JobCancellation` was set (time limit, shutdown), with how far it had got.
public struct GenerationCancelled: Error, CustomStringConvertible {
    public let reason: String
    public let stepsDone: Int?
    public let totalSteps: Int?

    public init(reason: String, stepsDone: Int? = nil, totalSteps: Int? = nil) {
        self.reason = reason
        self.stepsDone = stepsDone
        self.totalSteps = totalSteps
    }

    public var description: String { "generation stopped: \(reason)" }
}

/// Turns a job's parameters into pixels. The worker owns one, loaded once at start. `cancellation` is set when the
/// job passes its time limit or the worker must give it back; generators check it between denoising steps.
public protocol ImageGenerator: Sendable {
    /// Model names this generator answers to (`default` and the folder's name, for instance).
    var modelNames: [String] { get }
    /// The width, height, steps and guidance of a job that leaves them unset (the model's own).
    var defaults: JobSettings { get }
    /// SHA-256 of the weights that decide the image (the transformer's), written into every PNG's metadata;
    /// nil for a generator without weights.
    var modelSHA256: String? { get }
    func generate(_ request: JobParameters, cancellation: JobCancellation) throws -> GeneratedImage
}

extension ImageGenerator {
    public var modelSHA256: String? { nil }
}
