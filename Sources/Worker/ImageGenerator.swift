import Foundation
import JobModel

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

/// Turns a job's parameters into a PNG. The worker owns one, loaded once at start. `cancellation` is set when the
/// job passes its time limit or the worker must give it back; generators check it between denoising steps.
public protocol ImageGenerator: Sendable {
    /// Model names this generator answers to (`default` and the folder's name, for instance).
    var modelNames: [String] { get }
    /// The width, height, steps and guidance of a job that leaves them unset (the model's own).
    var defaults: JobSettings { get }
    func generate(_ request: JobParameters, cancellation: JobCancellation) throws -> GeneratedImage
}
