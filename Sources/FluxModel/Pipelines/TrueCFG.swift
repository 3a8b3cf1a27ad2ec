import TernaryTensors

/// FluxPipeline's "true" classifier-free guidance: with `true_cfg_scale` > 1 and a negative prompt, every step
/// runs the transformer twice, on the prompt and on the negative prompt, and steps with
/// `neg + true_cfg_scale · (cond − neg)`. (FLUX.1-dev's `guidance_scale` is something else: a number embedded
/// into the transformer, used only by models with a guidance embedder.)
public enum TrueCFG {
    /// Accepted scales; 1 means no guidance (one transformer call per step).
    public static let scaleRange: ClosedRange<Float> = 1...50

    /// The text conditioning of the negative prompt.
    public struct Negative: Sendable {
        public let promptEmbeds: Tensor
        public let pooled: Tensor
        public let scale: Float

        public init(promptEmbeds: Tensor, pooled: Tensor, scale: Float) {
            self.promptEmbeds = promptEmbeds
            self.pooled = pooled
            self.scale = scale
        }
    }

    /// `cond ← neg + scale · (cond − neg)`, element by element in fp32, as diffusers computes it.
    static func combine(_ cond: inout Tensor, negative: Tensor, scale: Float) {
        precondition(cond.shape == negative.shape, "guided velocities must have one shape")
        cond.storage.withUnsafeMutableBufferPointer { c in
            negative.storage.withUnsafeBufferPointer { n in
                for i in c.indices { c[i] = n[i] + scale * (c[i] - n[i]) }
            }
        }
    }

    /// Whether `scale` is a usable true_cfg_scale (finite, within `scaleRange`): the one rule the request, the
    /// model's generation_defaults.json and the command-line flag are checked by.
    public static func accepts(_ scale: Float) -> Bool { scale.isFinite && scaleRange.contains(scale) }

    public static func validate(scale: Float) throws {
        guard accepts(scale) else {
            throw FluxPipelineError.invalidRequest("true_cfg_scale must be a number from \(scaleRange.lowerBound) to "
                + "\(scaleRange.upperBound) (1: no classifier-free guidance), got \(scale)")
        }
    }
}
