import FluxModel
import Foundation
import JobModel

/// A generator that answers every request with the same tiny image (16×16), so that `ternflux bench pipeline`
/// and the queue/database tests measure the job path alone, not the model.
public struct FixedImageGenerator: ImageGenerator {
    public let modelNames: [String]
    let image: RGBImage
    /// Time each generation pretends to take (to exercise pause/poll/resume and timeouts in tests).
    let delaySeconds: Double

    public init(modelNames: [String] = ["default"], delaySeconds: Double = 0) throws {
        self.modelNames = modelNames
        self.delaySeconds = delaySeconds
        var pixels = [UInt8](repeating: 0, count: 16 * 16 * 3)
        for i in 0..<(16 * 16) { pixels[3 * i] = UInt8(i % 256); pixels[3 * i + 1] = 128; pixels[3 * i + 2] = UInt8(255 - i % 256) }
        image = RGBImage(width: 16, height: 16, rgb: pixels)
    }

    /// What a model trained like the shipped ones would default to; the fixed image ignores them.
    public var defaults: JobSettings {
        JobSettings(width: 128, height: 128, steps: 8, guidance: 3.5, negativePrompt: "", trueCFGScale: 1.5)
    }

    public func generate(_ request: JobParameters, cancellation: JobCancellation) throws -> GeneratedImage {
        let end = Date().addingTimeInterval(delaySeconds)
        while Date() < end {
            if cancellation.isCancelled { throw GenerationCancelled(reason: "cancelled while generating") }
            usleep(5_000)
        }
        return GeneratedImage(image: image)
    }
}
