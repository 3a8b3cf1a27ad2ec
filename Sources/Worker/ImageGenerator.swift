import Foundation
import JobQueue

/// What one job asks the model for.
public struct GenerationRequest: Sendable, Equatable {
    public var prompt: String
    public var seed: Int64
    public var width: Int
    public var height: Int
    public var steps: Int
    public var guidance: Double
    public var model: String

    public init(prompt: String, seed: Int64, width: Int, height: Int, steps: Int, guidance: Double, model: String) {
        self.prompt = prompt
        self.seed = seed
        self.width = width
        self.height = height
        self.steps = steps
        self.guidance = guidance
        self.model = model
    }
}

/// Seconds spent in each phase of one generation (the worker adds queue wait, store and total).
public struct GenerationTimings: Sendable, Equatable {
    public var tokenizeEncode: Double
    public var denoiseSteps: [Double]
    public var vaeDecode: Double
    public var pngEncode: Double

    public init(tokenizeEncode: Double = 0, denoiseSteps: [Double] = [], vaeDecode: Double = 0, pngEncode: Double = 0) {
        self.tokenizeEncode = tokenizeEncode
        self.denoiseSteps = denoiseSteps
        self.vaeDecode = vaeDecode
        self.pngEncode = pngEncode
    }

    public var denoiseTotal: Double { denoiseSteps.reduce(0, +) }
}

public struct GeneratedImage: Sendable {
    public var png: [UInt8]
    public var timings: GenerationTimings

    public init(png: [UInt8], timings: GenerationTimings) {
        self.png = png
        self.timings = timings
    }
}

public struct GenerationCancelled: Error, CustomStringConvertible {
    public let reason: String
    public init(reason: String) { self.reason = reason }
    public var description: String { "generation stopped: \(reason)" }
}

/// Turns a request into a PNG. The worker owns one, loaded once at start. `cancellation` is set when the
/// job passes its time limit or the worker must give it back; generators check it between denoising steps.
public protocol ImageGenerator: Sendable {
    /// Model names this generator answers to (`default` and the folder's name, for instance).
    var modelNames: [String] { get }
    func generate(_ request: GenerationRequest, cancellation: JobCancellation) throws -> GeneratedImage
}
